"""examples/: each CI's dockyard.yml plans the expected tags under that CI's variables."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from dockyard.cli import main
from support.gitlab import load_gitlab

EXAMPLES = Path(__file__).parents[2] / "examples"
SCHEMAS = Path(__file__).parents[1] / "schemas"


def tag_push_env(ci: str, sha: str) -> dict[str, str]:
    if ci == "github":
        return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push",
                "GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_SHA": sha,
                "GITHUB_REPOSITORY": "Acme/Hello", "GITHUB_ACTOR": "octocat",
                "GITHUB_TOKEN": "ghs_exampletoken"}
    if ci == "gitlab":
        return {"GITLAB_CI": "true", "CI_COMMIT_SHA": sha, "CI_COMMIT_TAG": "v1.2.3",
                "CI_PIPELINE_SOURCE": "push", "CI_REGISTRY": "registry.gitlab.com",
                "CI_REGISTRY_IMAGE": "registry.gitlab.com/acme/hello",
                "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "glcbt-x"}
    return {"JENKINS_URL": "http://127.0.0.1:8080/", "BUILD_URL": "http://127.0.0.1:8080/1/",
            "GIT_COMMIT": sha, "TAG_NAME": "v1.2.3", "REG_USER": "ci", "REG_PASSWORD": "pw"}


@pytest.mark.parametrize(
    ("ci", "image"),
    [("github", "ghcr.io/acme/hello"), ("gitlab", "registry.gitlab.com/acme/hello"),
     ("jenkins", "registry.example.com/acme/hello")],
)
def test_example_plans_a_release(git_repo: Callable[..., Path], ci: str, image: str) -> None:
    repo = git_repo()
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(EXAMPLES / ci), "plan", "--format", "json"],
                env=tag_push_env(ci, sha), stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    plan = json.loads(stdout.getvalue())
    assert plan["version"] == "1.2.3"
    assert f"{image}:1.2.3" in plan["tags"] and f"{image}:latest" in plan["tags"]


def test_gitlab_example_is_valid_gitlab_ci() -> None:
    schema = json.loads((SCHEMAS / "gitlab-ci.schema.json").read_text())
    jsonschema.validate(load_gitlab(EXAMPLES / "gitlab" / ".gitlab-ci.yml"), schema)


def test_github_example_workflow_uses_the_action() -> None:
    workflow = yaml.safe_load(
        (EXAMPLES / "github" / ".github" / "workflows" / "image.yml").read_text())
    steps = workflow["jobs"]["image"]["steps"]
    assert any(str(s.get("uses", "")).startswith("dockyard-ci/dockyard@") for s in steps)
    assert workflow["jobs"]["image"]["permissions"]["packages"] == "write"
