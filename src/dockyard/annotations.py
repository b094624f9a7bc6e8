"""OCI annotations as docker/metadata-action computes them: the generated OCI keys plus
the user's `annotations:`, once per level.

metadata-action's `annotations` output is one `LEVEL:KEY=VALUE` a line, each level of
`DOCKER_METADATA_ANNOTATIONS_LEVELS` (default `manifest`) in turn, keys sorted. The same
list is what buildx takes as `--annotation` (a buildx backend passes `Plan.annotations`
as they are) and what Dockyard writes into the manifests and the index it pushes
(dockyard.publish.annotate). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_LEVELS", "LEVELS", "LEVELS_VARIABLE", "Annotation", "for_levels",
           "level_problems", "parse_levels"]

# buildx's levels; the descriptor levels annotate the entry of a manifest in its index
LEVELS = ("manifest", "index", "manifest-descriptor", "index-descriptor")
DEFAULT_LEVELS = ("manifest",)
LEVELS_VARIABLE = "DOCKER_METADATA_ANNOTATIONS_LEVELS"


@dataclass(frozen=True)
class Annotation:
    level: str  # one of LEVELS
    key: str
    value: str

    def __str__(self) -> str:
        """The form metadata-action outputs and `buildx --annotation` reads."""
        return f"{self.level}:{self.key}={self.value}"


def for_levels(values: Mapping[str, str], levels: Sequence[str]) -> tuple[Annotation, ...]:
    """Every key of `values` (sorted) at each level, level by level."""
    return tuple(Annotation(level, key, values[key]) for level in levels
                 for key in sorted(values))


def parse_levels(text: str) -> tuple[str, ...]:
    """`manifest,index` as a tuple; blanks dropped, repeats kept once, order kept."""
    found: list[str] = []
    for part in text.split(","):
        level = part.strip()
        if level and level not in found:
            found.append(level)
    return tuple(found)


def level_problems(levels: Sequence[str]) -> list[str]:
    return [f"unknown annotation level '{level}'; use {', '.join(LEVELS)}"
            for level in levels if level not in LEVELS]
