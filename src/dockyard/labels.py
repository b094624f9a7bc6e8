"""The OCI image labels docker/metadata-action writes, from the context alone.

metadata-action writes all eight keys, each with an empty value when it knows nothing
(`org.opencontainers.image.version=` on a build no rule tagged), and so does this module:
later steps written for metadata-action read those keys and find them. Description and
licenses come from the GitHub API (`dockyard.ci.github_api`, with a token), else empty.
Keys are sorted, as metadata-action sorts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from dockyard.context import Context

__all__ = ["merged", "oci_labels"]

_PREFIX = "org.opencontainers.image."


def oci_labels(context: Context, version: str | None, *,
               title: str | None = None) -> dict[str, str]:
    """created, description, licenses, revision, source, title, url and version; a value
    that is unknown is empty.

    `title` defaults to the last part of the repository's name (or of its URL).
    """
    labels = {
        "created": rfc3339(context.now),
        "description": context.description or "",
        "licenses": context.licenses or "",
        "revision": context.sha,
        "version": version or "",
        "source": context.repo_url or "",
        "url": context.repo_url or "",
        "title": title or _repository_name(context),
    }
    return {f"{_PREFIX}{key}": value for key, value in sorted(labels.items())}


def merged(generated: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`extra` over `generated`, every key sorted as metadata-action sorts them."""
    both = {**generated, **extra}
    return {key: both[key] for key in sorted(both)}


def rfc3339(when: datetime) -> str:
    """UTC with milliseconds and `Z`, like JavaScript's toISOString() in metadata-action."""
    if when.tzinfo is None:  # the context promises aware times; never read local time
        when = when.replace(tzinfo=timezone.utc)
    utc = when.astimezone(timezone.utc)
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z")


def _repository_name(context: Context) -> str:
    path = context.repository or context.repo_url or ""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".git")
