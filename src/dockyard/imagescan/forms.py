"""What the scan looks for: every form a registered secret takes in an image.

A secret is searched for in the forms of `secrets.encoded_forms` (percent-escapes in
either case too), plus hex; values shorter than `MIN_SECRET_LENGTH` are left out (and
counted, for the report), and a form that holds a shorter one is dropped, since whatever
holds it holds the shorter too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dockyard import secrets

# A secret shorter than this is too likely to occur by chance in 100 MB of binaries (and
# would refuse pushes for nothing); such values are left out, and the report says so.
MIN_SECRET_LENGTH = 8
_ESCAPE = re.compile(r"%[0-9A-F]{2}")


@dataclass(frozen=True)
class Needles:
    """The byte strings to look for: every form of every registered secret, none of them
    containing another (whatever holds the longer holds the shorter too)."""

    forms: tuple[bytes, ...] = ()
    too_short: int = 0  # registered secrets left out for being shorter than the minimum

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def window(self) -> int:
        """How many bytes of one read must be kept for the next: a form that starts in
        one read and ends in the next is found."""
        return max((len(form) for form in self.forms), default=1) - 1

    def search(self, data: bytes, start: int = 0) -> Iterator[int]:
        """Where in `data` a form starts, form by form (not in order), from `start` on."""
        for form in self.forms:
            position = data.find(form, max(0, start - len(form) + 1))
            while position >= 0:
                yield position
                position = data.find(form, position + 1)

    def found_in(self, text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return any(form in data for form in self.forms)


def needles(values: Iterable[str] | None = None) -> Needles:
    """The forms of `values` (default: every secret registered so far) to look for."""
    values = secrets.known() if values is None else tuple(values)
    forms: set[bytes] = set()
    too_short = 0
    for value in values:
        if len(value.strip()) < MIN_SECRET_LENGTH:
            too_short += 1
            continue
        texts = {form for form in secrets.encoded_forms(value) if secrets.maskable(form)}
        texts |= {_ESCAPE.sub(lambda e: e[0].lower(), text) for text in texts}  # %2f, %2F
        raw = value.encode("utf-8", "surrogatepass")
        forms |= {text.encode("utf-8", "surrogatepass") for text in texts}
        forms |= {raw.hex().encode(), raw.hex().upper().encode()}
    minimal: list[bytes] = []
    for form in sorted(forms, key=lambda f: (len(f), f)):
        if not any(shorter in form for shorter in minimal):
            minimal.append(form)
    return Needles(tuple(minimal), too_short)
