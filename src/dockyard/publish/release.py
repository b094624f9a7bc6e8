"""What is published (a Release) and what came of it (a RegistryResult per image name,
an Outcome for promote and merge): typed values that the CLI renders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard import versions
from dockyard.annotations import Annotation
from dockyard.errors import InputError, PublishError
from dockyard.registry import REVISION_LABEL
from dockyard.tagging import PlannedTag, TagKind

if TYPE_CHECKING:
    import semver

HELD_FOR_OTHERS = "held back: the release did not land on every registry"


@dataclass(frozen=True)
class Release:
    """What is being published: the images, the planned tags, and who this build is."""

    images: tuple[str, ...]
    tags: tuple[PlannedTag, ...]
    version: str | None
    revision: str | None
    # What publishing writes into the manifest or index it pushes; () when not asked for
    annotations: tuple[Annotation, ...] = ()

    @classmethod
    def of(cls, plan: Any) -> Release:
        """From a pipeline.Plan: its images and tags, this build's version and revision."""
        if not plan.tags:
            from dockyard.emptyplan import why_no_tags

            message, hint = why_no_tags(plan.context, plan.skipped)
            raise InputError(message, hint=hint)
        return cls(images=tuple(plan.images), tags=tuple(plan.tags), version=plan.version,
                   revision=plan.labels.get(REVISION_LABEL) or None,
                   annotations=tuple(plan.annotations) if plan.annotate else ())

    @property
    def semver(self) -> semver.Version | None:
        """This build's version as a version, when it is one (`1.2.3`, `v1.2`)."""
        return versions.parse(self.version, partial=True)

    @property
    def immutable_tags(self) -> list[str]:
        """The tags that are never rewritten: the plan's release tags."""
        return [t.name for t in self.tags if t.kind is TagKind.RELEASE]

    @property
    def release_tags(self) -> list[str]:
        """The tags that land first when the engine pushes; when the plan has no release
        tag, its first tag carries the push (a branch build's channel)."""
        return self.anchors(by_engine=True)

    def anchors(self, *, by_engine: bool) -> list[str]:
        """The tags that land first: the release tags, and the tag the engine pushes
        under when it pushes (a copy goes by digest and needs none)."""
        if by_engine:
            return self.immutable_tags or [t.name for t in self.tags[:1]]
        return self.immutable_tags

    @property
    def floating_tags(self) -> list[PlannedTag]:
        return self.following(self.release_tags)

    def following(self, anchors: Sequence[str]) -> list[PlannedTag]:
        """The tags that move once `anchors` landed everywhere."""
        return [t for t in self.tags if t.name not in anchors]


@dataclass(frozen=True)
class Restored:
    """A floating tag put back where it was after the floating phase failed elsewhere."""

    tag: str
    digest: str | None  # what it points at again; None when it did not exist before
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "digest": self.digest, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class RegistryResult:
    name: str  # the image name as configured
    status: str  # "pushed", "partial", "failed" or "not pushed"
    digest: str | None = None
    pushed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (tag, reason)
    error: str | None = None
    forced: tuple[tuple[str, str], ...] = ()  # (tag, the guard --force overrode)
    notes: tuple[tuple[str, str], ...] = ()  # (tag, what is worth knowing: a rollback...)
    restored: tuple[Restored, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "digest": self.digest,
            "pushed": list(self.pushed),
            "skipped": [{"tag": tag, "reason": reason} for tag, reason in self.skipped],
            "error": self.error,
            "forced": [{"tag": tag, "overrode": what} for tag, what in self.forced],
            "notes": [{"tag": tag, "note": note} for tag, note in self.notes],
            "restored": [r.to_dict() for r in self.restored],
        }


@dataclass(frozen=True)
class Published:
    """What `publish` did: one result per image name, and which image the release is."""

    registries: tuple[RegistryResult, ...]
    image_id: str | None = None  # the published image: this run's build, or an earlier one


@dataclass(frozen=True)
class Outcome:
    """What promote and merge did: the digest published and the per-registry results."""

    digest: str | None
    registries: tuple[RegistryResult, ...]
    error: PublishError | None = None

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0

    def to_dict(self) -> dict[str, Any]:
        return {"status": "failed" if self.error else "success", "digest": self.digest,
                "registries": [r.to_dict() for r in self.registries],
                "error": str(self.error) if self.error else None}


def summary(results: Sequence[RegistryResult]) -> PublishError | None:
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return None
    return PublishError(
        "; ".join(f"{r.name}: {r.error}" for r in failed),
        hint="fix the registry and run again: release tags already there are recognised "
             "as already published and left alone")
