"""Publishing: preflight, one push per registry, tags by reference, floating tags last.

The order is what makes a red run safe to re-run:

1. Preflight, before the build: every registry is logged into with push scope, and
   every release tag that already exists is checked to hold this very revision.
2. Release tags, all registries in parallel: docker pushes the image once under the
   first release tag; every other tag is the same manifest bytes PUT under a new name
   (no upload, identical digest). A release tag already holding this revision is left
   alone ("already published"); one holding another revision is refused.
3. Floating tags (latest, X, X.Y, branches), only once every registry holds the
   release, and never backwards: a tag that points at a newer version stays put.

The registry results say exactly which tag landed where, and why any did not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import semver

from dockyard.errors import PublishError
from dockyard.names import parse_image
from dockyard.registry import (
    REVISION_LABEL,
    VERSION_LABEL,
    Manifest,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    ecr_credentials,
    is_ecr,
    push_scope,
)
from dockyard.settings import Credentials, Settings
from dockyard.tagging import PlannedTag

Log = Callable[[str], None]
Sleep = Callable[[float], None]
Connect = Callable[[str, Credentials | None], RegistryClient]
DockerLogin = Callable[[str], Credentials | None]  # host -> what `docker login` stored

_MAX_PARALLEL = 8
_TRANSIENT_PUSH = re.compile(
    r"\b5\d\d\b|429|too many requests|unavailable|bad gateway|gateway time|"
    r"connection (reset|refused)|broken pipe|EOF|timeout|timed out|temporar",
    re.IGNORECASE)
HELD_FOR_OTHERS = "held back: the release did not land on every registry"


def _quiet(_: str) -> None:
    pass


class Pusher(Protocol):
    """What publishing needs of a Docker engine (dockyard.engine.Engine)."""

    def push(self, repository: str, tag: str, credentials: Credentials | None,
             log: Log = ...) -> Any: ...


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

    @property
    def release_tags(self) -> list[str]:
        """Immutable tags; when the plan has none, its first tag carries the upload."""
        tags = [t.name for t in self.tags if not t.floating]
        return tags or [t.name for t in self.tags[:1]]

    @property
    def floating_tags(self) -> list[PlannedTag]:
        anchors = set(self.release_tags)
        return [t for t in self.tags if t.name not in anchors]


def retry_policy(settings: Settings) -> RetryPolicy:
    options = settings.publishing
    return RetryPolicy(retries=options.retries, backoff_seconds=options.backoff_seconds,
                       max_backoff_seconds=options.max_backoff_seconds,
                       timeout_seconds=options.timeout_seconds)


def connector(settings: Settings, sleep: Sleep = time.sleep) -> Connect:
    policy = retry_policy(settings)

    def connect(host: str, credentials: Credentials | None) -> RegistryClient:
        return RegistryClient(host, credentials, policy=policy, sleep=sleep)

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
    return (tag.name == "latest" or rule.startswith("flavor latest")
            or "type=semver" in rule or "type=pep440" in rule)


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


def credentials(settings: Settings, image: str,
                docker_login: DockerLogin | None) -> Credentials | None:
    """The `registries:` entry for the image's host, else what `docker login` stored."""
    host = parse_image(image).host
    found = settings.credentials_for(image)
    if found is None and docker_login is not None:
        found = docker_login(host)
    if found is None and is_ecr(host):
        found = ecr_credentials(host)
    return found


def preflight(settings: Settings, release: Release, *, connect: Connect | None = None,
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
    for tag in release.release_tags:
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
    lines = [f"{image}: {problem}" for image, problem in problems.items()]
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
    pushed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    error: PublishError | None = None


def publish(settings: Settings, release: Release, engine: Pusher, *, log: Log = _quiet,
            connect: Connect | None = None, sleep: Sleep = time.sleep,
            docker_login: DockerLogin | None = None) -> tuple[RegistryResult, ...]:
    """Release tags everywhere, then floating tags everywhere; see the module docstring."""
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
            list(pool.map(lambda landing: _release(landing, settings, release, engine, log,
                                                   policy, sleep), landings))
            if all(landing.error is None for landing in landings):
                list(pool.map(lambda landing: _floating(landing, settings, release, log),
                              landings))
    finally:
        for landing in landings:
            landing.client.close()
    return tuple(_result(landing, release) for landing in landings)


def _release(landing: _Landing, settings: Settings, release: Release, engine: Pusher,
             log: Log, policy: RetryPolicy, sleep: Sleep) -> None:
    name = parse_image(landing.image)
    client = landing.client
    if landing.error is not None:
        return
    try:
        existing: dict[str, str | None] = {}
        for tag in release.release_tags:
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
        to_write = [t for t in release.release_tags if t not in existing or t in other]
        for tag in release.release_tags:
            if tag not in to_write:
                landing.skipped.append((tag, "already published: it holds this revision"))
        if to_write:
            log(f"pushing {name.reference(to_write[0])}")
            digest = _push(engine, landing.image, to_write[0], landing.credentials, log,
                           policy, sleep)
            landing.pushed.append(to_write[0])
            landing.source = client.get_manifest(name.path, digest)
        else:
            landing.source = client.get_manifest(name.path, release.release_tags[0])
        if landing.source is None:
            raise RegistryError(name.host, f"{name.path} has no manifest for what was "
                                "just pushed", hint="the registry lost the push; run again")
        for tag in to_write[1:]:
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
            outcome = engine.push(image, tag, login, log=log)
        except PublishError as exc:
            if attempt > policy.retries or not _TRANSIENT_PUSH.search(exc.message):
                raise
            delay = policy.delay(attempt)
            log(f"push of {image}:{tag} failed ({exc.message}); retrying in {delay:.1f}s")
            sleep(delay)
            continue
        digest: str = outcome.digest
        return digest


def _floating(landing: _Landing, settings: Settings, release: Release, log: Log) -> None:
    name = parse_image(landing.image)
    client = landing.client
    source = landing.source
    if source is None:  # _release sets it whenever it ends without an error
        return
    try:
        for tag in release.floating_tags:
            current = client.head_manifest(name.path, tag.name)
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
