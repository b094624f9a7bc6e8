"""GitHub Actions: the runner's variables and event payload, already in our vocabulary."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.ci import Facts, commit_sha, timestamp, value
from dockyard.errors import ContextError

_PULL_REF = re.compile(r"^refs/pull/(\d+)/")
# metadata-action's switch: sha tags and the revision label name a pull request's head
# commit instead of the merge commit the runner checked out.
PR_HEAD_SHA = "DOCKER_METADATA_PR_HEAD_SHA"


def detected(env: Mapping[str, str]) -> bool:
    return value(env, "GITHUB_ACTIONS") == "true"


def read(env: Mapping[str, str]) -> Facts:
    """Read the event payload the runner wrote, then map."""
    path = value(env, "GITHUB_EVENT_PATH")
    return facts(env, load_event(Path(path)) if path else None)


def load_event(path: Path) -> Mapping[str, Any]:
    """The JSON event payload; going on without it when it was promised is unsafe."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContextError(
            f"cannot read the GitHub event payload {path} (GITHUB_EVENT_PATH): {exc}",
            hint="point GITHUB_EVENT_PATH at the JSON file the runner wrote, or unset it",
        ) from exc
    if not isinstance(payload, dict):
        raise ContextError(
            f"the GitHub event payload {path} (GITHUB_EVENT_PATH) is not a JSON object",
            hint="point GITHUB_EVENT_PATH at the JSON file the runner wrote, or unset it",
        )
    return payload


def facts(env: Mapping[str, str], event: Mapping[str, Any] | None) -> Facts:
    """Map the variables and the payload (None when GITHUB_EVENT_PATH is unset)."""
    payload = event or {}
    notes: tuple[str, ...] = ()
    if event is None:
        notes = (
            "GITHUB_EVENT_PATH is not set, so the default branch and commit date are "
            "unknown: run inside a GitHub Actions job (the runner sets it)",
        )
    event_name = value(env, "GITHUB_EVENT_NAME")
    ref = value(env, "GITHUB_REF")
    sha = commit_sha(env, "GITHUB_SHA")
    number = _get(payload, "number")
    if "pull_request_target" in (event_name or "") and isinstance(number, int):
        # As metadata-action: the runner names the base branch (refs/heads/main), but the
        # build is of the pull request, so its rules read the pull request's ref.
        ref = f"refs/pull/{number}/merge"
    pr_number = _pr_number(ref, event_name, payload)
    branch = tag = base_ref = pr_head_sha = None
    if pr_number is not None:
        branch = value(env, "GITHUB_HEAD_REF") or _text(payload, "pull_request", "head", "ref")
        base_ref = value(env, "GITHUB_BASE_REF") or _text(payload, "pull_request", "base", "ref")
        pr_head_sha = _text(payload, "pull_request", "head", "sha")
    elif ref and ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
    elif ref and ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        # A tag push names the branch it was pushed from; metadata-action's {{base_ref}}.
        base_ref = _text(payload, "base_ref")
    checkout_sha = None
    if pr_head_sha and "pull_request" in (event_name or "") and \
            (value(env, PR_HEAD_SHA) or "").lower() == "true":
        checkout_sha, sha = sha, pr_head_sha

    server = (value(env, "GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repository = value(env, "GITHUB_REPOSITORY")
    run_id = value(env, "GITHUB_RUN_ID")
    return Facts(
        provider="github",
        event=event_name,
        ref=ref,
        sha=sha,
        checkout_sha=checkout_sha,
        branch=branch,
        tag=tag,
        pr_number=pr_number,
        pr_head_sha=pr_head_sha,
        base_ref=base_ref,
        default_branch=_text(payload, "repository", "default_branch"),
        commit_date=timestamp(_commit_timestamp(payload, sha)),
        repository=repository,
        repo_url=_text(payload, "repository", "html_url")
        or (f"{server}/{repository}" if repository else None),
        run_id=run_id,
        run_number=value(env, "GITHUB_RUN_NUMBER"),
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None,
        pr_from_fork=pr_number is not None and _from_fork(payload),
        notes=notes,
    )


def _pr_number(ref: str | None, event_name: str | None, payload: Mapping[str, Any]) -> int | None:
    match = _PULL_REF.match(ref or "")
    if match:
        return int(match[1])
    number = _get(payload, "pull_request", "number")
    if (event_name or "").startswith("pull_request") and isinstance(number, int):
        return number
    return None


def _from_fork(payload: Mapping[str, Any]) -> bool:
    head = _text(payload, "pull_request", "head", "repo", "full_name")
    base = _text(payload, "pull_request", "base", "repo", "full_name")
    return _get(payload, "pull_request", "head", "repo", "fork") is True or (
        head is not None and base is not None and head != base)


def _commit_timestamp(payload: Mapping[str, Any], sha: str | None) -> str | None:
    """The pushed commit's time: `head_commit`, else the matching entry of `commits`."""
    head = _text(payload, "head_commit", "timestamp")
    if head:
        return head
    commits = payload.get("commits")
    for commit in commits if isinstance(commits, list) else []:
        if isinstance(commit, dict) and commit.get("id") == sha:
            found = commit.get("timestamp")
            return found if isinstance(found, str) else None
    return None


def _get(payload: Mapping[str, Any], *keys: str) -> Any:
    """payload[k1][k2]...; None where a level is missing or not an object."""
    node: Any = payload
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(payload: Mapping[str, Any], *keys: str) -> str | None:
    found = _get(payload, *keys)
    return found if isinstance(found, str) and found else None
