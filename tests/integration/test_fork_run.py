"""A pull request from a fork gets no secrets: build and tag, push nothing, say so."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker

from dockyard.cli import main
from support.registry import Registry


def test_fork_pull_request_builds_without_pushing(
    git_repo: Callable[..., Path], auth_registry: Registry, tmp_path: Path,
    docker_engine: docker.DockerClient,
) -> None:
    repo = git_repo(branch="feature")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    (repo / "dockyard.yml").write_text(
        f"images: [{auth_registry.host}/acme/forked]\n"
        "tags:\n  - type=ref,event=pr\n"
        f"registries:\n  {auth_registry.host}:\n"
        "    username: ${REGISTRY_USER}\n    password: ${REGISTRY_PASSWORD}\n"
        # a build secret the fork's job does not get (unset, not empty)
        "build:\n  secrets:\n    npm_token: ${NPM_TOKEN}\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {
        "number": 31, "head": {"ref": "feature", "sha": sha,
                               "repo": {"full_name": "someone/app", "fork": True}},
        "base": {"ref": "main", "repo": {"full_name": "acme/app"}}}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
           "GITHUB_REF": "refs/pull/31/merge", "GITHUB_SHA": sha,
           "GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "main",
           "GITHUB_REPOSITORY": "acme/app", "GITHUB_EVENT_PATH": str(event),
           # GitHub hands fork PRs empty strings for secrets
           "REGISTRY_USER": "", "REGISTRY_PASSWORD": ""}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), "run", "--format", "json"], env=env, stdout=stdout,
                stderr=stderr)
    assert code == 0, stderr.getvalue()
    result = json.loads(stdout.getvalue())
    assert result["event"] == "build.succeeded"
    assert any("fork" in w for w in result["warnings"])
    assert "comes from a fork" in stderr.getvalue()
    assert ("build.secrets.npm_token uses a variable that is not set (a pull request from a "
            "fork gets no secrets): the build runs without that secret") in stderr.getvalue()
    (entry,) = result["registries"]
    assert entry["status"] == "not pushed"
    assert entry["skipped"] == [{"tag": "pr-31",
                                 "reason": "pull request from a fork: built only"}]
    assert docker_engine.images.get(f"{auth_registry.host}/acme/forked:pr-31").id \
        == result["image_id"]
    assert auth_registry.tags("acme/forked") == []
