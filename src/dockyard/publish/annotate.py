"""The plan's annotations written into the manifests Dockyard pushes, as buildx writes
them from metadata-action's `annotations` output.

The engine pushes what docker-py builds, and docker-py cannot annotate a manifest. So
when the user asks for annotations (`annotations:` or `annotation_levels:` in dockyard.yml,
or DOCKYARD_ANNOTATIONS / DOCKER_METADATA_ANNOTATIONS_LEVELS), the engine's push is
rewritten in the first registry before anything else lands:

- `manifest`: into each image manifest (a Docker schema 2 manifest becomes its OCI
  equivalent, the same blobs under OCI media types: Docker's format has no annotations);
- `index`: into the index, when the engine pushed one (merge writes its own index's);
- `manifest-descriptor`: onto each image's entry in the index.

An annotation is part of the manifest, so the annotated manifest has another digest than
the engine's push: that digest is the release, the one every registry and every tag gets
("one digest everywhere" holds for the annotated manifest; the engine's own push stays
in the first registry's storage, untagged). Attestation entries keep pointing at the
image they describe. Pure: `annotate` computes, the caller reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.annotations import Annotation
from dockyard.registry import Manifest
from dockyard.registry.client import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, digest_of

__all__ = ["Annotated", "annotate"]

_OCI_TYPES = {
    DOCKER_MANIFEST: OCI_MANIFEST,
    "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip":
        "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}
_REFERENCE_TYPE = "vnd.docker.reference.type"
_REFERENCE_DIGEST = "vnd.docker.reference.digest"


@dataclass(frozen=True)
class Annotated:
    """What to write: `children` by digest first, then `top` under the tag."""

    top: Manifest
    children: tuple[Manifest, ...] = ()


def by_level(annotations: Sequence[Annotation]) -> dict[str, dict[str, str]]:
    levels: dict[str, dict[str, str]] = {}
    for each in annotations:
        levels.setdefault(each.level, {})[each.key] = each.value
    return levels


def annotate(top: Manifest, children: Mapping[str, Manifest],
             annotations: Sequence[Annotation]) -> Annotated | None:
    """`top` (and, for an index, the image manifests in `children`, by digest) with the
    annotations written in; None when there is nothing to write at these levels."""
    levels = by_level(annotations)
    if not top.is_index:
        values = levels.get("manifest")
        return Annotated(image_manifest(top, values)) if values else None
    if not (levels.keys() & {"manifest", "index", "manifest-descriptor"}):
        return None
    index = top.json()
    entries = index.get("manifests")
    entries = entries if isinstance(entries, list) else []
    written: list[Manifest] = []
    renamed: dict[str, str] = {}  # old child digest -> new
    for entry in entries:
        if not isinstance(entry, dict) or _is_attestation(entry):
            continue
        child = children.get(str(entry.get("digest")))
        if child is None or child.is_index:
            continue
        if levels.get("manifest"):
            new = image_manifest(child, levels["manifest"])
            written.append(new)
            renamed[child.digest] = new.digest
            entry.update({"mediaType": new.media_type, "digest": new.digest,
                          "size": len(new.content)})
        if levels.get("manifest-descriptor"):
            entry["annotations"] = {**_mapping(entry.get("annotations")),
                                    **levels["manifest-descriptor"]}
    for entry in entries:  # an attestation names the image it describes by digest
        if isinstance(entry, dict) and _is_attestation(entry):
            notes = _mapping(entry.get("annotations"))
            if notes.get(_REFERENCE_DIGEST) in renamed:
                entry["annotations"] = {**notes,
                                        _REFERENCE_DIGEST: renamed[notes[_REFERENCE_DIGEST]]}
    if levels.get("index"):
        index["annotations"] = {**_mapping(index.get("annotations")), **levels["index"]}
    index["mediaType"] = OCI_INDEX  # a Docker manifest list cannot hold OCI manifests
    content = _serialise(index)
    return Annotated(Manifest(content, OCI_INDEX, digest_of(content)), tuple(written))


def image_manifest(manifest: Manifest, values: Mapping[str, str]) -> Manifest:
    """An image manifest with `values` merged into its annotations, in OCI's format."""
    data = manifest.json()
    data["mediaType"] = OCI_MANIFEST
    for blob in [data.get("config"), *(data.get("layers") or [])]:
        if isinstance(blob, dict) and blob.get("mediaType") in _OCI_TYPES:
            blob["mediaType"] = _OCI_TYPES[blob["mediaType"]]
    data["annotations"] = {**_mapping(data.get("annotations")), **values}
    content = _serialise(data)
    return Manifest(content, OCI_MANIFEST, digest_of(content))


def _is_attestation(entry: Mapping[str, Any]) -> bool:
    return _mapping(entry.get("annotations")).get(_REFERENCE_TYPE) == "attestation-manifest"


def _mapping(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _serialise(data: Mapping[str, Any]) -> bytes:
    """One fixed form, so that every registry (and every re-run) gets the same digest."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode()
