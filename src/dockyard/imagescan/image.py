"""The image walk: from an OCI layout's index.json or a docker-archive's manifest.json,
through each index and manifest (every platform, attestation manifests too), to each
config and layer, naming every finding by platform, layer digest and the instruction
(from the config's history) that made the layer.

Two ways in: `scan_layout` reads an OCI image layout directory (what a buildx build
exports) blob by blob as the walk reaches them; `scan_archive` reads what an engine's
`save` streams (docker-archive from the classic store, an OCI layout in a tar from the
containerd store), every file once as it goes by, and then walks what it read.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dockyard import secrets
from dockyard.errors import DockyardError
from dockyard.imagescan.blob import _Blob, _forget_members, _scan_blob
from dockyard.imagescan.forms import Needles, needles
from dockyard.imagescan.report import ScanReport
from dockyard.imagescan.streams import _chunk_reader, _prefetched

_FILES_SHOWN = 5
_QUOTED_MAX = 120
_INDEXES = ("application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json")


def scan_layout(path: Path, found: Needles | None = None) -> ScanReport:
    """Scan the OCI image layout at `path`: index.json, then every manifest it reaches
    (each platform of an index, attestation manifests too), their configs and layers."""
    found = needles() if found is None else found
    if not found:
        return ScanReport()
    root = Path(path)
    scanned: dict[str, _Blob] = {}

    def blob(name: str) -> _Blob | None:
        if name not in scanned:
            file = root / name
            if not file.is_file():
                return None
            with file.open("rb") as stream:
                scanned[name] = _scan_blob(stream, found)
        return scanned[name]

    index = blob("index.json")
    if index is None or not isinstance(index.document, dict):
        raise DockyardError(f"{root} is not an OCI image layout: it has no readable "
                            "index.json", hint="export the image with `--output type=oci`")
    return _Image(blob).walk_layout(index)


def scan_archive(chunks: Iterable[bytes], found: Needles | None = None) -> ScanReport:
    """Scan what `docker save` writes (a tar, given as chunks of bytes): every file in it
    once, as it streams by, then the image is walked from index.json (an OCI layout) or
    manifest.json (a docker-archive) to name what was found."""
    found = needles() if found is None else found
    if not found:
        return ScanReport()
    scanned: dict[str, _Blob] = {}
    ahead = _prefetched(chunks)
    try:
        with tarfile.open(fileobj=_chunk_reader(ahead), mode="r:") as archive:
            while (member := archive.next()) is not None:
                _forget_members(archive)
                stream = archive.extractfile(member) if member.isfile() else None
                if stream is not None:
                    scanned[_normal(member.name)] = _scan_blob(stream, found)
    except (tarfile.TarError, OSError) as exc:
        raise DockyardError(f"the engine's export of the image cannot be read as a tar "
                            f"({type(exc).__name__}): it cannot be scanned, so it is not "
                            "pushed") from exc
    finally:
        ahead.close()  # the reading thread stops, whatever happened
    image = _Image(scanned.get)
    if "index.json" in scanned:
        return image.walk_layout(scanned["index.json"])
    if "manifest.json" in scanned:
        return image.walk_archive(scanned["manifest.json"])
    raise DockyardError("the engine's export of the image holds neither index.json nor "
                        "manifest.json: it cannot be scanned, so it is not pushed")


def _normal(name: str) -> str:
    return name.removeprefix("./")


class _Image:
    """Walks an image from its top (index.json or manifest.json) to every blob, and turns
    each blob's hits into findings that name the platform, layer and instruction."""

    def __init__(self, blob: Callable[[str], _Blob | None]) -> None:
        self._blob = blob
        self._findings: list[str] = []
        self._skipped: list[str] = []
        self._seen: set[str] = set()  # blobs counted (and their skips noted) once
        self._visited: set[str] = set()  # manifests walked once, however often reached
        self._blobs = 0
        self._bytes = 0

    def report(self) -> ScanReport:
        return ScanReport(tuple(self._findings), tuple(self._skipped), self._blobs,
                          self._bytes)

    def _get(self, name: str, what: str) -> _Blob | None:
        blob = self._blob(name)
        if name in self._seen:
            return blob
        self._seen.add(name)
        if blob is None:
            self._skipped.append(f"{what}: not in the image's export")
            return None
        self._blobs += 1
        self._bytes += blob.size
        if blob.skipped:
            self._skipped.append(f"{what}: {blob.skipped}")
        return blob

    def walk_layout(self, index: _Blob) -> ScanReport:
        self._seen.add("index.json")
        self._note(index, "index.json")
        for descriptor in _descriptors(index.document, "manifests"):
            self._descriptor(descriptor, "")
        return self.report()

    def walk_archive(self, manifest: _Blob) -> ScanReport:
        """A docker-archive: manifest.json lists each image's config and layer files."""
        self._seen.add("manifest.json")
        self._note(manifest, "manifest.json")
        entries = manifest.document if isinstance(manifest.document, list) else []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            config_name = str(entry.get("Config") or "")
            config = self._get(_normal(config_name), f"the config {config_name}")
            layers = [str(name) for name in entry.get("Layers") or ()]
            self._image("", config, _digest_of(config_name), [
                (name, self._get(_normal(name), f"layer {name}")) for name in layers])
        return self.report()

    def _descriptor(self, descriptor: Mapping[str, Any], platform: str) -> None:
        digest = str(descriptor.get("digest") or "")
        media_type = str(descriptor.get("mediaType") or "")
        platform = _platform(descriptor) or platform
        where = f"{platform}: " if platform else ""
        annotations = descriptor.get("annotations") or {}
        if isinstance(annotations, dict) and \
                annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            where = f"attestation of {annotations.get('vnd.docker.reference.digest')}: "
        blob = self._get(_blob_path(digest), f"{where}manifest {digest}")
        if blob is None or digest in self._visited:
            return
        self._visited.add(digest)
        self._note(blob, f"{where}{'index' if media_type in _INDEXES else 'manifest'} {digest}")
        document = blob.document if isinstance(blob.document, dict) else {}
        if media_type in _INDEXES or "manifests" in document:
            for child in _descriptors(document, "manifests"):
                self._descriptor(child, platform)
            return
        config_descriptor = document.get("config") or {}
        config_digest = str(config_descriptor.get("digest") or "") \
            if isinstance(config_descriptor, dict) else ""
        config = self._get(_blob_path(config_digest), f"{where}config {config_digest}")
        layers = [(str(layer.get("digest") or ""),
                   self._get(_blob_path(str(layer.get("digest") or "")),
                             f"{where}layer {layer.get('digest')}"))
                  for layer in _descriptors(document, "layers")]
        self._image(where, config, config_digest, layers)

    def _note(self, blob: _Blob, what: str) -> None:
        if blob.hits:
            self._findings.append(f"{what}: {', '.join(blob.hits[:_FILES_SHOWN])}")

    def _image(self, where: str, config: _Blob | None, config_digest: str,
               layers: list[tuple[str, _Blob | None]]) -> None:
        """One platform's image: its config's hits by field, its layers' by file, each
        layer with the instruction (from the history) that made it."""
        document = config.document if config is not None and \
            isinstance(config.document, dict) else {}
        if config is not None and config.hits:
            fields = [_config_place(document, place) for place in config.hits]
            self._findings.append(f"{where}the image config {config_digest}: "
                                  + "; ".join(dict.fromkeys(fields[:_FILES_SHOWN])))
        made_by = _layer_instructions(document, len(layers))
        diff_ids = (document.get("rootfs") or {}).get("diff_ids") or []
        for number, (digest, layer) in enumerate(layers, 1):
            if layer is None or not layer.hits:
                continue
            if not digest.startswith("sha256:"):  # a docker-archive's file: its diff id
                digest = f"uncompressed {diff_ids[number - 1]}" \
                    if len(diff_ids) == len(layers) else digest
            by = f", made by `{made_by[number - 1]}`" if made_by else ""
            shown = layer.hits[:_FILES_SHOWN]
            more = len(layer.hits) - len(shown)
            self._findings.append(
                f"{where}layer {number} of {len(layers)} ({digest}{by}): "
                + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))


def _descriptors(document: Any, key: str) -> list[Mapping[str, Any]]:
    items = document.get(key) if isinstance(document, dict) else None
    return [item for item in items or () if isinstance(item, dict)] \
        if isinstance(items, list) else []


def _platform(descriptor: Mapping[str, Any]) -> str:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict) or platform.get("os") == "unknown":
        return ""
    parts = [str(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k)]
    return "/".join(parts)


def _blob_path(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"blobs/{algorithm}/{encoded}"


def _digest_of(name: str) -> str:
    """The digest a docker-archive's file name stands for (`<hex>.json`, `<hex>/layer.tar`,
    `blobs/sha256/<hex>`)."""
    stem = name.removeprefix("blobs/sha256/").removesuffix(".json").removesuffix("/layer.tar")
    return f"sha256:{stem}" if len(stem) == 64 else name


def _config_place(config: Mapping[str, Any], place: str) -> str:
    """`config.Env[1]` as `ENV NPM_TOKEN`, `history[3].created_by` as the instruction."""
    head, _, rest = place.partition("[")
    index_text = rest.partition("]")[0]
    index = int(index_text) if index_text.isdigit() else -1
    if head == "config.Env" and index >= 0:
        entries = (config.get("config") or {}).get("Env") or []
        name = str(entries[index]).partition("=")[0] if index < len(entries) else ""
        return f"ENV {secrets.redact(name)}" if name else "ENV"
    if head.startswith("config.Labels."):
        return f"LABEL {head.removeprefix('config.Labels.')}"
    if head == "history" and index >= 0:
        history = config.get("history") or []
        if index < len(history) and isinstance(history[index], dict):
            return f"the instruction `{_instruction(history[index])}`"
    return place


def _layer_instructions(config: Mapping[str, Any], count: int) -> list[str]:
    """The instruction behind each layer: the history entries that made a layer
    (`empty_layer` unset), in order; nothing when their number does not match."""
    history = [entry for entry in config.get("history") or ()
               if isinstance(entry, dict) and not entry.get("empty_layer")]
    if len(history) != count:
        return []
    return [_instruction(entry) for entry in history]


def _instruction(entry: Mapping[str, Any]) -> str:
    text = str(entry.get("created_by") or entry.get("comment") or "?")
    text = " ".join(secrets.redact(text).removeprefix("/bin/sh -c #(nop) ").split())
    return text if len(text) <= _QUOTED_MAX else text[:_QUOTED_MAX] + "..."
