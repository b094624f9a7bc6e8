"""Secrets: registered for masking the moment they are read, never shown by accident.

A `Secret` hides its value from `str`, `repr` and formatting; only `reveal()` gives it
out, and only the code that sends it to its registry or signs with it calls that.
Every secret ever wrapped is remembered so that `redact` can scrub any text that is
about to leave the process (terminal output, JSON results, error messages).
"""

from __future__ import annotations

import threading

MASK = "***"
# Values this short are too likely to collide with ordinary text to be scrubbed
# everywhere (a one-letter password would blank every "a" in the log); they are still
# hidden by Secret's repr.
_MIN_REDACT_LENGTH = 3

_lock = threading.Lock()
_known: set[str] = set()


def register(value: str) -> None:
    """Remember `value` so that `redact` removes it from any text."""
    if len(value) >= _MIN_REDACT_LENGTH:
        with _lock:
            _known.add(value)


def known() -> tuple[str, ...]:
    """Every secret registered so far (for a CI's own masking, e.g. GitHub's add-mask)."""
    with _lock:
        return tuple(sorted(_known))


def redact(text: str) -> str:
    """Replace every registered secret in `text` by a mask."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


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
