"""Pull requests from forks are recognised on every CI (their jobs get no secrets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.context import resolve_context

SHA = "a" * 40


def github(tmp_path: Path, head_repo: str, base_repo: str = "acme/app",
           fork: bool | None = None) -> dict[str, str]:
    repo: dict[str, object] = {"full_name": head_repo}
    if fork is not None:
        repo["fork"] = fork
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {
        "number": 7, "head": {"ref": "feature", "sha": SHA, "repo": repo},
        "base": {"ref": "main", "repo": {"full_name": base_repo}}}}))
    return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_REF": "refs/pull/7/merge", "GITHUB_SHA": SHA, "GITHUB_HEAD_REF": "feature",
            "GITHUB_BASE_REF": "main", "GITHUB_REPOSITORY": base_repo,
            "GITHUB_EVENT_PATH": str(event)}


@pytest.mark.parametrize(
    ("head_repo", "fork", "expected"),
    [("someone/app", None, True), ("acme/app", None, False), ("acme/app", True, True)],
)
def test_github(tmp_path: Path, head_repo: str, fork: bool | None, expected: bool) -> None:
    context = resolve_context(github(tmp_path, head_repo, fork=fork), tmp_path)
    assert context.pr_number == 7
    assert context.pr_from_fork is expected
    assert context.to_dict()["pr_from_fork"] is expected


@pytest.mark.parametrize(("source", "expected"), [("99", True), ("42", False)])
def test_gitlab(tmp_path: Path, source: str, expected: bool) -> None:
    env = {"GITLAB_CI": "true", "CI_COMMIT_SHA": SHA, "CI_PIPELINE_SOURCE": "merge_request_event",
           "CI_MERGE_REQUEST_IID": "5", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
           "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_PROJECT_ID": "42",
           "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": source}
    assert resolve_context(env, tmp_path).pr_from_fork is expected


@pytest.mark.parametrize(("extra", "expected"), [({"CHANGE_FORK": "someone"}, True), ({}, False)])
def test_jenkins(tmp_path: Path, extra: dict[str, str], expected: bool) -> None:
    env = {"JENKINS_URL": "http://127.0.0.1:8080/", "BUILD_URL": "http://127.0.0.1:8080/job/1/",
           "GIT_COMMIT": SHA, "CHANGE_ID": "3", "CHANGE_BRANCH": "feature",
           "CHANGE_TARGET": "main", **extra}
    assert resolve_context(env, tmp_path).pr_from_fork is expected


def test_branch_builds_are_never_forks(tmp_path: Path) -> None:
    env = {"JENKINS_URL": "http://127.0.0.1:8080/", "GIT_COMMIT": SHA, "BRANCH_NAME": "main",
           "CHANGE_FORK": "stale"}
    assert resolve_context(env, tmp_path).pr_from_fork is False
