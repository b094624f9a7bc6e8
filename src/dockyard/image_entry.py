"""An `images:` entry in docker/metadata-action's syntax: a name, or attributes.

`ghcr.io/acme/app`, `name=ghcr.io/acme/app` and `ghcr.io/acme/app,enable=false` are all
entries; `enable=false` switches that image off for the run (metadata-action users write
`enable=${{ github.event_name != 'pull_request' }}`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageEntry", "parse_image_entry"]

_ATTRIBUTES = ("name", "enable")


@dataclass(frozen=True)
class ImageEntry:
    name: str
    enabled: bool = True


def parse_image_entry(text: str) -> ImageEntry | str:
    """The entry, or a problem saying what is wrong with it."""
    if "," not in text and not text.strip().startswith(_ATTRIBUTES):
        return ImageEntry(text.strip())
    name: str | None = None
    enabled = True
    for field in (part.strip() for part in text.split(",")):
        if not field:
            continue
        key, equals, value = field.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not equals:
            if name is not None:
                return f"'{text}' names two images; write one a line"
            name = field
        elif key == "name":
            name = value
        elif key == "enable":
            if value not in ("true", "false"):
                return f"enable '{value}' is not allowed; use true or false"
            enabled = value == "true"
        else:
            return f"unknown image attribute '{key}'; allowed: {', '.join(_ATTRIBUTES)}"
    if not name:
        return f"'{text}' names no image; write name=IMAGE or the image alone"
    return ImageEntry(name, enabled)
