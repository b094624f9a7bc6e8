"""The plan: version, tags and labels for a context. Pure, and light to import.

`dockyard plan` needs nothing else, so this module imports neither docker-py nor an HTTP
library (the pipeline, which does, re-exports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import tagging
from dockyard.annotations import Annotation, for_levels
from dockyard.context import Context
from dockyard.errors import InputError
from dockyard.labels import merged, oci_labels
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
    # metadata-action's annotations: what a buildx backend passes as --annotation, and
    # what publishing writes into the manifests and the index
    annotations: tuple[Annotation, ...] = ()
    annotate: bool = False  # the user asked for them: publishing writes them in

    def tag_names(self) -> list[str]:
        """The tags without image names (metadata-action's `tag-names`)."""
        return [t.name for t in self.tags]

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
            "images": list(self.images),
            "tags": self.references(),
            "tag-names": self.tag_names(),
            "labels": dict(self.labels),
            "annotations": [str(a) for a in self.annotations],
            "context": self.context.to_dict(),
            "explain": explain,
        }


def make_plan(settings: Settings, context: Context) -> Plan:
    """Version, tags and labels for this context. Pure."""
    tags = tagging.compute_tags(settings.tag_rules, settings.flavor, context)
    title = context.repository.rsplit("/", 1)[-1] if context.repository else None
    title = title or parse_image(settings.images[0]).path.rsplit("/", 1)[-1]
    generated = oci_labels(context, tags.version, title=title)
    labels = merged(generated, _rendered(settings.labels, "labels", context))
    extra = _rendered(settings.annotations, "annotations", context)
    annotations = for_levels(merged(generated, extra), settings.annotation_levels)
    return Plan(version=tags.version, images=settings.images, tags=tags.tags,
                skipped=tags.skipped, labels=labels, context=context,
                annotations=annotations, annotate=settings.apply_annotations)


def _rendered(values: Mapping[str, str], key: str, context: Context) -> dict[str, str]:
    """Label or annotation values with metadata-action's global expressions rendered."""
    rendered: dict[str, str] = {}
    problems: list[str] = []
    for name, text in values.items():
        try:
            rendered[name] = tagging.render_global(text, context)
        except ValueError as exc:
            problems.append(f"{key}.{name}: {exc}")
    if problems:
        raise InputError("; ".join(problems), hint=f"fix the expressions in `{key}:`; the "
                         "ones tags use are allowed ({{branch}}, {{sha}}, {{date 'FORMAT'}}...)")
    return rendered
