"""Semantic versions: the one parser, and the one order, of the project.

Tagging reads a git tag or a `value=` as a version, the context picks the highest of the
tags on HEAD, and publishing compares the version an image says it is (its
`org.opencontainers.image.version` label, or an index's annotation) with this build's.
All of them mean the same by "version": SemVer 2.0 as node-semver's `valid()` accepts it
(a leading `v` allowed), so `v1.2.3` and `1.2.3` are one version and `1.10.0` is above
`1.9.0`. Only labels and version-line names may also leave out the minor and patch
(`partial=True`: `1.4` is 1.4.0), since a pep440 `1.4` or a version line names no patch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import semver

    Version = semver.Version

_MAX_SAFE_INTEGER = 2**53 - 1  # node-semver refuses numbers JavaScript cannot hold
_MAX_LENGTH = 256


def parse(text: str | None, *, partial: bool = False) -> semver.Version | None:
    """The version `text` names (`v` prefix allowed), or None when it names none."""
    import semver  # only what reads a version needs it: most branch builds do not

    if not text:
        return None
    candidate = text.strip()
    if len(candidate) > _MAX_LENGTH:
        return None
    candidate = candidate.removeprefix("v")
    try:
        version = semver.Version.parse(candidate, optional_minor_and_patch=partial)
    except (ValueError, TypeError):
        return None
    if max(version.major, version.minor, version.patch) > _MAX_SAFE_INTEGER:
        return None
    return version


def in_line(version: semver.Version, line: tuple[int, ...]) -> bool:
    """Whether `version` belongs to the version line whose leading numbers are `line`
    (`(1, 2)` is `1.2`, `()` is latest). Prereleases belong to no line."""
    if version.prerelease:
        return False
    return (version.major, version.minor, version.patch)[:len(line)] == line
