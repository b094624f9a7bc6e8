"""What `dockyard prune` hands on to later steps, from its record (docs/retention.md):

| GitHub output | GitLab dotenv            | value                                              |
| ------------- | ------------------------ | -------------------------------------------------- |
| `json`        | (the `--output` record)  | the record                                         |
| `to-delete`   | `DOCKYARD_PRUNE_DELETE`  | `image:tag` of every tag the policy deletes        |
| `deleted`     | `DOCKYARD_PRUNE_DELETED` | `image:tag` of every tag that went (`--apply`)     |
|               | `DOCKYARD_PRUNE_STATUS`  | `success` or `failed`                              |
|               | `DOCKYARD_PRUNE_APPLIED` | `true` or `false` (a dry run)                      |

As `tags` and `pushed` for `run`: what the policy decided, and what landed. A dry run
deletes nothing, so its `deleted` is empty. None of metadata-action's outputs is written:
a prune step after a build step in the same job leaves the build's as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.names import parse_image

__all__ = ["dotenv_candidates", "github_values", "references"]


def references(record: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """`image:tag` of the tags to delete, and of those deleted, repository by repository."""
    to_delete: list[str] = []
    deleted: list[str] = []
    for repository in record.get("repositories") or ():
        name = parse_image(repository["name"])
        to_delete += [name.reference(verdict["tag"]) for verdict in
                      repository.get("delete") or ()]
        deleted += [name.reference(tag) for deletion in repository.get("deleted") or ()
                    for tag in deletion.get("tags") or ()]
    return to_delete, deleted


def github_values(record: Mapping[str, Any], separator: str = "\n") -> dict[str, str]:
    """The step outputs but `json`: `to-delete` and `deleted`, `separator` between items
    (the action's `sep-tags`)."""
    to_delete, deleted = references(record)
    return {"to-delete": separator.join(to_delete), "deleted": separator.join(deleted)}


def dotenv_candidates(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The dotenv report's variables, most wanted first (the report leaves out a value
    that would not fit GitLab's limits)."""
    to_delete, deleted = references(record)
    return [("DOCKYARD_PRUNE_STATUS", str(record.get("status") or "")),
            ("DOCKYARD_PRUNE_APPLIED", "true" if record.get("applied") else "false"),
            ("DOCKYARD_PRUNE_DELETED", " ".join(deleted)),
            ("DOCKYARD_PRUNE_DELETE", " ".join(to_delete))]
