"""GitLab CI files as YAML: GitLab's `!reference [job, key]` tag kept as the list it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class GitLabLoader(yaml.SafeLoader):
    """A SafeLoader that also reads `!reference`."""


GitLabLoader.add_constructor(
    "!reference", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type, return-value]


def load_gitlab_text(text: str) -> Any:
    return yaml.load(text, Loader=GitLabLoader)  # noqa: S506 -- a SafeLoader subclass


def load_gitlab(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = load_gitlab_text(path.read_text(encoding="utf-8"))
    return data
