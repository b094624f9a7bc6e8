"""The floating phase: version lines and channels move, tag by tag, on every registry.

It runs only once every registry holds the release. Each tag is read immediately before
it is written:

- a version line moves only forwards (by the version its image says it is); `--force`
  moves it anyway and says what it overrode;
- a channel moves; a move to a lower version is said to be a rollback.

A tag goes to every registry before the next one starts; when a write fails on one
registry, the tag is put back where it was on the others, so no tag is left half-moved,
and no further tag moves. Last, every version line is derived again from what the
registries hold: when a newer release of its line landed on every registry meanwhile
(a concurrent run), the line is pointed at it. So of two runs racing, the last writer
always sees the other's release, and each version line ends on the newest.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dockyard import versions
from dockyard.errors import PublishError
from dockyard.publish.connect import Log
from dockyard.publish.policy import (
    held_back,
    newest_in_line,
    release_affixes,
    release_versions,
    rollback,
)
from dockyard.publish.release import Release, Restored
from dockyard.tagging import PlannedTag, TagKind

if TYPE_CHECKING:
    from dockyard.publish.order import Landing

_ROUNDS = 3  # derivations of the version lines after the writes, until nothing changes
PUT_BACK = "put back: the floating phase failed on another registry"


class _Moved:
    """A tag this run wrote, and what it pointed at before (None: it did not exist)."""

    def __init__(self, previous: str | None) -> None:
        self.previous = previous


def move_all(landings: Sequence[Landing], tags: Sequence[PlannedTag], release: Release,
             force: bool, log: Log, pool: ThreadPoolExecutor) -> None:
    """Every one of `tags` on every registry; see the module docstring."""
    for tag in tags:
        moves = list(pool.map(functools.partial(_move, tag=tag, release=release, force=force,
                                                log=log), landings))
        if any(landing.error is not None for landing in landings):
            for landing, moved in zip(landings, moves, strict=True):
                if moved is not None and landing.error is None:
                    _put_back(landing, tag.name, moved, log)
            return
    lines = [t for t in tags if t.kind is TagKind.VERSION_LINE and t.line is not None]
    if lines and not force:
        _follow_newest(landings, lines, release, log, pool)


def _move(landing: Landing, tag: PlannedTag, release: Release, force: bool,
          log: Log) -> _Moved | None:
    source = landing.source
    if source is None or landing.error is not None:
        return None
    repo = landing.repo
    try:
        if tag.kind is TagKind.CHANNEL and tag.name not in landing.present:
            current = None  # a new channel: nothing to read, nothing to protect
        else:
            current = repo.pointer(tag.name)
        if current == source.digest:
            landing.skipped.append((tag.name, "already points at this image"))
            return None
        if current is not None:
            theirs = repo.identity(current).version
            if tag.kind is TagKind.VERSION_LINE:
                reason = held_back(tag.name, theirs, release.version)
                if reason and not force:
                    log(f"{repo.reference(tag.name)}: {reason}")
                    landing.skipped.append((tag.name, reason))
                    return None
                if reason:
                    overrode = reason.removeprefix("held back: ")
                    landing.forced.append((tag.name, f"never backwards: {overrode}"))
                    log(f"{repo.reference(tag.name)}: --force moves it anyway ({overrode})")
            else:
                note = rollback(tag.name, theirs, release.version)
                if note:
                    landing.notes.append((tag.name, note))
                    log(f"{repo.reference(tag.name)}: {note}")
        log(f"tagging {repo.reference(tag.name)} (same manifest, no upload)")
        repo.put(tag.name, source)
        landing.pushed.append(tag.name)
        return _Moved(current)
    except PublishError as exc:
        landing.fail(exc)
        return None


def _put_back(landing: Landing, tag: str, moved: _Moved, log: Log) -> None:
    """Point `tag` where it was before this run; best effort, and said either way."""
    repo = landing.repo
    landing.pushed.remove(tag)
    landing.skipped.append((tag, PUT_BACK))
    try:
        if moved.previous is None:
            if repo.client.delete_tag(repo.path, tag):
                done = Restored(tag, None, True, "removed: it did not exist before")
            else:
                done = Restored(tag, None, False, "left on this release: it did not exist "
                                "before, and this registry cannot delete a tag")
        else:
            before = repo.manifest(moved.previous)
            if before is None:
                done = Restored(tag, moved.previous, False, "left on this release: the "
                                "image it pointed at is gone")
            else:
                repo.put(tag, before)
                done = Restored(tag, moved.previous, True, "put back")
    except PublishError as exc:
        done = Restored(tag, moved.previous, False, f"left on this release: {exc}")
    log(f"{repo.reference(tag)}: {done.detail}")
    landing.restored.append(done)


def _follow_newest(landings: Sequence[Landing], lines: Sequence[PlannedTag],
                   release: Release, log: Log, pool: ThreadPoolExecutor) -> None:
    """Point every version line at the newest release of its line that every registry
    holds, when that is newer than this build and than what the line points at. The
    registries' tags are listed at the same time."""
    ours = release.semver
    affixes = release_affixes(release.tags, ours)
    if ours is None or not affixes:
        return  # other builds' release tags cannot be read as versions
    for _ in range(_ROUNDS):
        try:
            listings = list(pool.map(lambda landing: release_versions(landing.repo.tags(),
                                                                      affixes), landings))
        except PublishError as exc:  # what landed stays: this run's lines are in place
            log(f"cannot read the registries again to check the version lines: {exc}")
            return
        everywhere = {name: version for name, version in listings[0].items()
                      if all(name in listing for listing in listings[1:])}
        changed = False
        for tag in lines:
            assert tag.line is not None
            newest = newest_in_line(tag.line, ours, everywhere)
            if newest is not None:
                changed |= any([_follow(landing, tag.name, *newest, log)
                                for landing in landings])
        if not changed:
            return


def _follow(landing: Landing, tag: str, release_tag: str, version: versions.Version,
            log: Log) -> bool:
    """Point `tag` at the image of `release_tag` here, unless it points at it (or at a
    higher version) already; whether it was written."""
    try:
        return _follow_here(landing, tag, release_tag, version, log)
    except PublishError as exc:
        landing.fail(exc)
        return False


def _follow_here(landing: Landing, tag: str, release_tag: str, version: versions.Version,
                 log: Log) -> bool:
    repo = landing.repo
    target = repo.pointer(release_tag)
    if target is None:
        return False
    found = versions.parse(repo.identity(target).version, partial=True)
    if found != version:
        return False  # a tag named like a release, of another image: not evidence
    current = repo.pointer(tag)
    if current == target:
        return False
    theirs = versions.parse(repo.identity(current).version, partial=True) if current else None
    if theirs is not None and theirs >= version:
        return False
    manifest = repo.manifest(target)
    if manifest is None:
        return False
    repo.put(tag, manifest)
    if tag in landing.pushed:
        landing.pushed.remove(tag)
    reason = (f"held back: {release_tag}, a newer release of its line, landed on every "
              "registry during this run; the tag follows it")
    landing.skipped = [(t, r) for t, r in landing.skipped if t != tag] + [(tag, reason)]
    log(f"{repo.reference(tag)}: {reason}")
    return True
