"""`dockyard merge`: one multi-platform index from per-platform images (by digest),
published with this build's tag plan. The index carries the plan's version and revision
as its own annotations, which is what the guards read of it."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from dockyard.errors import InputError, PublishError
from dockyard.names import image_problem, parse_image
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
from dockyard.publish.copy import copy_manifest
from dockyard.publish.order import Landing, Upload
from dockyard.publish.promote import publish_manifest, split_reference
from dockyard.publish.release import Outcome, Release
from dockyard.registry import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    REVISION_LABEL,
    VERSION_LABEL,
    Manifest,
    digest_of,
)


def merge(settings: Target, release: Release, sources: Sequence[str], *, log: Log = quiet,
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
    index_json: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type,
                                     "manifests": entries}
    annotations = {each.key: each.value for each in release.annotations
                   if each.level == "index"}
    annotations.update({key: value for key, value in ((VERSION_LABEL, release.version),
                                                      (REVISION_LABEL, release.revision))
                        if value})
    if annotations:  # what the guards read of an index: never a child's labels or tags
        index_json["annotations"] = annotations
    content = json.dumps(index_json, indent=2).encode()
    index = Manifest(content=content, media_type=media_type, digest=digest_of(content))
    log(f"index {index.digest}: " + ", ".join(platforms))
    upload = _copier(settings, connect, children, index, log, sleep, docker_login)
    return publish_manifest(settings, release, index.digest, log, connect, sleep,
                            docker_login, upload=upload)


def _copier(settings: Target, connect: Connect, sources: Sequence[tuple[str, Manifest]],
            top: Manifest, log: Log, sleep: Sleep, docker_login: DockerLogin | None) -> Upload:
    """An Upload that copies `sources` ((image name, manifest)) and then `top` by digest."""
    policy = retry_policy(settings)

    def upload(landing: Landing) -> Manifest:
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


