"""One image name's repository as publishing sees it: what a tag points at, and which
build an image is (its version and revision), read from the registry and cached by
digest for the run (a digest's content never changes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.names import parse_image
from dockyard.registry import (
    REVISION_LABEL,
    VERSION_LABEL,
    Manifest,
    RegistryClient,
)

_TAG_PAGE = 1000  # tags per listing request (registries may return fewer, with a next link)


@dataclass(frozen=True)
class Identity:
    """Which build an image is: its version and git revision, as far as it says."""

    version: str | None
    revision: str | None


@dataclass
class Repository:
    image: str  # the image name as configured
    client: RegistryClient
    _identities: dict[str, Identity] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return parse_image(self.image).path

    def reference(self, tag: str) -> str:
        return parse_image(self.image).reference(tag)

    def tags(self) -> set[str]:
        return set(self.client.tags(self.path, page_size=_TAG_PAGE))

    def pointer(self, tag: str) -> str | None:
        """The digest `tag` points at now, or None when there is no such tag."""
        found = self.client.head_manifest(self.path, tag)
        return found.digest if found is not None and found.digest else None

    def manifest(self, reference: str) -> Manifest | None:
        return self.client.get_manifest(self.path, reference)

    def put(self, tag: str, manifest: Manifest) -> None:
        self.client.put_manifest(self.path, tag, manifest)

    def identity(self, digest: str, known: Manifest | None = None) -> Identity:
        """The version and revision of the image `digest`: an image's config labels (or
        its manifest's annotations), an index's own annotations (a child's labels only
        when the index has none and the child names a version)."""
        cached = self._identities.get(digest)
        if cached is not None:
            return cached
        manifest = known if known is not None and known.digest == digest else \
            self.manifest(digest)
        found = Identity(None, None)
        if manifest is not None:
            found = self._identity_of(manifest)
        self._identities[digest] = found
        return found

    def remember(self, digest: str, identity: Identity) -> None:
        """What this run knows already of an image it publishes."""
        self._identities[digest] = identity

    def _identity_of(self, manifest: Manifest) -> Identity:
        data = manifest.json()
        notes = data.get("annotations") or {}
        version, revision = notes.get(VERSION_LABEL), notes.get(REVISION_LABEL)
        if version or revision:
            return Identity(str(version) if version else None,
                            str(revision) if revision else None)
        if manifest.is_index:
            entries = data.get("manifests") or []
            child = self.manifest(str(entries[0]["digest"])) if entries else None
            if child is None or child.is_index:
                return Identity(None, None)
            return self._identity_of(child)
        labels = (self.client.image_config(self.path, manifest).get("config") or {}) \
            .get("Labels") or {}
        version, revision = labels.get(VERSION_LABEL), labels.get(REVISION_LABEL)
        return Identity(str(version) if version else None, str(revision) if revision else None)
