"""`dockyard promote`: more tags for an image already in a registry, or copies of it in
other registries, by digest. The same preflight, order, kinds and guards as `run`: each
target tag's kind comes from its name (a full version is a release, `latest` and `1` or
`1.2` version lines, anything else a channel)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from dockyard.errors import InputError, PublishError
from dockyard.names import image_problem, parse_image, tag_problem
from dockyard.publish.connect import (
    Connect,
    DockerLogin,
    Log,
    Sleep,
    Target,
    connector,
    credentials,
    quiet,
)
from dockyard.publish.order import Source, Upload, publish
from dockyard.publish.policy import promoted_tag
from dockyard.publish.preflight import preflight, preflight_error, preflight_results
from dockyard.publish.release import Outcome, Release, summary
from dockyard.publish.repository import Identity, Repository
from dockyard.registry import Manifest


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
           docker_login: DockerLogin | None) -> tuple[Manifest, Identity]:
    name = parse_image(image)
    with connect(name.host, credentials(settings, image, docker_login)) as client:
        manifest = client.get_manifest(name.path, ref)
        if manifest is None:
            joint = "@" if ref.startswith("sha256:") else ":"
            raise PublishError(f"{image}{joint}{ref} does not exist",
                               hint="check the reference, and that the image was pushed there")
        identity = Repository(image, client).identity(manifest.digest, manifest)
    return manifest, identity


def promote(settings: Target, source: str, targets: Sequence[str], *, log: Log = quiet,
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
        problem = tag_problem(tag)
        if problem:  # before anything is read or written: the registry's answer says less
            raise InputError(f"target '{target}': {problem}")
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
        missing = "; ".join(f"{i} is not given {', '.join(t for t in tags if t not in wanted[i])}"
                            for i in uneven)
        raise InputError(f"promote writes one set of tags to every target repository, and "
                         f"these targets ask for different ones ({missing})",
                         hint="give every repository the same tags, or run promote once "
                              "per set of tags")
    manifest, identity = _fetch(settings, connect, image, ref, docker_login)
    release = Release(images=tuple(images),
                      tags=tuple(promoted_tag(t, i) for i, t in enumerate(tags)),
                      version=identity.version, revision=identity.revision)
    return publish_manifest(settings, release, manifest.digest, log, connect, sleep,
                            docker_login, copy_from=(image, manifest))


def publish_manifest(settings: Target, release: Release, digest: str, log: Log,
                     connect: Connect, sleep: Sleep, docker_login: DockerLogin | None, *,
                     upload: Upload | None = None, copy_from: Source | None = None,
                     ) -> Outcome:
    problems = preflight(settings, release, connect=connect, log=log,
                         docker_login=docker_login)
    if problems:
        return Outcome(None, preflight_results(release, problems),
                       preflight_error(problems, "nothing was written"))
    published = publish(settings, release, None, log=log, connect=connect, sleep=sleep,
                        docker_login=docker_login, upload=upload, copy_from=copy_from)
    landed = next((r.digest for r in published.registries if r.digest), digest)
    return Outcome(landed, published.registries, summary(published.registries))
