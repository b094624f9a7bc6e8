"""A local OCI image layout (what `buildx --output type=oci,tar=false` writes) as a source
for the copy engine: manifests and blobs are read from its `blobs/` directory, exactly as
`copy` reads them from a registry, so a layout lands in a registry by the same code (blobs
the registry has are skipped, an index brings its children and attestations).

https://github.com/opencontainers/image-spec/blob/main/image-layout.md
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from dockyard.registry import MANIFEST_TYPES, OCI_MANIFEST, Manifest, RegistryError, digest_of

_CHUNK = 64 * 1024
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_MANIFEST = 4 * 1024 * 1024


class Layout:
    """An OCI image layout directory holding one image (or index) at the top of its
    index.json. `repository` arguments are ignored: a layout holds one repository."""

    host = "oci-layout"  # never a registry's host: the copy engine mounts nothing from it

    def __init__(self, root: Path) -> None:
        self.root = root

    def image(self) -> Manifest:
        """The image the layout holds: the first entry of its index.json."""
        try:
            index = json.loads((self.root / "index.json").read_bytes())
            entry = index["manifests"][0]
            digest = entry["digest"]
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._broken(f"its index.json names no image ({type(exc).__name__})") \
                from None
        found = self.get_manifest("", str(digest), media_type=entry.get("mediaType"))
        if found is None:
            raise self._broken(f"it lacks {digest}, the image its index.json names")
        return found

    def get_manifest(self, repository: str, reference: str, *,
                     media_type: str | None = None) -> Manifest | None:
        path = self._blob(reference)
        if path is None or not path.is_file():
            return None
        content = path.read_bytes()[:_MAX_MANIFEST + 1]
        if len(content) > _MAX_MANIFEST or digest_of(content) != reference:
            raise self._broken(f"the blob {reference[:19]} does not match its digest")
        kind = media_type
        if kind not in MANIFEST_TYPES:
            try:
                declared = json.loads(content).get("mediaType")
            except (ValueError, AttributeError):
                declared = None
            kind = declared if declared in MANIFEST_TYPES else OCI_MANIFEST
        return Manifest(content=content, media_type=str(kind), digest=reference)

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        path = self._blob(digest)
        if path is None:
            raise self._broken(f"'{digest[:30]}' is not a sha256 digest")
        try:
            file = path.open("rb")
        except OSError as exc:
            raise self._broken(f"cannot read the blob {digest[:19]}: {exc.strerror}") from None
        with file:
            yield iter(lambda: file.read(_CHUNK), b"")

    def _blob(self, digest: str) -> Path | None:
        if not _DIGEST.fullmatch(digest):
            return None
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def _broken(self, problem: str) -> RegistryError:
        return RegistryError(self.host, f"the build's OCI layout at {self.root} is broken: "
                                        f"{problem}", hint="build again")
