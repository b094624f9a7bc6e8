"""One image name's repository as publishing sees it: what a tag points at, and which
build an image is (its version and revision), read from the registry and cached by
digest for the run (a digest's content never changes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.names import parse_image
from dockyard.publish.copy import children
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
    _manifests: dict[str, Manifest] = field(default_factory=dict)  # by digest

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
        """The manifest under a tag or digest; one read per digest for the run."""
        known = self._manifests.get(reference)
        if known is not None:
            return known
        found = self.client.get_manifest(self.path, reference)
        if found is not None:
            self._manifests[found.digest] = found
        return found

    def put(self, tag: str, manifest: Manifest) -> None:
        self.client.put_manifest(self.path, tag, manifest)

    def identity(self, digest: str, known: Manifest | None = None) -> Identity:
        """The version and revision of the image `digest`: an image's manifest
        annotations, else its config labels; an index's own annotations, else (an index
        from elsewhere, which has none) its first image's."""
        cached = self._identities.get(digest)
        if cached is not None:
            return cached
        if known is not None and known.digest == digest:
            self._manifests[digest] = known
        manifest = self.manifest(digest)
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
        found = _named(data.get("annotations"))
        if found.version or found.revision:
            return found
        if manifest.is_index:
            listed = children(manifest)
            child = self.manifest(listed[0]) if listed else None
            if child is None or child.is_index:
                return Identity(None, None)
            return self._identity_of(child)
        config = self.client.image_config(self.path, manifest).get("config")
        return _named(config.get("Labels") if isinstance(config, dict) else None)


def _named(values: object) -> Identity:
    """The version and revision in a mapping of labels or annotations (any other shape,
    as a hostile registry may serve, names neither)."""
    if not isinstance(values, dict):
        return Identity(None, None)
    version, revision = values.get(VERSION_LABEL), values.get(REVISION_LABEL)
    return Identity(version if isinstance(version, str) and version else None,
                    revision if isinstance(revision, str) and revision else None)
