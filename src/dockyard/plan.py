"""The plan: version, tags and labels for a context. Pure, and light to import.

`dockyard plan` needs nothing else, so this module imports neither docker-py nor an HTTP
library (the pipeline, which does, re-exports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import tagging
from dockyard.context import Context
from dockyard.labels import oci_labels
from dockyard.names import parse_image
from dockyard.settings import Settings


@dataclass(frozen=True)
class Plan:
    version: str | None
    images: tuple[str, ...]
    tags: tuple[tagging.PlannedTag, ...]
    skipped: tuple[tagging.SkippedRule, ...]
    labels: Mapping[str, str]
    context: Context

    def references(self) -> list[str]:
        """Full references, image by image, each in tag priority order."""
        return [parse_image(image).reference(t.name) for image in self.images for t in self.tags]

    def to_dict(self) -> dict[str, Any]:
        explain: list[dict[str, Any]] = [
            {"tag": t.name, "rule": t.rule, "priority": t.priority, "kind": t.kind.value,
             "floating": t.floating}
            for t in self.tags
        ]
        explain += [{"tag": None, "rule": s.rule, "reason": s.reason} for s in self.skipped]
        return {
            "version": self.version,
            "tags": self.references(),
            "labels": dict(self.labels),
            "context": self.context.to_dict(),
            "explain": explain,
        }


def make_plan(settings: Settings, context: Context) -> Plan:
    """Version, tags and labels for this context. Pure."""
    tags = tagging.compute_tags(settings.tag_rules, settings.flavor, context)
    title = context.repository.rsplit("/", 1)[-1] if context.repository else None
    title = title or parse_image(settings.images[0]).path.rsplit("/", 1)[-1]
    labels = oci_labels(context, tags.version, title=title)
    labels.update(settings.labels)
    return Plan(version=tags.version, images=settings.images, tags=tags.tags,
                skipped=tags.skipped, labels=labels, context=context)
