"""Secrets: registered for masking the moment they are read, never shown by accident.

A `Secret` hides its value from `str`, `repr` and formatting; only `reveal()` gives it
out, and only the code that sends it to its registry or signs with it calls that.
Every secret ever wrapped is remembered so that `redact` can scrub any text that is
about to leave the process (terminal output, JSON results, error messages, files).

A secret rarely leaks as itself: a request URL carries it percent-encoded, a Basic auth
header or a docker auth config carries it inside the base64 of `user:secret`, a JSON
document carries it escaped. `redact` masks each registered value in all of these forms
(see `encoded_forms`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
# Values this short are too likely to collide with ordinary text to be scrubbed
# everywhere (a one-letter password would blank every "a" in the log); they are still
# hidden by Secret's repr, and never handed to a CI as a mask either.
_MIN_REDACT_LENGTH = 3
# A base64 fragment shorter than this is ordinary text too often ("cGFz" is in many a
# digest): a secret at an unaligned offset is masked from 8 characters of base64 on.
_MIN_BASE64_CORE = 8

_lock = threading.Lock()
_known: set[str] = set()
_forms: set[str] = set()
_pattern: re.Pattern[str] | None = None


def maskable(value: str) -> bool:
    """Whether `value` is long enough to be masked: not empty, not trivially short."""
    return len(value.strip()) >= _MIN_REDACT_LENGTH


def register(value: str) -> None:
    """Remember `value` so that `redact` removes it, in every encoded form, from any text."""
    global _pattern
    if not maskable(value):
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        _forms.update(form for form in encoded_forms(value) if maskable(form))
        _pattern = None


def register_url(url: str) -> None:
    """Register what in a URL is a credential: its user or password, and the whole URL
    (with and without its scheme) when a path or query may be a token (Slack-style)."""
    try:
        parts = urlsplit(url)
        password, user, hostname = parts.password, parts.username, parts.hostname
    except ValueError:  # malformed: nothing in it can be told apart from a token
        register(url)
        return
    if password:
        register(password)
    elif user and parts.scheme in ("http", "https"):
        register(user)  # https://<token>@host/ is a common way to pass a token
    if password or user:
        register(url)
    if parts.path.strip("/") or parts.query:
        register(url)
        register(url.partition("://")[2])
        if hostname and hostname in url:
            register(url[url.index(hostname):])  # as quoted without scheme and userinfo


def known() -> tuple[str, ...]:
    """Every secret registered so far (for a CI's own masking, e.g. GitHub's add-mask)."""
    with _lock:
        return tuple(sorted(_known))


def redact(text: str) -> str:
    """Replace every registered secret, in any of its encoded forms, in `text` by a mask."""
    pattern = _compiled()
    if pattern is None:
        return text
    return pattern.sub(MASK, text)


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data) with every registered secret masked in every string, keys
    included. For what becomes JSON: masking the serialised text instead could hit its
    syntax (a secret `tru` inside `true`), and would miss a secret JSON escapes."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def encoded_forms(value: str) -> set[str]:
    """The forms `value` takes in text that leaves: plain; JSON-escaped; percent-encoded
    (`quote` with and without `/`, `quote_plus`; matched with hex digits in either
    case); base64,
    standard and URL-safe, of the value alone and at each of the three byte offsets it
    can have inside a longer string (`user:secret` in a Basic auth header or a docker
    auth config), and of its JSON-escaped form (X-Registry-Auth is base64 of JSON)."""
    texts = {value, *_json_escaped(value)}
    forms = set(texts)
    for text in texts:
        forms.update((quote(text, safe=""), quote(text), quote_plus(text),
                      quote_plus(text, safe="/")))
        for fragment in _base64_fragments(text.encode()):
            forms.add(fragment)
            forms.add(quote(fragment, safe=""))
    return forms


def _json_escaped(value: str) -> set[str]:
    """`value` inside a JSON string, as Python's and Go's encoders write it."""
    python = json.dumps(value)[1:-1]
    unicode = json.dumps(value, ensure_ascii=False)[1:-1]
    go = unicode.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return {python, unicode, go, python.replace("/", "\\/")}


def _base64_fragments(data: bytes) -> set[str]:
    """What base64 of any bytes containing `data` is sure to contain, per offset mod 3.

    At offset k the first group mixes k bytes of what comes before, and the last group
    what comes after: both are dropped, except where `data` ends the encoded bytes,
    whose padded tail is then known too.
    """
    fragments: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        fragments.add(encode(data).decode())  # the value encoded alone
        for offset in range(3):
            encoded = encode(b"\0" * offset + data).decode()
            start = 4 if offset else 0
            whole = (offset + len(data)) // 3 * 4  # groups made of known bytes only
            core = encoded[start:whole]
            tail = encoded[start:]  # `data` at the very end: padding and all
            for fragment in (core, tail, tail.rstrip("=")):
                if len(fragment) >= _MIN_BASE64_CORE:
                    fragments.add(fragment)
    return fragments


_PERCENT = re.compile(r"%([0-9A-F])([0-9A-F])")


def _either_case(escape: re.Match[str]) -> str:
    """`%2F` as a pattern that also matches `%2f`."""
    return "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in escape.groups())


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _forms:
            # Longest first, so that a form is never half-masked by a shorter one.
            alternatives = sorted(_forms, key=lambda form: (-len(form), form))
            _pattern = re.compile("|".join(_PERCENT.sub(_either_case, re.escape(form))
                                           for form in alternatives))
        return _pattern


class Secret:
    """A string that does not show itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)
