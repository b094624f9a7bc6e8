"""docker/metadata-action's outputs, from Dockyard's record, so that workflow steps
written for metadata-action read what they expect.

| output                  | value                                                      |
| ----------------------- | ---------------------------------------------------------- |
| `version`               | the version                                                |
| `tags`                  | the planned references (`image:tag`), `sep-tags` between   |
| `tag-names`             | the planned tags without image names, `sep-tags` between   |
| `labels`                | `key=value`, `sep-labels` between                          |
| `annotations`           | `level:key=value`, `sep-annotations` between               |
| `json`                  | the record: a superset of metadata-action's json object    |
| `bake-file-*`           | paths of bake definitions (see `bake_definitions`)         |
| `pushed` (Dockyard's)   | the references that landed, `sep-tags` between             |

`tags` is what the rules planned, as metadata-action defines it; what actually landed in
each registry is `pushed` here and `registries[].pushed` in the record. Each output is
also exported as `DOCKER_METADATA_OUTPUT_<NAME>` (GITHUB_ENV) unless
`DOCKER_METADATA_SET_OUTPUT_ENV=false`. The functions here are pure but `write_bake_files`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import secrets
from dockyard.errors import DockyardError
from dockyard.names import parse_image

__all__ = ["BAKE_KINDS", "DEFAULT_BAKE_TARGET", "Separators", "action_outputs",
           "bake_definitions", "env_name", "write_bake_files"]

DEFAULT_BAKE_TARGET = "docker-metadata-action"
# output name -> file name suffix; "bake-file" is tags, labels and args together
BAKE_KINDS = {"bake-file": "bake", "bake-file-tags": "bake-tags",
              "bake-file-labels": "bake-labels", "bake-file-annotations": "bake-annotations"}


@dataclass(frozen=True)
class Separators:
    """metadata-action's `sep-tags`, `sep-labels` and `sep-annotations` (default a newline;
    an empty input means the default, as there)."""

    tags: str = "\n"
    labels: str = "\n"
    annotations: str = "\n"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Separators:
        def given(name: str) -> str:
            return env.get(name) or "\n"  # not stripped: a space is a separator

        return cls(given("DOCKYARD_SEP_TAGS"), given("DOCKYARD_SEP_LABELS"),
                   given("DOCKYARD_SEP_ANNOTATIONS"))


def action_outputs(record: Mapping[str, Any],
                   separators: Separators | None = None) -> dict[str, str]:
    """version, tags, tag-names, labels, annotations and pushed, as text (newlines between
    items unless `separators` say otherwise)."""
    separators = separators or Separators()
    labels = record.get("labels") or {}
    return {
        "version": record.get("version") or "",
        "tags": separators.tags.join(record.get("tags") or ()),
        "tag-names": separators.tags.join(record.get("tag-names") or ()),
        "labels": separators.labels.join(f"{k}={v}" for k, v in labels.items()),
        "annotations": separators.annotations.join(record.get("annotations") or ()),
        "pushed": separators.tags.join(pushed_references(record)),
    }


def pushed_references(record: Mapping[str, Any]) -> list[str]:
    """`image:tag` for every tag that landed, registry by registry."""
    found: list[str] = []
    for entry in record.get("registries") or ():
        name = parse_image(entry["name"])
        found += [name.reference(tag) for tag in entry.get("pushed") or ()]
    return found


def _images(record: Mapping[str, Any]) -> list[str]:
    if record.get("images"):
        return list(record["images"])
    return [entry["name"] for entry in record.get("registries") or ()]


def bake_definitions(record: Mapping[str, Any],
                     target: str = DEFAULT_BAKE_TARGET) -> dict[str, dict[str, Any]]:
    """The bake files metadata-action writes, by output name: `{"target": {TARGET: ...}}`
    with tags and args, labels, annotations, and all three together (`bake-file`)."""
    tags = {"tags": list(record.get("tags") or ()),
            "args": {"DOCKER_META_IMAGES": ",".join(_images(record)),
                     "DOCKER_META_VERSION": record.get("version") or ""}}
    labels = {"labels": dict(record.get("labels") or {})}
    annotations = {"annotations": list(record.get("annotations") or ())}
    parts = {"bake-file": {"tags": tags["tags"], "labels": labels["labels"],
                           "args": tags["args"]},
             "bake-file-tags": tags, "bake-file-labels": labels,
             "bake-file-annotations": annotations}
    return {name: {"target": {target: body}} for name, body in parts.items()}


def write_bake_files(directory: Path, stem: str, record: Mapping[str, Any],
                     target: str = DEFAULT_BAKE_TARGET) -> dict[str, Path]:
    """Write the bake definitions as `<stem>.<kind>.json` in `directory` (redacted like
    everything that leaves); return their paths by output name."""
    paths: dict[str, Path] = {}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, definition in bake_definitions(record, target).items():
            path = directory / f"{stem}.{BAKE_KINDS[name]}.json"
            text = json.dumps(secrets.redact_data(definition), indent=2)
            path.write_text(text + "\n", encoding="utf-8")
            paths[name] = path
    except OSError as exc:
        raise DockyardError(f"cannot write the bake definitions in {directory}: "
                            f"{exc.strerror}", hint="check that the directory is writable"
                            ) from exc
    return paths


def env_name(output: str) -> str:
    """`tag-names` -> `DOCKER_METADATA_OUTPUT_TAG_NAMES`, as metadata-action names it."""
    return "DOCKER_METADATA_OUTPUT_" + output.replace("-", "_").upper()
