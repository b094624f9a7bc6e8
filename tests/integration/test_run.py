"""`dockyard run` end to end: a real engine, two real registries, a real webhook receiver."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from support.cli import Outcome, run_cli
from support.receiver import WebhookReceiver, verify_signature
from support.registry import Registry

WEBHOOK_SECRET = "whsec-integration-5521"


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    return run_cli(repo, *args, env=env)


def config(repo: Path, text: str) -> None:
    (repo / "dockyard.yml").write_text(textwrap.dedent(text))


def release_config(repo: Path, plain: Registry, auth: Registry, name: str,
                   webhook_url: str | None = None) -> None:
    hook = (f"webhooks:\n  - url: {webhook_url}\n    secret: ${{WEBHOOK_SECRET}}\n"
            if webhook_url else "")
    config(repo, f"""\
images:
  - {plain.host}/acme/{name}
  - {auth.host}/acme/{name}
tags:
  - type=semver,pattern={{{{version}}}}
  - type=semver,pattern={{{{major}}}}.{{{{minor}}}}
  - type=semver,pattern={{{{major}}}}
  - type=sha
registries:
  {auth.host}:
    username: ${{REGISTRY_USER}}
    password: ${{REGISTRY_PASSWORD}}
{hook}""")


def auth_env(auth: Registry, password: str | None = None) -> dict[str, str]:
    assert auth.username is not None and auth.password is not None
    return {"REGISTRY_USER": auth.username, "REGISTRY_PASSWORD": password or auth.password,
            "WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def released_repo(git_repo: Callable[..., Path], base_image: str) -> Path:
    return git_repo(tags=("v1.2.3",))


def test_release_lands_on_both_registries_with_one_digest_and_a_signed_webhook(
    released_repo: Path, registry: Registry, auth_registry: Registry,
    webhook_receiver: WebhookReceiver,
) -> None:
    release_config(released_repo, registry, auth_registry, "release", webhook_receiver.url)
    outcome = dockyard(released_repo, "run", "--format", "json", env=auth_env(auth_registry))
    assert outcome.code == 0, outcome.stderr
    result = outcome.json
    sha = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=released_repo,
                         capture_output=True, text=True, check=True).stdout.strip()
    expected = {"1.2.3", "1.2", "1", "latest", f"sha-{sha}"}

    assert result["version"] == "1.2.3"
    assert result["status"] == "success"
    digest = result["digest"]
    assert digest.startswith("sha256:")
    for reg in (registry, auth_registry):
        assert set(reg.tags("acme/release")) == expected
        for tag in expected:
            assert reg.manifest_digest("acme/release", tag) == digest
        labels = reg.config_labels("acme/release", "1.2.3")
        assert labels["org.opencontainers.image.version"] == "1.2.3"
        assert len(labels["org.opencontainers.image.revision"]) == 40
    entries = {entry["name"]: entry for entry in result["registries"]}
    assert set(entries) == {f"{registry.host}/acme/release", f"{auth_registry.host}/acme/release"}
    for entry in entries.values():
        assert entry["status"] == "pushed"
        assert entry["digest"] == digest
        assert set(entry["pushed"]) == expected
        assert entry["skipped"] == []
    # release tags land before the floating ones
    pushed = entries[f"{registry.host}/acme/release"]["pushed"]
    assert pushed.index("latest") > pushed.index("1.2.3")

    assert len(webhook_receiver.requests) == 1
    request = webhook_receiver.requests[0]
    assert request.method == "POST"
    assert request.header("Content-Type") == "application/json"
    assert verify_signature(request.body, request.header("X-Hub-Signature-256") or "",
                            WEBHOOK_SECRET)
    assert not verify_signature(request.body, request.header("X-Hub-Signature-256") or "",
                                "another-secret")
    assert request.header("X-Dockyard-Delivery")
    payload = json.loads(request.body)
    assert payload["event"] == "push.succeeded"
    assert payload["digest"] == digest
    assert payload["version"] == "1.2.3"
    assert result["webhooks"] == [{"webhook": 0, "format": "dockyard", "host": "127.0.0.1",
                                   "status": "delivered", "attempts": 1, "required": False,
                                   "http_status": 200, "error": None}]
    for text in (outcome.stdout, outcome.stderr, request.body.decode()):
        assert auth_registry.password not in text
        assert WEBHOOK_SECRET not in text


def test_console_script_runs_end_to_end(released_repo: Path, registry: Registry) -> None:
    config(released_repo, f"images: [{registry.host}/acme/console]\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run(
        [sys.executable, "-m", "dockyard", "run", "--format", "json"], cwd=released_repo,
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    # metadata-action's default rules on a tag: the tag itself, and latest
    assert set(registry.tags("acme/console")) == {"v1.2.3", "latest"}
    assert registry.manifest_digest("acme/console", "v1.2.3") == result["digest"]
    assert ": FROM scratch" in completed.stderr  # the build log streams to stderr


def test_wrong_password_fails_clearly_and_never_shows_the_password(
    released_repo: Path, registry: Registry, auth_registry: Registry,
) -> None:
    wrong = "wrong-password-8812"
    release_config(released_repo, registry, auth_registry, "wrongpass")
    outcome = dockyard(released_repo, "run", "--format", "json",
                       env=auth_env(auth_registry, password=wrong))
    assert outcome.code == 1
    assert f"{auth_registry.host}/acme/wrongpass" in outcome.stderr
    assert "unauthorized" in outcome.stderr.lower() or "authentication" in outcome.stderr.lower()
    assert "registries:" in outcome.stderr  # the hint says where credentials go
    result = outcome.json
    assert result["status"] == "failed"
    entries = {entry["name"]: entry for entry in result["registries"]}
    failed = entries[f"{auth_registry.host}/acme/wrongpass"]
    assert failed["status"] == "failed" and failed["pushed"] == []
    # the preflight stops the run before the build: nothing lands anywhere
    assert "preflight failed" in outcome.stderr
    assert result["image_id"] is None
    healthy = entries[f"{registry.host}/acme/wrongpass"]
    assert healthy["status"] == "not pushed" and healthy["pushed"] == []
    assert registry.tags("acme/wrongpass") == []
    assert auth_registry.tags("acme/wrongpass") == []
    for text in (outcome.stdout, outcome.stderr):
        assert wrong not in text


@pytest.mark.parametrize(
    ("text", "env", "fragment"),
    [
        ("images: [{host}/acme/bad]\ntagz: [type=sha]\n", {}, "tagz: unknown key"),
        ("images: [{host}/acme/bad]\npush: sometimes\n", {}, "push: must be true or false"),
        ("images: [{host}/acme/bad]\nregistries:\n  {host}: {{username: x}}\n", {},
         "registries.{host}.password: is required"),
        ('images: ["{host}/acme/${{UNSET_NAME}}"]\n', {}, "${{UNSET_NAME}}, which is not set"),
    ],
)
def test_bad_config_exits_2_names_the_key_and_pushes_nothing(
    released_repo: Path, registry: Registry, text: str, env: dict[str, str], fragment: str,
) -> None:
    config(released_repo, text.format(host=registry.host))
    outcome = dockyard(released_repo, "run", env=env)
    assert outcome.code == 2
    assert fragment.format(host=registry.host) in outcome.stderr
    assert "dockyard.yml" in outcome.stderr
    assert outcome.stdout == ""
    assert registry.tags("acme/bad") == []


def test_failed_build_exits_1_with_the_failing_step_and_log(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo about-to-fail && exit 3\n"},
                    tags=("v0.1.0",))
    config(repo, f"images: [{registry.host}/acme/broken]\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 1
    assert re.search(r"the build failed at Step 2/\d+ : RUN echo about-to-fail && exit 3",
                     outcome.stderr)
    assert "returned a non-zero code: 3" in outcome.stderr
    assert "| about-to-fail" in outcome.stderr  # the log tail
    assert registry.tags("acme/broken") == []


def test_no_push_builds_and_tags_locally_only(
    released_repo: Path, registry: Registry, docker_engine: docker.DockerClient,
) -> None:
    config(released_repo, f"images: [{registry.host}/acme/local]\n")
    outcome = dockyard(released_repo, "run", "--no-push", "--format", "json")
    assert outcome.code == 0, outcome.stderr
    result = outcome.json
    assert result["registries"][0]["status"] == "not pushed"
    image = docker_engine.images.get(f"{registry.host}/acme/local:v1.2.3")
    assert image.id == result["image_id"]
    assert f"{registry.host}/acme/local:latest" in image.tags
    assert image.labels["org.opencontainers.image.version"] == "v1.2.3"
    assert registry.tags("acme/local") == []


def test_unreachable_engine_says_how_to_fix_it(released_repo: Path, tmp_path: Path) -> None:
    config(released_repo, "images: [127.0.0.1:9/acme/none]\n")
    outcome = dockyard(released_repo, "run",
                       env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert outcome.code == 1
    assert "cannot reach the Docker engine" in outcome.stderr
    assert "DOCKER_HOST" in outcome.stderr


def test_pushing_tags_only_release_tags_in_the_engine(
    released_repo: Path, registry: Registry, docker_engine: docker.DockerClient,
) -> None:
    config(released_repo, f"images: [{registry.host}/acme/localtags]\n"
                          "tags:\n  - type=semver,pattern={{version}}\n"
                          "  - type=semver,pattern={{major}}\n")
    outcome = dockyard(released_repo, "run", "--format", "json")
    assert outcome.code == 0, outcome.stderr
    assert set(registry.tags("acme/localtags")) == {"1.2.3", "1", "latest"}
    image = docker_engine.images.get(outcome.json["image_id"])
    # floating tags were written in the registry by reference, not tagged locally
    assert [t for t in image.tags if "acme/localtags" in t] == [
        f"{registry.host}/acme/localtags:1.2.3"]
