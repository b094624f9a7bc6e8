"""Publishing: preflight, one engine push and copies, tags by reference, floating tags last.

The order is what makes a red run safe to re-run:

1. Preflight, before the build: every registry is logged into with push scope, and
   every release tag that already exists is checked to hold this very revision.
2. Release tags: docker pushes the image to one registry, under the first release tag;
   the other registries get a copy of what landed there, each blob read once and
   streamed to all of them at the same time (the engine compresses once, not once per
   registry, and the digest is the same everywhere by construction). With
   `publish.upload: each`, the engine pushes to every registry instead, in parallel.
   Every other tag is the same manifest bytes PUT under a new name (no upload). A
   release tag already holding this revision is left alone ("already published"); one
   holding another revision is refused.
3. Floating tags (latest, X, X.Y, branches), only once every registry holds the
   release, and never backwards: a tag that points at a newer version stays put.

The registry results say exactly which tag landed where, and why any did not.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import semver

from dockyard.errors import InputError, PublishError
from dockyard.names import image_problem, parse_image
from dockyard.progress import human_bytes
from dockyard.registry import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    REVISION_LABEL,
    VERSION_LABEL,
    Manifest,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    digest_of,
    ecr_credentials,
    is_ecr,
    push_scope,
)
from dockyard.settings import Credentials, Publishing, Settings
from dockyard.tagging import PlannedTag

Log = Callable[[str], None]
Sleep = Callable[[float], None]
Connect = Callable[[str, Credentials | None], RegistryClient]
Upload = Callable[["_Landing"], Manifest]  # puts the image into a registry, returns it
Source = tuple[str, Manifest]  # an image name and a manifest it holds, to copy from
DockerLogin = Callable[[str], Credentials | None]  # host -> what `docker login` stored

_MAX_PARALLEL = 8
_TEE_DEPTH = 16  # chunks (64 KiB) queued per target while copying one blob to several
_PARALLEL_BLOBS = 3  # blobs copied at the same time
_TAG_PAGE = 1000  # tags per listing request (registries may return fewer, with a next link)
_TRANSIENT_PUSH = re.compile(
    r"\b5\d\d\b|429|too many requests|unavailable|bad gateway|gateway time|"
    r"connection (reset|refused)|broken pipe|EOF|timeout|timed out|temporar",
    re.IGNORECASE)
HELD_FOR_OTHERS = "held back: the release did not land on every registry"
PROMOTE_RULE = "promote"
_VERSION_LINE = re.compile(r"v?\d+(\.\d+)?")


def _quiet(_: str) -> None:
    pass


class Target(Protocol):
    """What publishing reads of the settings: credentials, guards, retries."""

    @property
    def force(self) -> bool: ...

    @property
    def publishing(self) -> Publishing: ...

    def credentials_for(self, image: str) -> Credentials | None: ...


@dataclass(frozen=True)
class Options:
    """A Target without a dockyard.yml (promote): credentials, force and retries only."""

    registries: Mapping[str, Credentials] = field(default_factory=dict)
    publishing: Publishing = field(default_factory=Publishing)
    force: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Options:
        return cls(settings.registries, settings.publishing, settings.force)

    def credentials_for(self, image: str) -> Credentials | None:
        return self.registries.get(parse_image(image).host)


class Pusher(Protocol):
    """What publishing needs of a Docker engine (dockyard.engine.Engine)."""

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> Any: ...


@dataclass(frozen=True)
class RegistryResult:
    name: str  # the image name as configured
    status: str  # "pushed", "partial", "failed" or "not pushed"
    digest: str | None = None
    pushed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (tag, reason)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "digest": self.digest,
            "pushed": list(self.pushed),
            "skipped": [{"tag": tag, "reason": reason} for tag, reason in self.skipped],
            "error": self.error,
        }


@dataclass(frozen=True)
class Release:
    """What is being published: the images, the planned tags, and who this build is."""

    images: tuple[str, ...]
    tags: tuple[PlannedTag, ...]
    version: str | None
    revision: str | None

    @classmethod
    def of(cls, plan: Any) -> Release:
        """From a pipeline.Plan: its images and tags, this build's version and revision."""
        if not plan.tags:
            raise InputError("the tag plan is empty for this context: nothing to tag",
                             hint="check `dockyard plan`; add a rule that always applies, "
                                  "such as `type=sha`")
        return cls(images=tuple(plan.images), tags=tuple(plan.tags), version=plan.version,
                   revision=plan.labels.get(REVISION_LABEL))

    @property
    def release_tags(self) -> list[str]:
        """Immutable tags; when the plan has none, its first tag carries the upload."""
        return self.immutable_tags or [t.name for t in self.tags[:1]]

    @property
    def immutable_tags(self) -> list[str]:
        """The tags that must never be rewritten: the plan's release tags only (a branch
        build's floating tag that carries the upload moves with every build)."""
        return [t.name for t in self.tags if not t.floating]

    @property
    def floating_tags(self) -> list[PlannedTag]:
        anchors = set(self.release_tags)
        return [t for t in self.tags if t.name not in anchors]


def retry_policy(settings: Target) -> RetryPolicy:
    options = settings.publishing
    return RetryPolicy(retries=options.retries, backoff_seconds=options.backoff_seconds,
                       max_backoff_seconds=options.max_backoff_seconds,
                       timeout_seconds=options.timeout_seconds)


def connector(settings: Target, sleep: Sleep = time.sleep) -> Connect:
    policy = retry_policy(settings)

    insecure = set(settings.publishing.insecure)

    def connect(host: str, credentials: Credentials | None) -> RegistryClient:
        return RegistryClient(host, credentials, policy=policy, sleep=sleep,
                              insecure=host in insecure)

    return connect


# ------------------------------------------------------------------------ decisions


def parse_version(text: str | None) -> semver.Version | None:
    """A semver version from a tag or label ("v1.2.3", "1.2"), None when it is not one."""
    if not text:
        return None
    try:
        return semver.Version.parse(text.removeprefix("v"), optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None


def is_guarded(tag: PlannedTag) -> bool:
    """latest, X and X.Y move only forwards; branch and other floating tags just move."""
    rule = tag.rule.lower()
    if rule == PROMOTE_RULE:
        return tag.floating
    return (tag.name == "latest" or rule.startswith("flavor latest")
            or "type=semver" in rule or "type=pep440" in rule)


def promoted_tag(name: str, priority: int) -> PlannedTag:
    """A tag named on the promote command line: latest and version lines float."""
    floating = name == "latest" or _VERSION_LINE.fullmatch(name) is not None
    return PlannedTag(name=name, rule=PROMOTE_RULE, priority=priority, floating=floating)


def held_back(tag: str, current: str | None, ours: str | None) -> str | None:
    """Why `tag` must stay on the image of version `current` rather than move to `ours`."""
    theirs = parse_version(current)
    if theirs is None:
        return None  # no comparable version there: nothing to protect
    mine = parse_version(ours)
    if mine is None:
        return (f"held back: {tag} points at {current}, and this build's version "
                f"({ours or 'none'}) is not a semver version")
    if theirs > mine:
        return f"held back: {tag} points at {current}, newer than {ours}"
    return None


# ------------------------------------------------------------------------ preflight


def credentials(settings: Target, image: str,
                docker_login: DockerLogin | None) -> Credentials | None:
    """The `registries:` entry for the image's host, else what `docker login` stored."""
    host = parse_image(image).host
    found = settings.credentials_for(image)
    if found is None and docker_login is not None:
        found = docker_login(host)
    if found is None and is_ecr(host):
        found = ecr_credentials(host)
    return found


def preflight(settings: Target, release: Release, *, connect: Connect | None = None,
              log: Log = _quiet, docker_login: DockerLogin | None = None,
              ) -> dict[str, PublishError]:
    """Check every registry before the build; return the problem per image name.

    Logs in with push scope (bad credentials, no push permission, unknown host and a
    registry that is down all show here, in seconds) and refuses a release tag that
    already holds another revision unless `force`.
    """
    connect = connect or connector(settings)

    def check(image: str) -> PublishError | None:
        name = parse_image(image)
        try:
            with connect(name.host, credentials(settings, image, docker_login)) as client:
                client.authenticate([push_scope(name.path)])
                if is_ecr(name.host):
                    client.require_repository(name.path)
                if not settings.force:
                    _refuse_other_revisions(client, name.path, image, release)
        except PublishError as exc:
            return exc
        log(f"preflight {image}: ok")
        return None

    with ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(release.images) or 1)) as pool:
        outcomes = list(pool.map(check, release.images))
    return {image: problem for image, problem in zip(release.images, outcomes, strict=True)
            if problem is not None}


def _refuse_other_revisions(client: RegistryClient, path: str, image: str,
                            release: Release) -> None:
    present = set(client.tags(path, page_size=_TAG_PAGE))
    for tag in release.immutable_tags:
        if tag not in present:  # the usual case for a new version: nothing to read
            continue
        labels = client.image_labels(path, tag)
        if labels is None:
            continue
        theirs = labels.get(REVISION_LABEL)
        if theirs != release.revision:
            built = f"revision {theirs[:12]}" if theirs else "an unknown revision"
            raise PublishError(
                f"{parse_image(image).reference(tag)} already exists, built from {built}; "
                f"this build is revision {(release.revision or 'unknown')[:12]}. A release "
                "tag is never rewritten",
                hint="release a new version, or run with --force to overwrite it")


def preflight_results(release: Release,
                      problems: Mapping[str, PublishError]) -> tuple[RegistryResult, ...]:
    """The per-registry result of a run stopped by its preflight: nothing was pushed."""
    results = []
    for image in release.images:
        problem = problems.get(image)
        reason = ("not pushed: preflight failed here" if problem else
                  "not pushed: preflight failed on another registry")
        results.append(RegistryResult(
            name=image, status="failed" if problem else "not pushed",
            skipped=tuple((t.name, reason) for t in release.tags),
            error=str(problem) if problem else None))
    return tuple(results)


def preflight_error(problems: Mapping[str, PublishError]) -> PublishError:
    lines = [f"{image}: {str(problem).removeprefix(parse_image(image).host + ': ')}"
             for image, problem in problems.items()]
    return PublishError("preflight failed, nothing was built or pushed:\n  "
                        + "\n  ".join(lines).replace("\n  hint:", "\n    hint:"))


# ------------------------------------------------------------------------ publishing


@dataclass
class _Landing:
    """One registry's progress through the run."""

    image: str
    client: RegistryClient
    credentials: Credentials | None = None
    source: Manifest | None = None
    to_write: list[str] = field(default_factory=list)  # release tags this run writes
    pushed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    error: PublishError | None = None
    # Tags the repository had before this run: one listing, so that tags that do not
    # exist yet cost no read at all, only their write.
    present: set[str] = field(default_factory=set)


def publish(settings: Target, release: Release, engine: Pusher | None, *, log: Log = _quiet,
            connect: Connect | None = None, sleep: Sleep = time.sleep,
            docker_login: DockerLogin | None = None, upload: Upload | None = None,
            copy_from: Source | None = None) -> tuple[RegistryResult, ...]:
    """Release tags everywhere, then floating tags everywhere; see the module docstring.

    The image gets into the registries by a docker push of the first release tag to one
    of them and a copy from there to the others (or a docker push to each, with
    `publish.upload: each`); with `copy_from` (promote), by a copy from a registry that
    holds it; with `upload` (merge), by what `upload` does for each registry.
    """
    connect = connect or connector(settings, sleep)
    policy = retry_policy(settings)
    landings = []
    for image in release.images:
        error: PublishError | None = None
        try:
            found = credentials(settings, image, docker_login)
        except PublishError as exc:
            found, error = None, exc
        landings.append(_Landing(image, connect(parse_image(image).host, found),
                                 credentials=found, error=error))
    try:
        workers = min(_MAX_PARALLEL, len(landings) or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda landing: _prepare(landing, settings, release), landings))
            if copy_from is not None:
                _copy_once(landings, copy_from,
                           lambda image: credentials(settings, image, docker_login), connect,
                           log, policy, sleep)
            elif upload is None and engine is not None and settings.publishing.upload == "once":
                _push_once(landings, engine, log, policy, sleep)
            list(pool.map(lambda landing: _land(landing, release, engine, log, policy, sleep,
                                                upload), landings))
            if all(landing.error is None for landing in landings):
                list(pool.map(lambda landing: _floating(landing, settings, release, log),
                              landings))
    finally:
        for landing in landings:
            landing.client.close()
    return tuple(_result(landing, release) for landing in landings)


def _prepare(landing: _Landing, settings: Target, release: Release) -> None:
    """Which release tags this registry needs; refuse one that holds another revision."""
    name = parse_image(landing.image)
    client = landing.client
    if landing.error is not None:
        return
    try:
        landing.present = set(client.tags(name.path, page_size=_TAG_PAGE))
        existing: dict[str, str | None] = {}
        for tag in release.immutable_tags:
            if tag not in landing.present:
                continue
            labels = client.image_labels(name.path, tag)
            if labels is not None:
                existing[tag] = labels.get(REVISION_LABEL)
        other = [t for t, rev in existing.items() if rev != release.revision]
        if other and not settings.force:
            theirs = existing[other[0]]
            raise PublishError(
                f"{name.reference(other[0])} already exists, built from revision "
                f"{(theirs or 'unknown')[:12]}; refusing to rewrite a release tag",
                hint="release a new version, or run with --force to overwrite it")
        landing.to_write = [t for t in release.release_tags if t not in existing or t in other]
        for tag in release.release_tags:
            if tag not in landing.to_write:
                landing.skipped.append((tag, "already published: it holds this revision"))
    except PublishError as exc:
        landing.error = exc


def _push_once(landings: Sequence[_Landing], engine: Pusher, log: Log, policy: RetryPolicy,
               sleep: Sleep) -> None:
    """The engine pushes to one registry; the others that need the image copy it from there.

    Only worth it with two or more registries to fill. When the push to the first fails,
    the next registry is tried as the source (a registry down must not stop the others).
    """
    waiting = [landing for landing in landings if landing.error is None and landing.to_write]
    if len(waiting) < 2:
        return
    origin = None
    for landing in waiting:
        try:
            _engine_push(landing, engine, log, policy, sleep)
        except PublishError as exc:
            landing.error = exc
            continue
        origin = landing
        break
    others = [landing for landing in waiting if landing is not origin and landing.error is None]
    if origin is not None and origin.source is not None and others:
        _fan_out(origin.client, origin.image, origin.source, others, log, policy, sleep)


def _copy_once(landings: Sequence[_Landing], source: Source,
               login: Callable[[str], Credentials | None], connect: Connect, log: Log,
               policy: RetryPolicy, sleep: Sleep) -> None:
    """Every registry that needs the image gets it copied from `source` (promote)."""
    waiting = [landing for landing in landings if landing.error is None and landing.to_write]
    if not waiting:
        return
    image, manifest = source
    try:
        found = login(image)
    except PublishError as exc:
        for landing in waiting:
            landing.error = exc
        return
    with connect(parse_image(image).host, found) as client:
        _fan_out(client, image, manifest, waiting, log, policy, sleep)


def _fan_out(source: RegistryClient, image: str, manifest: Manifest,
             landings: Sequence[_Landing], log: Log, policy: RetryPolicy, sleep: Sleep) -> None:
    """Copy `manifest` from `image` (read through `source`) into every landing at once."""
    targets = [(landing.client, parse_image(landing.image).path) for landing in landings]
    total = 0 if manifest.is_index else sum(size or 0 for _, size in _blobs(manifest.json()))
    log(f"copying {manifest.digest[:19]}" + (f" ({human_bytes(total)})" if total else "")
        + f" from {image} to " + ", ".join(landing.image for landing in landings))
    problems = copy_to_many(source, parse_image(image).path, manifest, targets, policy=policy,
                            sleep=sleep, log=log)
    for landing, problem in zip(landings, problems, strict=True):
        if problem is None:
            landing.source = manifest
        else:
            landing.error = problem


def _engine_push(landing: _Landing, engine: Pusher, log: Log, policy: RetryPolicy,
                 sleep: Sleep) -> None:
    """docker push of the first release tag this registry needs; sets `landing.source`."""
    name = parse_image(landing.image)
    tag = landing.to_write[0]
    log(f"pushing {name.reference(tag)}")
    digest = _push(engine, landing.image, tag, landing.credentials, log, policy, sleep)
    landing.pushed.append(tag)
    landing.source = landing.client.get_manifest(name.path, digest)
    if landing.source is None:
        raise RegistryError(name.host, f"{name.path} has no manifest for what was just "
                            "pushed", hint="the registry lost the push; run again")


def _land(landing: _Landing, release: Release, engine: Pusher | None, log: Log,
          policy: RetryPolicy, sleep: Sleep, upload: Upload | None) -> None:
    """Get the image into this registry unless it is there already, then its release tags."""
    name = parse_image(landing.image)
    client = landing.client
    if landing.error is not None:
        return
    try:
        if landing.source is not None:
            pass  # pushed or copied by _push_once
        elif landing.to_write and upload is not None:
            landing.source = upload(landing)
        elif landing.to_write and engine is not None:
            _engine_push(landing, engine, log, policy, sleep)
        else:
            landing.source = client.get_manifest(name.path, release.release_tags[0])
        if landing.source is None:
            raise RegistryError(name.host, f"{name.path} has no manifest for "
                                f"{release.release_tags[0]}", hint="the registry lost the "
                                "push; run again")
        for tag in landing.to_write:
            if tag in landing.pushed:
                continue
            log(f"tagging {name.reference(tag)} (same manifest, no upload)")
            client.put_manifest(name.path, tag, landing.source)
            landing.pushed.append(tag)
    except PublishError as exc:
        landing.error = exc


def _push(engine: Pusher, image: str, tag: str, login: Credentials | None, log: Log,
          policy: RetryPolicy, sleep: Sleep) -> str:
    """docker push, retried when the engine's error looks transient."""
    attempt = 0
    while True:
        attempt += 1
        try:
            outcome = engine.push(image, tag, login)
        except PublishError as exc:
            if attempt > policy.retries or not _TRANSIENT_PUSH.search(exc.message):
                raise
            delay = policy.delay(attempt)
            log(f"push of {image}:{tag} failed ({exc.message}); retrying in {delay:.1f}s")
            sleep(delay)
            continue
        digest: str = outcome.digest
        return digest


def _floating(landing: _Landing, settings: Target, release: Release, log: Log) -> None:
    name = parse_image(landing.image)
    client = landing.client
    source = landing.source
    if source is None:  # _release sets it whenever it ends without an error
        return
    try:
        for tag in release.floating_tags:
            current = (client.head_manifest(name.path, tag.name)
                       if tag.name in landing.present else None)
            if current is not None and current.digest == source.digest:
                landing.skipped.append((tag.name, "already points at this image"))
                continue
            if current is not None and not settings.force and is_guarded(tag):
                labels = client.image_labels(name.path, tag.name) or {}
                reason = held_back(tag.name, labels.get(VERSION_LABEL), release.version)
                if reason:
                    log(f"{name.reference(tag.name)}: {reason}")
                    landing.skipped.append((tag.name, reason))
                    continue
            log(f"tagging {name.reference(tag.name)} (same manifest, no upload)")
            client.put_manifest(name.path, tag.name, source)
            landing.pushed.append(tag.name)
    except PublishError as exc:
        landing.error = exc


def _result(landing: _Landing, release: Release) -> RegistryResult:
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
        error=str(landing.error) if landing.error else None)


def summary(results: Sequence[RegistryResult]) -> PublishError | None:
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return None
    return PublishError(
        "; ".join(f"{r.name}: {r.error}" for r in failed),
        hint="fix the registry and run again: release tags already there are recognised "
             "as already published and left alone")


# ------------------------------------------------------------------------ copying


def copy_manifest(source: RegistryClient, source_path: str, manifest: Manifest,
                  target: RegistryClient, target_path: str, *, policy: RetryPolicy,
                  sleep: Sleep = time.sleep, log: Log = _quiet) -> None:
    """Make `target_path` hold `manifest` by digest, with every blob and child it needs.

    Blobs already there are skipped, blobs on the same registry are mounted, others are
    streamed from the source (never whole in memory). An index brings its children.
    """
    if not manifest.is_index:
        problem = copy_to_many(source, source_path, manifest, [(target, target_path)],
                               policy=policy, sleep=sleep, log=log)[0]
        if problem is not None:
            raise problem
        return
    if target.head_manifest(target_path, manifest.digest) is not None:
        return
    for entry in manifest.json().get("manifests") or []:
        child = source.get_manifest(source_path, str(entry["digest"]))
        if child is None:
            raise RegistryError(source.host, f"{source_path} lacks {entry['digest']}, a "
                                "manifest its index lists", hint="push that platform's "
                                "image again, then retry")
        copy_manifest(source, source_path, child, target, target_path, policy=policy,
                      sleep=sleep, log=log)
    target.put_manifest(target_path, manifest.digest, manifest)


def _blobs(data: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(digest, size) of an image manifest's config and layers; foreign layers stay remote."""
    found = []
    for blob in [data.get("config") or {}, *(data.get("layers") or [])]:
        if blob.get("digest") and not blob.get("urls"):
            size = blob.get("size")
            found.append((str(blob["digest"]), size if isinstance(size, int) else None))
    return found


def _blob_name(digest: str, size: int | None) -> str:
    return digest[:19] + (f" ({human_bytes(size)})" if size is not None else "")


def _lacks_blob(source: RegistryClient, source_path: str, target: RegistryClient,
                target_path: str, digest: str, log: Log) -> bool:
    """False when the target has the blob already, or got it by a mount (same registry)."""
    if target.blob_exists(target_path, digest):
        return False
    if source.host == target.host and target.mount_blob(target_path, digest, source_path):
        log(f"mounted {digest[:19]} from {source_path} into {target_path}")
        return False
    return True


def _stream_blob(source: RegistryClient, source_path: str, target: RegistryClient,
                 target_path: str, digest: str, size: int | None, policy: RetryPolicy,
                 sleep: Sleep, log: Log) -> None:
    attempt = 0
    while True:  # a streamed body cannot be re-sent: retry the whole blob
        attempt += 1
        try:
            with source.open_blob(source_path, digest) as chunks:
                target.upload_blob(target_path, digest, chunks, size)
        except RegistryError as exc:
            if not exc.transient or attempt > policy.retries:
                raise
            sleep(policy.delay(attempt))
            continue
        log(f"copied {_blob_name(digest, size)} to {target.host}/{target_path}")
        return


def copy_to_many(source: RegistryClient, source_path: str, manifest: Manifest,
                 targets: Sequence[tuple[RegistryClient, str]], *, policy: RetryPolicy,
                 sleep: Sleep = time.sleep, log: Log = _quiet) -> list[PublishError | None]:
    """`copy_manifest` to several (client, repository) targets; the problem per target.

    Each blob that two or more targets lack is read from the source once and streamed
    to all of them at the same time. A target whose upload fails gets the blob again
    on its own, with retries; a target that fails does not hold up the others.
    """
    problems: list[PublishError | None] = [None] * len(targets)
    if manifest.is_index:  # multi-platform: child by child, target by target
        for index, (target, path) in enumerate(targets):
            try:
                copy_manifest(source, source_path, manifest, target, path, policy=policy,
                              sleep=sleep, log=log)
            except PublishError as exc:
                problems[index] = exc
        return problems

    def each(indexes: Iterable[int], work: Callable[[RegistryClient, str], object],
             ) -> list[int]:
        """Run `work` on every target still healthy; the indexes where it returned true."""
        chosen = []
        for index in indexes:
            if problems[index] is not None:
                continue
            target, path = targets[index]
            try:
                if work(target, path):
                    chosen.append(index)
            except PublishError as exc:
                problems[index] = exc
        return chosen

    live = each(range(len(targets)),
                lambda target, path: target.head_manifest(path, manifest.digest) is None)

    def blob(digest: str, size: int | None) -> None:
        lacking = each(live, functools.partial(_lacks_blob, source, source_path,
                                               digest=digest, log=log))
        landed = (_tee_blob(source, source_path, digest, size, [targets[i] for i in lacking],
                            log) if len(lacking) > 1 else [False] * len(lacking))
        each([i for i, ok in zip(lacking, landed, strict=True) if not ok],
             functools.partial(_stream_blob, source, source_path, digest=digest, size=size,
                               policy=policy, sleep=sleep, log=log))

    blobs = _blobs(manifest.json())
    if blobs:  # the first (the config, small) alone: every client logs in once, not per blob
        blob(*blobs[0])
    with ThreadPoolExecutor(max_workers=_PARALLEL_BLOBS) as pool:
        list(pool.map(lambda found: blob(*found), blobs[1:]))
    each(live, lambda target, path: target.put_manifest(path, manifest.digest, manifest))
    return problems


def _tee_blob(source: RegistryClient, source_path: str, digest: str, size: int | None,
              targets: Sequence[tuple[RegistryClient, str]], log: Log) -> list[bool]:
    """Stream one blob from the source to every target at once; which uploads landed.

    One reader, one uploading thread per target, a small queue between them (memory
    stays flat whatever the blob's size). A target that fails drops out without
    stopping the others; if the source breaks off, every upload counts as failed (the
    registries refuse a truncated blob by its digest anyway) and is retried alone.
    """
    feeds: list[queue.Queue[bytes | _Stop]] = [queue.Queue(maxsize=_TEE_DEPTH) for _ in targets]
    ended = [threading.Event() for _ in targets]
    landed = [False] * len(targets)

    def upload(index: int) -> None:
        target, path = targets[index]

        def chunks() -> Iterator[bytes]:
            while True:
                item = feeds[index].get()
                if item is _Stop.END:
                    return
                if item is _Stop.BROKEN:  # never end short: a sized PUT would wait for more
                    raise RegistryError(source.host, f"reading {digest[:19]} broke off",
                                        transient=True)
                yield item

        try:
            target.upload_blob(path, digest, chunks(), size)
            landed[index] = True
        except PublishError:
            pass  # retried alone by the caller
        finally:
            ended[index].set()

    def offer(index: int, chunk: bytes | _Stop) -> None:
        while not ended[index].is_set():
            with contextlib.suppress(queue.Full):
                feeds[index].put(chunk, timeout=0.05)
                return

    uploaders = [threading.Thread(target=upload, args=(index,), daemon=True,
                                  name=f"dockyard-copy-{index}") for index in range(len(targets))]
    for thread in uploaders:
        thread.start()
    end = _Stop.BROKEN
    try:
        with source.open_blob(source_path, digest) as stream:
            for chunk in stream:
                if all(event.is_set() for event in ended):
                    break
                for index in range(len(targets)):
                    offer(index, chunk)
        end = _Stop.END
    except PublishError:
        pass  # every target gets the blob again on its own
    finally:
        for index in range(len(targets)):
            offer(index, end)
        for thread in uploaders:
            thread.join()
    if end is _Stop.BROKEN:
        return [False] * len(targets)
    log(f"copied {_blob_name(digest, size)} to "
        + ", ".join(f"{t.host}/{p}" for t, p in targets))
    return landed


class _Stop(enum.Enum):
    """What ends a copy's feed: the whole blob was read, or the read broke off."""

    END = "end"
    BROKEN = "broken"


def _copier(settings: Target, connect: Connect, sources: Sequence[tuple[str, Manifest]],
            top: Manifest, log: Log, sleep: Sleep, docker_login: DockerLogin | None) -> Upload:
    """An Upload that copies `sources` ((image name, manifest)) and then `top` by digest."""
    policy = retry_policy(settings)

    def upload(landing: _Landing) -> Manifest:
        path = parse_image(landing.image).path
        for image, manifest in sources:
            name = parse_image(image)
            with connect(name.host, credentials(settings, image, docker_login)) as source:
                copy_manifest(source, name.path, manifest, landing.client, path,
                              policy=policy, sleep=sleep, log=log)
        if landing.client.head_manifest(path, top.digest) is None:
            landing.client.put_manifest(path, top.digest, top)
        return top

    return upload


# ------------------------------------------------------------------------ promote, merge


@dataclass(frozen=True)
class Outcome:
    """What promote and merge did: the digest published and the per-registry results."""

    digest: str | None
    registries: tuple[RegistryResult, ...]
    error: PublishError | None = None

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0

    def to_dict(self) -> dict[str, Any]:
        return {"status": "failed" if self.error else "success", "digest": self.digest,
                "registries": [r.to_dict() for r in self.registries],
                "error": str(self.error) if self.error else None}

    def text(self) -> str:
        lines = []
        for r in self.registries:
            lines.append(f"{r.name}: {r.status}" + (f" {r.digest}" if r.digest else ""))
            lines += [f"  pushed  {tag}" for tag in r.pushed]
            lines += [f"  skipped {tag}: {reason}" for tag, reason in r.skipped]
        lines.append(f"status: {'failed' if self.error else 'success'}")
        return "\n".join(lines)


def split_reference(reference: str) -> tuple[str, str]:
    """`host/name:tag` or `host/name@sha256:...` -> (image name, tag or digest)."""
    if "@" in reference:
        image, _, ref = reference.partition("@")
        return image, ref
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        image, _, tag = reference.rpartition(":")
        return image, tag
    return reference, "latest"


def _fetch(settings: Target, connect: Connect, image: str, ref: str,
           docker_login: DockerLogin | None) -> tuple[Manifest, dict[str, str]]:
    name = parse_image(image)
    with connect(name.host, credentials(settings, image, docker_login)) as client:
        manifest = client.get_manifest(name.path, ref)
        if manifest is None:
            joint = "@" if ref.startswith("sha256:") else ":"
            raise PublishError(f"{image}{joint}{ref} does not exist",
                               hint="check the reference, and that the image was pushed there")
        labels = client.image_labels(name.path, manifest.digest) or {}
    return manifest, labels


def promote(settings: Target, source: str, targets: Sequence[str], *, log: Log = _quiet,
            connect: Connect | None = None, sleep: Sleep = time.sleep,
            docker_login: DockerLogin | None = None) -> Outcome:
    """Give the image at `source` more tags, in its repository or in others (by digest).

    Each target is a tag (in the source's repository) or a full `name:tag`; every target
    repository gets the same tags. The same preflight, ordering and guards as `run`.
    """
    connect = connect or connector(settings, sleep)
    image, ref = split_reference(source)
    images: list[str] = []
    wanted: dict[str, list[str]] = {}
    for target in targets:
        target_image, tag = (image, target) if "/" not in target and ":" not in target \
            else split_reference(target)
        if tag.startswith("sha256:"):
            raise InputError(f"'{target}' is a digest; promote writes tags",
                             hint="give a tag, or name:tag")
        if target_image not in wanted:
            images.append(target_image)
            wanted[target_image] = []
        wanted[target_image].append(tag)
    for name in (image, *images):
        problem = image_problem(name)
        if problem:
            raise InputError(problem)
    tags = list(dict.fromkeys(tag for names in wanted.values() for tag in names))
    uneven = [i for i in images if sorted(set(wanted[i])) != sorted(tags)]
    if uneven:
        raise InputError(f"every target repository must get the same tags ({', '.join(tags)}"
                         f"); {', '.join(uneven)} gets fewer",
                         hint="run promote once per set of tags")
    manifest, labels = _fetch(settings, connect, image, ref, docker_login)
    release = Release(images=tuple(images),
                      tags=tuple(promoted_tag(t, i) for i, t in enumerate(tags)),
                      version=labels.get(VERSION_LABEL), revision=labels.get(REVISION_LABEL))
    return _publish_manifest(settings, release, manifest.digest, log, connect, sleep,
                             docker_login, copy_from=(image, manifest))


def merge(settings: Target, release: Release, sources: Sequence[str], *, log: Log = _quiet,
          connect: Connect | None = None, sleep: Sleep = time.sleep,
          docker_login: DockerLogin | None = None) -> Outcome:
    """One multi-platform index from per-platform images (by digest), tagged by the plan.

    Each source is `name@sha256:...` or a bare digest in the first configured image.
    """
    connect = connect or connector(settings, sleep)
    children: list[tuple[str, Manifest]] = []
    entries = []
    platforms: dict[str, str] = {}
    for source in sources:
        image, ref = split_reference(source) if "@" in source else (release.images[0], source)
        problem = image_problem(image)
        if problem:
            raise InputError(problem)
        if not ref.startswith("sha256:"):
            raise InputError(f"'{source}' has no digest; merge takes images by digest "
                             "(name@sha256:... or sha256:...)",
                             hint="use the digest each platform's `dockyard run` reported")
        name = parse_image(image)
        with connect(name.host, credentials(settings, image, docker_login)) as client:
            manifest = client.get_manifest(name.path, ref)
            if manifest is None:
                raise PublishError(f"{image}@{ref} does not exist",
                                   hint="check the digest and that the image was pushed there")
            if manifest.is_index:
                raise InputError(f"{image}@{ref} is already an index; merge takes "
                                 "single-platform images")
            config = client.image_config(name.path, manifest)
        platform = {"architecture": str(config.get("architecture") or "unknown"),
                    "os": str(config.get("os") or "unknown")}
        if config.get("variant"):
            platform["variant"] = str(config["variant"])
        key = "/".join(platform[k] for k in ("os", "architecture", "variant") if k in platform)
        if key in platforms:
            raise InputError(f"{source} and {platforms[key]} are both {key}",
                             hint="give one image per platform")
        platforms[key] = source
        children.append((image, manifest))
        entries.append({"mediaType": manifest.media_type, "digest": manifest.digest,
                        "size": len(manifest.content), "platform": platform})
    oci = all(m.media_type == OCI_MANIFEST for _, m in children)
    media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
    content = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries},
                         indent=2).encode()
    index = Manifest(content=content, media_type=media_type, digest=digest_of(content))
    log(f"index {index.digest}: " + ", ".join(platforms))
    upload = _copier(settings, connect, children, index, log, sleep, docker_login)
    return _publish_manifest(settings, release, index.digest, log, connect, sleep,
                             docker_login, upload=upload)


def _publish_manifest(settings: Target, release: Release, digest: str, log: Log,
                      connect: Connect, sleep: Sleep, docker_login: DockerLogin | None, *,
                      upload: Upload | None = None, copy_from: Source | None = None,
                      ) -> Outcome:
    problems = preflight(settings, release, connect=connect, log=log,
                         docker_login=docker_login)
    if problems:
        return Outcome(None, preflight_results(release, problems), preflight_error(problems))
    results = publish(settings, release, None, log=log, connect=connect, sleep=sleep,
                      docker_login=docker_login, upload=upload, copy_from=copy_from)
    return Outcome(digest, results, summary(results))
