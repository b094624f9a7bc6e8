"""action.yml, run: its composite steps executed with bash in a GitHub-like environment
against the real engine and a loopback registry; outputs, summary and masking checked."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from ci_harness import copy_checkout, machine_env, run_composite_action

from support.registry import Registry

pytestmark = pytest.mark.integration

DOCKERFILE = "FROM scratch\nARG GREETING=unset\nLABEL org.example.greeting=$GREETING\n" \
             "COPY hello.txt /hello.txt\n"


def github_env(repo: Path, scratch: Path, sha: str) -> dict[str, str]:
    event = scratch / "event.json"
    event.write_text(json.dumps({
        "ref": "refs/tags/v1.2.3",
        "head_commit": {"id": sha, "timestamp": "2024-05-06T07:08:09Z"},
        "repository": {"default_branch": "main", "html_url": "https://github.com/acme/app"},
    }))
    runner_temp = scratch / "runner-temp"
    runner_temp.mkdir()
    return {
        **machine_env(),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/tags/v1.2.3",
        "GITHUB_REF_NAME": "v1.2.3",
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_NUMBER": "7",
        "RUNNER_TEMP": str(runner_temp),
    }


def test_the_action_builds_pushes_and_hands_on_outputs_with_the_password_masked(
    git_repo: Callable[..., Path], registry: Registry, auth_registry: Registry,
    tmp_path: Path,
) -> None:
    name = f"acme/gh-{uuid.uuid4().hex[:8]}"
    repo = git_repo({"Dockerfile": DOCKERFILE, "hello.txt": "hi\n",
                     # the file names an image the inputs replace: nothing may land there
                     "dockyard.yml": f"images: [{registry.host}/acme/from-file]\n"
                                     "tags: [type=ref,event=tag]\n"}, tags=("v1.2.3",))
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    password = auth_registry.password
    assert password is not None
    run = run_composite_action(
        copy_checkout(tmp_path / "action"),
        {
            "images": f"{registry.host}/{name}\n{auth_registry.host}/{name}\n",
            "tags": "type=semver,pattern={{version}}\n# a comment line\n"
                    "type=semver,pattern={{major}}.{{minor}}\ntype=sha\n",
            "labels": "org.example.team=payments\n",
            "build-args": "GREETING=hello-from-inputs\n",
            "push": "true",
            "registries": f'{auth_registry.host}: {{username: {auth_registry.username}, '
                          f'password: "{password}"}}\n',
        },
        github_env(repo, tmp_path, sha), repo, tmp_path)
    assert run.codes == [0, 0], run.log

    expected = {"1.2.3", "1.2", "latest", f"sha-{sha[:7]}"}
    digest = run.outputs["digest"]
    assert digest.startswith("sha256:")
    for reg in (registry, auth_registry):
        assert set(reg.tags(name)) == expected
        assert reg.manifest_digest(name, "1.2.3") == digest
    labels = auth_registry.config_labels(name, "1.2.3")
    assert labels["org.example.team"] == "payments"
    assert labels["org.example.greeting"] == "hello-from-inputs"
    assert registry.tags("acme/from-file") == []

    assert run.outputs["version"] == "1.2.3"
    assert run.outputs["tags"].splitlines()[0] == f"{registry.host}/{name}:1.2.3"
    assert set(run.outputs["tags"].splitlines()) == {
        f"{host}/{name}:{tag}" for host in (registry.host, auth_registry.host) for tag in expected}
    assert "org.example.team=payments" in run.outputs["labels"].splitlines()
    # metadata-action's other outputs, and what landed beside what was planned
    assert set(run.outputs["tag-names"].splitlines()) == expected
    assert set(run.outputs["pushed"].splitlines()) == set(run.outputs["tags"].splitlines())
    assert "manifest:org.opencontainers.image.version=1.2.3" in \
        run.outputs["annotations"].splitlines()
    record = json.loads(run.outputs["json"])
    assert record["status"] == "success" and record["digest"] == digest
    assert record["context"]["provider"] == "github"
    assert record["context"]["default_branch"] == "main"

    assert "| Image | Status | Tags | Digest |" in run.summary
    assert f"| `{auth_registry.host}/{name}` | pushed |" in run.summary
    assert f"`{digest}`" in run.summary
    assert "::group::Build and push" in run.log and "::endgroup::" in run.log

    # Masked the moment the settings were read: before the build log began.
    assert run.masks == [password]
    assert run.log.index(f"::add-mask::{password}") < run.log.index("::group::")
    for text in (run.shown(), run.output_files, run.summary, json.dumps(run.outputs)):
        assert password not in text
