"""The config's regular expressions (`type=match` patterns, `match=`), run with bounded work.

A pattern from dockyard.yml can backtrack for hours on a short tag (`^v(a+)+$` against
`vaaa...a!`), and Python's `re` has no timeout and cannot be stopped from another thread.
So the match runs in a child interpreter that is killed after `MATCH_SECONDS`: plain `re`,
the same semantics as everywhere else, and nothing to install. Starting it costs ~15 ms,
paid only by rules that use a regular expression. (The `regex` package's `timeout=` bounds
matching but not compiling, which blows up on nested counted repeats such as
`(?:a{10000}){10000}`; RE2 would change what patterns mean.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

# The child's start (~15 ms, more on a loaded runner) counts too: the bound leaves it room,
# since an ordinary tag pattern matches in microseconds.
MATCH_SECONDS = 2.0
_MEMORY = 512 * 1024 * 1024  # address space for the child: a match needs far less

# -I: no user site, no PYTHON* variables, no current directory on sys.path; -S: no site.
_CHILD = """
import json, re, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
except (ImportError, ValueError, OSError):
    pass
pattern, flags, text, every = json.load(sys.stdin)
regex = re.compile(pattern, flags)
if every:
    found = [m.group(0) for m in regex.finditer(text)]
else:
    match = regex.search(text)
    found = None if match is None else [match.group(0), *match.groups()]
json.dump(found, sys.stdout)
"""


class TooMuchWork(Exception):
    """The pattern did not finish matching within the bounds."""


def search(regex: re.Pattern[str], text: str, *, every: bool = False) -> list[str | None] | None:
    """The first match's whole text and groups, or (`every`) each match's whole text;
    None when nothing matches. Raises TooMuchWork past MATCH_SECONDS."""
    request = json.dumps([regex.pattern, int(regex.flags), text, every])
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _CHILD.replace("MEMORY", str(_MEMORY))],
            input=request, capture_output=True, text=True, timeout=MATCH_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise TooMuchWork(f"took more than {MATCH_SECONDS:g} s") from None
    if done.returncode != 0:  # out of memory, or the recursion limit
        raise TooMuchWork("needed more memory than a match may take")
    found: list[str | None] | None = json.loads(done.stdout)
    return found
