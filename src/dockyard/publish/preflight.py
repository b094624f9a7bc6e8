"""The preflight, before the build: can every registry take this push?

Every image name is logged into with push scope (bad credentials, no push permission, an
unknown host and a registry that is down all show here, in seconds), and a release tag
that already holds another revision is refused unless `--force`.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from dockyard.errors import PublishError
from dockyard.names import parse_image
from dockyard.publish.connect import (
    Connect,
    DockerLogin,
    Log,
    Target,
    connector,
    credentials,
    quiet,
)
from dockyard.publish.release import RegistryResult, Release
from dockyard.publish.repository import Repository
from dockyard.registry import RegistryClient, is_ecr, push_scope

_MAX_PARALLEL = 8


def preflight(settings: Target, release: Release, *, connect: Connect | None = None,
              log: Log = quiet, docker_login: DockerLogin | None = None,
              keep: dict[str, RegistryClient] | None = None) -> dict[str, PublishError]:
    """Check every registry before the build; return the problem per image name.

    Logs in with push scope (bad credentials, no push permission, unknown host and a
    registry that is down all show here, in seconds) and refuses a release tag that
    already holds another revision unless `force`. With `keep`, the client of each image
    that passed stays open there, logged in, for `publish` to go on with (its token
    for pull and push then serves the whole publish); the caller closes them.
    """
    connect = connect or connector(settings)

    def check(image: str) -> tuple[PublishError | None, RegistryClient | None]:
        name = parse_image(image)
        try:
            client = connect(name.host, credentials(settings, image, docker_login))
        except PublishError as exc:
            return exc, None
        try:
            client.authenticate([push_scope(name.path)])
            if is_ecr(name.host):
                client.require_repository(name.path)
            if not settings.force:
                _refuse_other_revisions(client, image, release)
        except PublishError as exc:
            client.close()
            return exc, None
        log(f"preflight {image}: ok")
        if keep is None:
            client.close()
            return None, None
        return None, client

    with ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(release.images) or 1)) as pool:
        outcomes = list(pool.map(check, release.images))
    if keep is not None:
        keep.update({image: client for image, (_, client) in
                     zip(release.images, outcomes, strict=True) if client is not None})
    return {image: problem for image, (problem, _) in
            zip(release.images, outcomes, strict=True) if problem is not None}


def _refuse_other_revisions(client: RegistryClient, image: str, release: Release) -> None:
    repo = Repository(image, client)
    for tag, (_, revision) in held_releases(repo, release, repo.tags()).items():
        if revision != release.revision:
            raise other_revision(repo, tag, revision, release)


def held_releases(repo: Repository, release: Release, present: set[str],
                  ) -> dict[str, tuple[str, str | None]]:
    """The release's tags that `present` (the repository's tags) holds: tag -> (digest,
    revision of its image). Tags not present cost no read at all."""
    found = {}
    for tag in release.immutable_tags:
        if tag not in present:  # the usual case for a new version
            continue
        digest = repo.pointer(tag)
        if digest is not None:
            found[tag] = (digest, repo.identity(digest).revision)
    return found


def other_revision(repo: Repository, tag: str, revision: str | None,
                   release: Release) -> PublishError:
    return PublishError(
        f"{repo.reference(tag)} already exists, built from {built_from(revision)}; this "
        f"build is revision {(release.revision or 'unknown')[:12]}. A release tag is never "
        "rewritten", hint="release a new version, or run with --force to overwrite it")


def built_from(revision: str | None) -> str:
    return f"revision {revision[:12]}" if revision else "an unknown revision"


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


def preflight_error(problems: Mapping[str, PublishError],
                    untouched: str = "nothing was built or pushed") -> PublishError:
    """`untouched` says what the command left undone: promote and merge build nothing."""
    lines = [f"{image}: {str(problem).removeprefix(parse_image(image).host + ': ')}"
             for image, problem in problems.items()]
    return PublishError(f"preflight failed, {untouched}:\n  "
                        + "\n  ".join(lines).replace("\n  hint:", "\n    hint:"))
