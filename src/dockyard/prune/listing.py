"""A repository's complete listing for prune: every tag (all pages), the digest each
points at, and for each digest its age, version and platform images.

Complete or nothing: a page, a HEAD or a manifest that cannot be read raises, and the
repository is skipped whole. Age comes from the `org.opencontainers.image.created`
label (or an index's annotation) first: it is what the build says it is (Dockyard and
metadata-action write it from SOURCE_DATE_EPOCH or the clock). The image config's
`created` is read only when there is no label: reproducible builders (ko, Bazel, Nix,
BuildKit with SOURCE_DATE_EPOCH rewriting) set it to 1970 or to the commit time, so a
config date before 1980 counts as unknown, and an unknown age is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from dockyard.prune.decide import CREATED_LABEL, Image, Listing
from dockyard.publish.copy import children
from dockyard.registry import VERSION_LABEL, Manifest, RegistryClient, RegistryError, digest_of

Log = Callable[[str], None]
_TAG_PAGE = 1000
_PROGRESS_EVERY = 100
_PARALLEL = 8  # requests at a time: the listing waits on the network, not the CPU
_PLAUSIBLE = datetime(1980, 1, 2, tzinfo=timezone.utc)  # before it, a date is a placeholder
_AGAIN = ("another job pushed or deleted meanwhile: nothing was deleted here; run prune "
          "again (where no publish runs at the same time)")


def read_listing(client: RegistryClient, path: str, log: Log) -> Listing:
    tags = sorted(set(client.tags(path, page_size=_TAG_PAGE)))
    log(f"{client.host}/{path}: {len(tags)} tag(s) listed")
    manifests: dict[str, Manifest] = {}
    done = [0]

    def pointer(tag: str) -> tuple[str, str]:
        done[0] += 1
        if done[0] % _PROGRESS_EVERY == 0:
            log(f"{client.host}/{path}: read {done[0]}/{len(tags)} tags")
        found = client.head_manifest(path, tag)
        digest = found.digest if found is not None else ""
        if found is not None and not digest.startswith("sha256:"):
            manifest = client.get_manifest(path, tag)  # a registry that sends no digest
            if manifest is not None:
                manifests[manifest.digest] = manifest
                digest = manifest.digest
        if found is None or not digest:
            raise RegistryError(client.host, f"listed {path}:{tag} but does not serve it",
                                hint=_AGAIN)
        return tag, digest

    images: dict[str, Image] = {}
    # The first request alone: the client logs in once, not once per thread.
    pointers = dict(pointer(tag) for tag in tags[:1])
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        pointers.update(pool.map(pointer, tags[1:]))
        list(pool.map(lambda digest: _read_image(client, path, digest, manifests, images),
                      dict.fromkeys(pointers.values())))
    return Listing(tags=pointers, images=images)


def _read_image(client: RegistryClient, path: str, digest: str,
                manifests: dict[str, Manifest], images: dict[str, Image]) -> Image:
    known = images.get(digest)
    if known is not None:
        return known
    manifest = manifests.get(digest) or client.get_manifest(path, digest)
    if manifest is None or digest_of(manifest.content) != digest:
        raise RegistryError(client.host, f"cannot read {path}@{digest[:19]}, which a tag or "
                            "an index names", hint="the repository is incomplete: fix it or "
                            "run prune again")
    annotations = _strings(manifest.json().get("annotations"))
    if manifest.is_index:
        listed = tuple(children(manifest))
        created, source = _date(annotations.get(CREATED_LABEL)), "label"
        version = annotations.get(VERSION_LABEL)
        first = None
        for child in listed:  # every platform image is read: it may be protected
            image = _read_image(client, path, child, manifests, images)
            first = first or image
        if created is None and first is not None:
            created, source = first.created, first.created_from
        version = version or (first.version if first else None)
        found = Image(digest, created, source if created else "unknown", version, listed)
    else:
        config = client.image_config(path, manifest)
        inner = config.get("config")
        labels = _strings(inner.get("Labels") if isinstance(inner, dict) else None)
        created, source = _date(labels.get(CREATED_LABEL)), "label"
        if created is None:
            created, source = _date(config.get("created")), "config"
        found = Image(digest, created, source if created else "unknown",
                      annotations.get(VERSION_LABEL) or labels.get(VERSION_LABEL))
    images[digest] = found
    return found


def _strings(values: Any) -> dict[str, str]:
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}


def _date(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when if when >= _PLAUSIBLE else None


def recheck(client: RegistryClient, path: str, listing: Listing,
            moving: Iterable[str]) -> None:
    """Raise unless the repository still has the tags it was listed with, and each tag
    in `moving` (the kept tags that can move: channels, version lines, unknown ones)
    still names the same image: right before deleting, so that a tag moved onto an
    image since the listing is not deleted with it."""
    now = set(client.tags(path, page_size=_TAG_PAGE))
    if now != set(listing.tags):
        raise RegistryError(client.host, f"the tags of {path} changed while prune ran "
                            f"({len(now ^ set(listing.tags))} added or removed)",
                            hint=_AGAIN)
    for tag in moving:
        found = client.head_manifest(path, tag)
        if found is None or (found.digest and found.digest != listing.tags[tag]):
            raise RegistryError(client.host, f"{path}:{tag} moved while prune ran",
                                hint=_AGAIN)

