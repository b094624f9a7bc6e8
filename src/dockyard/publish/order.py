"""The landing of one release on every registry, in the order that makes a red run safe.

1. Prepare, per registry: a fresh tag listing; every release tag already there is read
   (which digest, which revision). One built from another revision is refused unless
   `--force`.
2. Fix the release's image. The first registry (in `images:` order) that holds a release
   tag of this revision fixes the release's digest: a re-run copies that manifest to the
   registries that lack it and never pushes its rebuild beside it. Otherwise the engine
   pushes this run's image once (checked to be this run's image: a shared engine's tag
   may have been moved by another run) and the other registries get a copy; promote and
   merge bring their own manifest.
3. Release tags, each read immediately before it is written: one that appeared during
   the run with another image is not overwritten.
4. Floating tags, only once every registry holds the release (see floating.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dockyard.errors import PublishError
from dockyard.names import parse_image
from dockyard.progress import human_bytes
from dockyard.publish import floating
from dockyard.publish.annotate import annotate
from dockyard.publish.connect import (
    Connect,
    DockerLogin,
    Log,
    Sleep,
    Target,
    connector,
    credentials,
    quiet,
    retry_policy,
)
from dockyard.publish.copy import blobs, children, copy_to_many
from dockyard.publish.preflight import built_from, held_releases, other_revision
from dockyard.publish.release import (
    HELD_FOR_OTHERS,
    Published,
    RegistryResult,
    Release,
    Restored,
)
from dockyard.publish.repository import Identity, Repository
from dockyard.registry import Manifest, RegistryClient, RegistryError, RetryPolicy
from dockyard.retry import retrying
from dockyard.settings import Credentials

_MAX_PARALLEL = 8
ALREADY_PUBLISHED = "already published: it holds this revision"
_MIN_SETTLE, _MAX_SETTLE = 0.05, 2.0  # seconds to wait before release tags are read again
_TRANSIENT_PUSH = re.compile(
    r"\b5\d\d\b|429|too many requests|unavailable|bad gateway|gateway time|"
    r"connection (reset|refused)|broken pipe|EOF|timeout|timed out|temporar",
    re.IGNORECASE)

Upload = Callable[["Landing"], Manifest]  # puts the image into a registry, returns it
Source = tuple[str, Manifest]  # an image name and a manifest it holds, to copy from


class Pusher(Protocol):
    """What publishing needs of a Docker engine (dockyard.engine.Engine)."""

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> Any: ...

    def tag(self, image_id: str, reference: str) -> None: ...


@dataclass
class Landing:
    """One registry's progress through the run."""

    repo: Repository
    credentials: Credentials | None = None
    error: PublishError | None = None
    present: set[str] = field(default_factory=set)  # the tags at the start
    held: dict[str, str] = field(default_factory=dict)  # release tag -> digest, this revision
    to_write: list[str] = field(default_factory=list)  # release tags this run writes
    source: Manifest | None = None  # the release's manifest, once it is here
    pushed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    forced: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    restored: list[Restored] = field(default_factory=list)
    # Release tags written by reference (not by the engine), and the longest read-to-write
    # time seen: what the check after the release phase looks at, and waits for.
    contested: list[str] = field(default_factory=list)
    write_seconds: float = 0.0

    @property
    def image(self) -> str:
        return self.repo.image

    @property
    def client(self) -> RegistryClient:
        return self.repo.client

    def fail(self, error: PublishError) -> None:
        if self.error is None:
            self.error = error


def publish(settings: Target, release: Release, engine: Pusher | None, *, log: Log = quiet,
            connect: Connect | None = None, sleep: Sleep = time.sleep,
            docker_login: DockerLogin | None = None, upload: Upload | None = None,
            copy_from: Source | None = None, image_id: str | None = None,
            clients: Mapping[str, RegistryClient] | None = None) -> Published:
    """Release tags everywhere, then floating tags everywhere; see the module docstring.

    The image gets into the registries by a docker push of the first release tag to one
    of them and a copy from there to the others (or a docker push to each, with
    `publish.upload: each`); with `copy_from` (promote), by a copy from a registry that
    holds it; with `upload` (merge), by what `upload` does for each registry. `image_id`
    is the image this run built: what the engine pushes is checked to be it. `clients`
    are the preflight's, logged in already, by image name: used, not closed here.
    """
    connect = connect or connector(settings, sleep)
    policy = retry_policy(settings)
    earlier: Source | None = None
    landings = []
    handed = dict(clients or {})
    opened = []
    for image in release.images:
        error: PublishError | None = None
        try:
            found = credentials(settings, image, docker_login)
        except PublishError as exc:
            found, error = None, exc
        client = handed.pop(image, None)
        if client is None:
            client = connect(parse_image(image).host, found)
            opened.append(client)
        landings.append(Landing(Repository(image, client), credentials=found, error=error))
    try:
        with ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(landings) or 1)) as pool:
            list(pool.map(lambda landing: _prepare(landing, settings, release, log), landings))
            anchors = release.anchors(by_engine=copy_from is None and upload is None)
            if copy_from is None:  # a build or a merge: unless this release is out already
                copy_from = earlier = _earlier_build(landings, log)
                upload = None if copy_from is not None else upload
            fixed = copy_from[1].digest if copy_from is not None else None
            _plan_writes(landings, anchors, fixed, settings.force)
            if copy_from is not None:
                _copy_once(landings, copy_from, settings, docker_login, connect, log, policy,
                           sleep)
            elif upload is None and engine is not None and settings.publishing.upload == "once":
                _push_once(landings, engine, image_id, release, log, policy, sleep)
            list(pool.map(lambda landing: _land(landing, release, engine, image_id, fixed, log,
                                                policy, sleep, upload), landings))
            _check_release_tags(landings, sleep, log, pool)
            if all(landing.error is None for landing in landings):
                floating.move_all(landings, release.following(anchors), release,
                                  settings.force, log, pool)
    finally:
        for client in opened:
            client.close()
    results = tuple(_result(landing, release) for landing in landings)
    # The engine's id of what it built, unless the release is an earlier build: that one
    # is named by its config digest (the id a classic engine gives it once pulled).
    return Published(results, image_id=_config_digest(earlier[1]) if earlier else image_id)


def _prepare(landing: Landing, settings: Target, release: Release, log: Log) -> None:
    """Which release tags this registry holds already; refuse one of another revision."""
    if landing.error is not None:
        return
    repo = landing.repo
    try:
        landing.present = repo.tags()
        for tag, (digest, theirs) in held_releases(repo, release, landing.present).items():
            if theirs == release.revision:
                landing.held[tag] = digest
                continue
            if not settings.force:
                raise other_revision(repo, tag, theirs, release)
            landing.forced.append((tag, f"release tag rewritten: it held {digest[:19]}, "
                                        f"built from {built_from(theirs)}"))
            log(f"{repo.reference(tag)}: --force rewrites a release tag built from "
                f"{built_from(theirs)}")
    except PublishError as exc:
        landing.fail(exc)


def _earlier_build(landings: Sequence[Landing], log: Log) -> Source | None:
    """The release as an earlier run of this revision published it: the first registry
    holding one of its release tags fixes the digest."""
    for landing in landings:
        if landing.error is not None or not landing.held:
            continue
        digest = next(iter(landing.held.values()))
        try:
            manifest = landing.repo.manifest(digest)
        except PublishError as exc:
            landing.fail(exc)
            continue
        if manifest is None:
            continue
        log(f"{landing.image} holds this release already ({digest[:19]}): it is copied to "
            "the registries that lack it, and what this run made is not pushed")
        return landing.image, manifest
    return None


def _plan_writes(landings: Sequence[Landing], anchors: Sequence[str], fixed: str | None,
                 force: bool) -> None:
    """Which release tags each registry gets; a release tag of this revision that holds
    another digest than the release is a split release, left alone (unless --force)."""
    for landing in landings:
        if landing.error is not None:
            continue
        done = set()
        for tag, digest in landing.held.items():
            if fixed is None or digest == fixed:
                landing.skipped.append((tag, ALREADY_PUBLISHED))
                done.add(tag)
                continue
            reference = landing.repo.reference(tag)
            if not force:
                landing.fail(PublishError(
                    f"{reference} holds {digest[:19]}, another image of this revision than "
                    f"the release ({fixed[:19]}); a release tag is never rewritten",
                    hint="keep one: run with --force to point it at the release"))
                break
            landing.forced.append((tag, f"release tag rewritten: it held {digest[:19]}, "
                                        "another build of this revision"))
        landing.to_write = [t for t in anchors if t not in done]


def _copy_once(landings: Sequence[Landing], source: Source, settings: Target,
               docker_login: DockerLogin | None, connect: Connect, log: Log,
               policy: RetryPolicy, sleep: Sleep) -> None:
    """Every registry lacking the release's manifest gets it from `source`, each blob
    read once for all of them."""
    image, manifest = source
    waiting = [landing for landing in landings if landing.error is None
               and not _same_repository(landing.image, image)
               and (landing.to_write or manifest.digest not in landing.held.values())]
    holder = next((landing for landing in landings if _same_repository(landing.image, image)),
                  None)
    if holder is not None and holder.error is None:
        holder.source = manifest
    if not waiting:
        return
    if holder is not None:
        _fan_out(holder.client, image, manifest, waiting, log, policy, sleep)
        return
    try:
        found = credentials(settings, image, docker_login)
    except PublishError as exc:
        for landing in waiting:
            landing.fail(exc)
        return
    with connect(parse_image(image).host, found) as client:
        _fan_out(client, image, manifest, waiting, log, policy, sleep)


def _same_repository(one: str, other: str) -> bool:
    """Whether two image names are one repository, however each is spelled
    (`index.docker.io/acme/app` is `docker.io/acme/app`)."""
    first, second = parse_image(one), parse_image(other)
    return (first.host, first.path) == (second.host, second.path)


def _push_once(landings: Sequence[Landing], engine: Pusher, image_id: str | None,
               release: Release, log: Log, policy: RetryPolicy, sleep: Sleep) -> None:
    """The engine pushes to one registry; the others that need the image copy it from there.

    Only worth it with two or more registries to fill. When the push to the first fails,
    the next registry is tried as the source at once (a registry down must not hold up the
    others while its retries run out); one that failed for a transient reason gets a copy
    afterwards, with retries, like every other registry.
    """
    waiting = [landing for landing in landings if landing.error is None and landing.to_write]
    if len(waiting) < 2:
        return
    origin = None
    once = replace(policy, retries=0)
    for landing in waiting:
        last = landing is waiting[-1]
        try:
            _engine_push(landing, engine, image_id, release, log,
                         policy if last else once, sleep)
        except PublishError as exc:
            if last or not _transient_push(exc):
                landing.fail(exc)
            else:
                log(f"push to {landing.image} failed ({exc.message}); pushing to the next "
                    "registry, this one gets a copy afterwards")
            continue
        origin = landing
        break
    others = [landing for landing in waiting if landing is not origin and landing.error is None]
    if origin is not None and origin.source is not None and others:
        _fan_out(origin.client, origin.image, origin.source, others, log, policy, sleep)


def _fan_out(source: RegistryClient, image: str, manifest: Manifest,
             landings: Sequence[Landing], log: Log, policy: RetryPolicy, sleep: Sleep) -> None:
    """Copy `manifest` from `image` (read through `source`) into every landing at once."""
    targets = [(landing.client, landing.repo.path) for landing in landings]
    total = 0 if manifest.is_index else sum(size or 0 for _, size in blobs(manifest.json()))
    log(f"copying {manifest.digest[:19]}" + (f" ({human_bytes(total)})" if total else "")
        + f" from {image} to " + ", ".join(landing.image for landing in landings))
    problems = copy_to_many(source, parse_image(image).path, manifest, targets, policy=policy,
                            sleep=sleep, log=log)
    for landing, problem in zip(landings, problems, strict=True):
        if problem is None:
            landing.source = manifest
        else:
            landing.fail(problem)


def _push_tag(tags: Sequence[str], revision: str | None) -> str:
    """The tag the engine pushes: one that names this revision when there is one (no run
    of another commit writes it), since a push is a long, unchecked write."""
    short = (revision or "")[:7]
    return next((tag for tag in tags if short and short in tag), tags[0])


def _engine_push(landing: Landing, engine: Pusher, image_id: str | None, release: Release,
                 log: Log, policy: RetryPolicy, sleep: Sleep) -> None:
    """docker push of the first release tag this registry needs, checked to have pushed
    this run's image, then annotated when asked; sets `landing.source`."""
    repo = landing.repo
    tag = _push_tag(landing.to_write, release.revision)
    reference = repo.reference(tag)
    if image_id:  # a shared engine: another run may have moved this name since the build
        engine.tag(image_id, reference)
    log(f"pushing {reference}")
    digest = _push(engine, landing.image, tag, landing.credentials, log, policy, sleep)
    manifest = repo.manifest(digest)
    if manifest is None:
        raise RegistryError(repo.client.host, f"{repo.path} has no manifest for what was "
                            "just pushed", hint="the registry lost the push; run again")
    pushed = _config_digest(manifest)
    if image_id and image_id not in (pushed, manifest.digest):
        raise PublishError(
            f"the engine pushed {reference} as image {pushed[:19]}, not this run's "
            f"{image_id[:19]}: another run on this engine tagged the same name meanwhile; "
            "nothing else was written here",
            hint="give concurrent jobs their own engine, or serialise them (docs/publishing.md)")
    if release.annotations:
        manifest = _annotated(repo, tag, manifest, release, log)
    landing.pushed.append(tag)
    landing.source = manifest


def _annotated(repo: Repository, tag: str, manifest: Manifest, release: Release,
               log: Log) -> Manifest:
    """The engine's push with the release's annotations written in, under `tag` (see
    dockyard.publish.annotate); the push itself when there is nothing to write."""
    listed = {digest: repo.manifest(digest) for digest in children(manifest)} \
        if manifest.is_index else {}
    found = {digest: each for digest, each in listed.items() if each is not None}
    done = annotate(manifest, found, release.annotations)
    if done is None:
        return manifest
    for child in done.children:
        repo.client.put_manifest(repo.path, child.digest, child)
    repo.put(tag, done.top)
    log(f"annotated {repo.reference(tag)}: {done.top.digest[:19]} (the engine pushed "
        f"{manifest.digest[:19]}, which has no annotations)")
    return done.top


def _push(engine: Pusher, image: str, tag: str, login: Credentials | None, log: Log,
          policy: RetryPolicy, sleep: Sleep) -> str:
    """docker push, retried when the engine's error looks transient."""

    def announce(attempt: int, exc: PublishError, delay: float) -> None:
        log(f"push of {image}:{tag} failed ({exc.message}); retrying in {delay:.1f}s")

    outcome = retrying(lambda: engine.push(image, tag, login), policy=policy,
                       catch=PublishError, transient=_transient_push, sleep=sleep,
                       on_retry=announce)
    digest: str = outcome.digest
    return digest


def _transient_push(exc: PublishError) -> bool:
    """The engine reports a registry's failure as text only: judge it by that."""
    return _TRANSIENT_PUSH.search(exc.message) is not None


def _land(landing: Landing, release: Release, engine: Pusher | None, image_id: str | None,
          fixed: str | None, log: Log, policy: RetryPolicy, sleep: Sleep,
          upload: Upload | None) -> None:
    """Get the image into this registry unless it is there already, then its release
    tags, each read just before it is written."""
    if landing.error is not None:
        return
    repo = landing.repo
    try:
        if landing.source is not None:
            pass  # pushed or copied already
        elif upload is not None:
            landing.source = upload(landing)
        elif landing.to_write and engine is not None:
            _engine_push(landing, engine, image_id, release, log, policy, sleep)
        else:  # every release tag is here already
            held = fixed or next(iter(landing.held.values()), None)
            landing.source = repo.manifest(held) if held else None
        if landing.source is None:
            raise RegistryError(repo.client.host, f"{repo.path} lacks the release's image",
                                hint="the registry lost the push; run again")
        repo.remember(landing.source.digest, Identity(release.version, release.revision))
        forced = {tag for tag, _ in landing.forced}
        for tag in landing.to_write:
            if tag in landing.pushed:
                continue
            read_at = time.monotonic()
            now = repo.pointer(tag)
            if now == landing.source.digest:
                landing.skipped.append((tag, ALREADY_PUBLISHED))
                continue
            if now is not None and tag in release.immutable_tags and tag not in forced:
                raise PublishError(
                    f"{repo.reference(tag)} appeared during this run with another image "
                    f"({now[:19]}): another run published this release; a release tag is "
                    "never rewritten",
                    hint="run again: the release that landed first is then copied where it "
                         "is missing")
            log(f"tagging {repo.reference(tag)} (same manifest, no upload)")
            repo.put(tag, landing.source)
            landing.pushed.append(tag)
            if tag in release.immutable_tags:
                landing.contested.append(tag)
                landing.write_seconds = max(landing.write_seconds, time.monotonic() - read_at)
    except PublishError as exc:
        landing.fail(exc)


def _check_release_tags(landings: Sequence[Landing], sleep: Sleep, log: Log,
                        pool: ThreadPoolExecutor) -> None:
    """Read every release tag written by reference once more, a while after the writes.

    Two runs of one version from different commits may both have read a release tag as
    absent and then written it. The registry has no compare-and-set, so the one whose
    write landed last holds it; waiting a few times the read-to-write time seen lets a
    write that was on its way land before the tag is read again. The run that finds
    another image there did not publish the release: it says so, and nothing floats.
    The registries are read at the same time, each its tags one after another.
    """
    waiting = [landing for landing in landings if landing.error is None and landing.contested]
    if not waiting:
        return
    sleep(min(_MAX_SETTLE, max(_MIN_SETTLE, 4 * max(each.write_seconds for each in waiting))))
    list(pool.map(_reread_release_tags, waiting))
    if any(landing.error for landing in waiting):
        log("a release tag was taken by another run during this one")


def _reread_release_tags(landing: Landing) -> None:
    """Whether this registry's release tags still hold what this run wrote."""
    repo, source = landing.repo, landing.source
    assert source is not None
    try:
        for tag in landing.contested:
            now = repo.pointer(tag)
            if now == source.digest:
                continue
            landing.pushed.remove(tag)
            landing.skipped.append((tag, "taken by another run's image during this run"))
            theirs = repo.identity(now).revision if now else None
            landing.fail(PublishError(
                f"{repo.reference(tag)} was written by another run at the same time, "
                f"with {now[:19] if now else 'nothing'} (built from "
                f"{built_from(theirs)}): that run published this release, this one did "
                "not; nothing floats",
                hint="two commits were released as one version at once: serialise the "
                     "release jobs (docs/publishing.md), and release a new version"))
    except PublishError as exc:
        landing.fail(exc)


def _config_digest(manifest: Manifest) -> str:
    """An image's id: its config digest (for an index, the index's own digest)."""
    if manifest.is_index:
        return manifest.digest
    return str((manifest.json().get("config") or {}).get("digest") or manifest.digest)


def _result(landing: Landing, release: Release) -> RegistryResult:
    done = set(landing.pushed) | {tag for tag, _ in landing.skipped}
    reason = "not pushed: this registry failed" if landing.error else HELD_FOR_OTHERS
    left = tuple((t.name, reason) for t in release.tags if t.name not in done)
    if landing.error is not None:
        status = "failed"
    elif left:
        status = "partial"
    else:
        status = "pushed"
    return RegistryResult(
        name=landing.image, status=status,
        digest=landing.source.digest if landing.source else None,
        pushed=tuple(landing.pushed), skipped=tuple(landing.skipped) + left,
        error=str(landing.error) if landing.error else None,
        forced=tuple(landing.forced), notes=tuple(landing.notes),
        restored=tuple(landing.restored))
