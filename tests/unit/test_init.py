"""`dockyard init` writes a starter that `dockyard plan` accepts, for each kind of remote."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from dockyard import __version__, starter
from dockyard.cli import main


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), *args], env=env or {}, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize(
    ("remote", "image", "snippet", "registry_key", "said"),
    [
        ("https://github.com/Acme/My-App.git", "ghcr.io/acme/my-app",
         f"dockyard-ci/dockyard@v{__version__}\n",
         "ghcr.io", "the image goes to GHCR, for a repository on GitHub"),
        ("git@gitlab.com:group/sub/proj.git", "registry.gitlab.com/group/sub/proj",
         ".gitlab-ci-template.yml", "${CI_REGISTRY:-registry.gitlab.com}",
         "the image goes to the project's GitLab registry"),
        (None, "registry.example.com/team/", f"pip install 'dockyard=={__version__}'", None,
         "no GitHub or GitLab remote found: the image name registry.example.com/... is a "
         "placeholder, put your registry there"),
    ],
)
def test_init_then_plan(git_repo: Callable[..., Path], remote: str | None, image: str,
                        snippet: str, registry_key: str | None, said: str) -> None:
    repo = git_repo(tags=("v1.0.0",))
    if remote:
        subprocess.run(["git", "remote", "add", "origin", remote], cwd=repo, check=True)
    code, out, err = dockyard(repo, "init")
    assert code == 0, err
    assert f"dockyard.yml ({said}); check it with `dockyard plan`" in err
    assert snippet in out
    written = (repo / "dockyard.yml").read_text()
    config = yaml.safe_load(written)
    assert any(str(i).startswith(image) or image in str(i) for i in config["images"])
    if registry_key:
        assert registry_key in config["registries"]
    else:
        assert "registries" not in config
    code, out, err = dockyard(repo, "plan", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["version"] == "1.0.0"
    assert {t.rsplit(":", 1)[1] for t in plan["tags"]} >= {"1.0.0", "1.0", "latest"}


def test_gitlab_starter_uses_ci_variables_when_set(git_repo: Callable[..., Path]) -> None:
    repo = git_repo(tags=("v1.0.0",))
    subprocess.run(["git", "remote", "add", "origin", "https://gitlab.example.com/g/p.git"],
                   cwd=repo, check=True)
    assert dockyard(repo, "init")[0] == 0
    env = {"CI_REGISTRY_IMAGE": "127.0.0.1:5000/g/p", "CI_REGISTRY": "127.0.0.1:5000"}
    code, out, err = dockyard(repo, "plan", "--format", "json", env=env)
    assert code == 0, err
    assert "127.0.0.1:5000/g/p:1.0.0" in json.loads(out)["tags"]


def test_init_never_overwrites_without_force(git_repo: Callable[..., Path]) -> None:
    repo = git_repo()
    (repo / "dockyard.yml").write_text("images: [mine/own]\n")
    code, _, err = dockyard(repo, "init")
    assert code == 2
    assert "exists already" in err and "--force" in err
    assert (repo / "dockyard.yml").read_text() == "images: [mine/own]\n"
    assert dockyard(repo, "init", "--force")[0] == 0
    assert "images:" in (repo / "dockyard.yml").read_text()
    assert "mine/own" not in (repo / "dockyard.yml").read_text()


def test_init_finds_a_dockerfile_elsewhere(git_repo: Callable[..., Path]) -> None:
    repo = git_repo({"docker/Dockerfile": "FROM scratch\n", "README": "x\n"})
    code, _, err = dockyard(repo, "init")
    assert code == 0, err
    config = yaml.safe_load((repo / "dockyard.yml").read_text())
    assert config["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    assert dockyard(repo, "plan")[0] == 0


def test_schema_command_prints_the_validators_schema() -> None:
    stdout = io.StringIO()
    assert main(["schema"], env={}, stdout=stdout, stderr=io.StringIO()) == 0
    schema = json.loads(stdout.getvalue())
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    assert "images" in schema["required"]


SCHEMAS = Path(__file__).parents[1] / "schemas"


def facts(platform: str) -> starter.RepoFacts:
    return starter.RepoFacts(name="app", platform=platform, host=None, owner_path=None,
                             dockerfile="Dockerfile", ci_files=())


def test_the_gitlab_snippet_is_a_valid_pipeline_that_turns_the_template_on() -> None:
    snippet = starter.ci_snippet(facts("gitlab"))
    pipeline = yaml.safe_load(snippet)
    schema = json.loads((SCHEMAS / "gitlab-ci.schema.json").read_text())
    jsonschema.validate(pipeline, schema)
    assert "image" not in pipeline  # a reserved keyword, not a job name
    assert pipeline["variables"] == {"DOCKYARD_ENABLED": "true"}
    [include] = pipeline["include"]
    assert include["remote"].endswith(f"/v{__version__}/.gitlab-ci-template.yml")


def test_the_github_snippet_pins_checkout_and_builds_pull_requests_only() -> None:
    snippet = starter.ci_snippet(facts("github"))
    steps = yaml.safe_load(snippet)["jobs"]["image"]["steps"]
    assert re.fullmatch(r"actions/checkout@[0-9a-f]{40}", steps[0]["uses"])
    assert steps[0]["with"]["persist-credentials"] is False
    assert steps[1]["uses"] == f"dockyard-ci/dockyard@v{__version__}"
    assert steps[1]["with"]["push"] == "${{ github.event_name != 'pull_request' }}"
