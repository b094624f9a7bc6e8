"""The OCI image labels docker/metadata-action writes, from the context alone.

metadata-action writes every key, with an empty value when it knows nothing; an empty
label reads as a claim ("no source") and hides the value a base image set, so a key
whose value is unknown is left out here. Description and licenses come from the GitHub
API in metadata-action and are not in the context: set them under `labels:` if wanted.
Keys are sorted, as metadata-action sorts them.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dockyard.context import Context

__all__ = ["oci_labels"]

_PREFIX = "org.opencontainers.image."


def oci_labels(context: Context, version: str | None, *,
               title: str | None = None) -> dict[str, str]:
    """created, revision, version, source, url and title; unknown ones are omitted.

    `title` defaults to the last part of the repository's name (or of its URL).
    """
    labels = {
        "created": rfc3339(context.now),
        "revision": context.sha,
        "version": version or "",
        "source": context.repo_url or "",
        "url": context.repo_url or "",
        "title": title or _repository_name(context),
    }
    return {f"{_PREFIX}{key}": value for key, value in sorted(labels.items()) if value}


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
