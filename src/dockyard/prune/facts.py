"""What prune knows beyond the registry, from flags, the CI's variables and the
checkout: the branches that exist, the open pull requests, the git tags; and whether it
deletes (`--apply`, `DOCKYARD_APPLY`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from dockyard.errors import InputError
from dockyard.git import NoGit, read_refs
from dockyard.prune.decide import Facts

BRANCHES_VARIABLE = "DOCKYARD_BRANCHES"
OPEN_PRS_VARIABLE = "DOCKYARD_OPEN_PRS"
APPLY_VARIABLE = "DOCKYARD_APPLY"
# An empty variable is a CI input that was not given (unknown, so pull request tags are
# kept); `none` is what says, through a variable, that no pull request is open.
NO_OPEN_PRS = "none"
_SEPARATORS = re.compile(r"[\s,]+")


def gather_facts(env: Mapping[str, str], workdir: Path, now: datetime, *,
                 branches: str | None = None, open_prs: str | None = None,
                 force: bool = False) -> tuple[Facts, list[str]]:
    """The facts, and notes on what is not known (and so kept)."""
    notes: list[str] = []
    given = branches if branches is not None else env.get(BRANCHES_VARIABLE) or None
    refs = read_refs(workdir)
    known_branches: frozenset[str] | None = None
    git_tags: frozenset[str] | None = None
    if given is not None:
        known_branches = frozenset(_items(given))
        if not known_branches:  # the default branch exists: an empty list is a mistake
            where = "--branches" if branches is not None else BRANCHES_VARIABLE
            raise InputError(f"{where} names no branch; every branch tag would go",
                             hint="give the branches that exist (at least the default "
                                  "branch), or leave it out to keep branch tags")
    if isinstance(refs, NoGit):
        if known_branches is None:
            notes.append(f"the branches are unknown (no checkout): branch tags are kept; "
                         f"give --branches or {BRANCHES_VARIABLE}")
    elif refs.remote is not None:
        # origin's own list is the whole truth; the checkout's branches and tags are
        # added (a branch or tag not pushed yet only keeps more)
        if known_branches is None:
            known_branches = refs.remote.branches | refs.branches
        git_tags = refs.remote.tags | refs.tags
    elif refs.remote_error is not None:
        if known_branches is None:
            notes.append(f"the branches are unknown ({refs.remote_error}): branch tags are "
                         f"kept; give --branches or {BRANCHES_VARIABLE}")
        notes.append("the git tags are unknown: tags that `type=ref,event=tag` may have "
                     "given are kept")
    elif refs.shallow:  # no origin: the checkout is the repository, unless it is shallow
        if known_branches is None:
            notes.append(f"the branches are unknown (a shallow clone): branch tags are "
                         f"kept; give --branches or {BRANCHES_VARIABLE}")
    else:
        if known_branches is None:
            known_branches = refs.branches
        git_tags = refs.tags
    text = open_prs if open_prs is not None else env.get(OPEN_PRS_VARIABLE) or None
    prs: frozenset[int] | None = None
    if text is not None:
        where = "--open-prs" if open_prs is not None else OPEN_PRS_VARIABLE
        numbers = []
        items = _items(text)
        if [item.lower() for item in items] == [NO_OPEN_PRS]:
            items = []
        for item in items:
            number = item.removeprefix("#")
            if not (number.isascii() and number.isdigit()):
                raise InputError(f"{where}: '{item}' is not a pull request number",
                                 hint="give the open pull requests' numbers, e.g. 12,15")
            numbers.append(int(number))
        prs = frozenset(numbers)
    return Facts(now=now, branches=known_branches, open_prs=prs, git_tags=git_tags,
                 force=force), notes


def read_apply(env: Mapping[str, str], flag: bool | None = None) -> bool:
    """Whether prune deletes: the flag (`--apply`, `--dry-run`), else DOCKYARD_APPLY (a CI
    wrapper's `apply` input; empty counts as unset), else a dry run."""
    if flag is not None:
        return flag
    text = (env.get(APPLY_VARIABLE) or "").strip()
    if text.lower() not in ("", "true", "false", "1", "0"):
        raise InputError(f"{APPLY_VARIABLE}: '{text}' is not true or false; nothing was "
                         "read or deleted",
                         hint="set it to true to delete, or false (or leave it empty) for a "
                              "dry run")
    return text.lower() in ("true", "1")


def _items(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text.strip()) if item]
