"""The rules of publishing, as pure functions over tag kinds and versions.

- A release tag names one build and is never rewritten (`--force` aside).
- A version line never moves backwards: it moves only to a version at least as high as
  the one it points at, and it follows the newest release of its line that every
  registry holds, whoever published it.
- A channel moves wherever it is sent; a move to a lower version is a rollback, allowed
  and said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from dockyard import versions
from dockyard.tagging import PlannedTag, TagKind

if TYPE_CHECKING:
    import semver

PROMOTE_RULE = "promote"


def held_back(tag: str, current: str | None, ours: str | None) -> str | None:
    """Why version line `tag` must stay on the image of version `current` rather than
    move to `ours`; None when it may move."""
    theirs = versions.parse(current, partial=True)
    if theirs is None:
        return None  # no comparable version there: nothing to protect
    mine = versions.parse(ours, partial=True)
    if mine is None:
        return (f"held back: {tag} points at {current}, and this build's version "
                f"({ours or 'none'}) is not a semver version")
    if theirs > mine:
        return f"held back: {tag} points at {current}, newer than {ours}"
    return None


def rollback(tag: str, current: str | None, ours: str | None) -> str | None:
    """What to say when channel `tag` moves from version `current` back to `ours`."""
    theirs = versions.parse(current, partial=True)
    mine = versions.parse(ours, partial=True)
    if theirs is None or mine is None or not theirs > mine:
        return None
    return f"rollback: {tag} moves from {current} back to {ours}"


def promoted_tag(name: str, priority: int) -> PlannedTag:
    """A tag named on the promote command line, with its kind: a full version is a
    release, `latest` and a partial version (`1`, `v1.2`) a version line, anything else
    (`stable`, `prod-2026`) a channel."""
    if name == "latest":
        return PlannedTag(name, PROMOTE_RULE, priority, TagKind.VERSION_LINE, ())
    if versions.parse(name) is not None:
        return PlannedTag(name, PROMOTE_RULE, priority, TagKind.RELEASE)
    numbers = name.removeprefix("v").split(".")
    if len(numbers) <= 2 and all(n.isascii() and n.isdigit() for n in numbers):
        return PlannedTag(name, PROMOTE_RULE, priority, TagKind.VERSION_LINE,
                          tuple(int(n) for n in numbers))
    return PlannedTag(name, PROMOTE_RULE, priority, TagKind.CHANNEL)


def release_affixes(tags: Iterable[PlannedTag], version: semver.Version | None,
                    ) -> list[tuple[str, str]]:
    """How this build's release tags wrap its version (`v1.2.3`: ("v", "")), so that
    other builds' release tags of the same configuration can be read back as versions."""
    if version is None:
        return []
    text = str(version)
    found = []
    for tag in tags:
        if tag.kind is TagKind.RELEASE and text in tag.name:
            prefix, _, suffix = tag.name.partition(text)
            if (prefix, suffix) not in found:
                found.append((prefix, suffix))
    return found


def release_versions(names: Iterable[str], affixes: Sequence[tuple[str, str]],
                     ) -> dict[str, semver.Version]:
    """The tags among `names` shaped as this configuration's release tags, with the
    version each names."""
    found = {}
    for name in names:
        for prefix, suffix in affixes:
            if not (name.startswith(prefix) and name.endswith(suffix)
                    and len(name) > len(prefix) + len(suffix)):
                continue
            version = versions.parse(name[len(prefix):len(name) - len(suffix)])
            if version is not None:
                found[name] = version
                break
    return found


def newest_in_line(line: tuple[int, ...], above: semver.Version | None,
                   releases: Mapping[str, semver.Version]) -> tuple[str, semver.Version] | None:
    """The release tag of the highest version in `line` above `above`, if any."""
    best: tuple[str, semver.Version] | None = None
    for name, version in releases.items():
        if not versions.in_line(version, line):
            continue
        if above is not None and not version > above:
            continue
        if best is None or version > best[1]:
            best = (name, version)
    return best
