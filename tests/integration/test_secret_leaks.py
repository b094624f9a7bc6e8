"""Regressions of issue 13's secret leaks, each through the real `dockyard run`: a real
engine, real registries, a real webhook receiver, all on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import docker
import pytest

from dockyard import secrets
from support.cli import run_cli
from support.receiver import WebhookReceiver
from support.registry import Registry

PASSWORD = "reg+S3CR3T/pw=="  # as in the issue: + / = change under every encoding
ANSI = "\x1b[31;1m"


def write(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)


def test_a_dockerfile_syntax_error_shows_the_engine_s_message_first_with_its_line(
    git_repo: Callable[..., Path], base_image: str, registry: Registry, tmp_path: Path,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {base_image}\nARG PW\nRUNN echo hi\n"},
                    tags=("v0.1.0",))
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/runn]\n"
                                "build:\n  args: {PW: '${PW}'}\n"
                                f"labels: {{note: '{'x' * 300}'}}\n")
    outcome = run_cli(repo, "run", "--format", "json", "--output", "record.json",
                      env={"PW": PASSWORD})
    assert outcome.code == 1
    error = outcome.json["error"]
    first = error.splitlines()[0]
    assert first == "the build failed: dockerfile parse error line 3: unknown instruction: RUNN"
    assert "Dockerfile line 3: RUNN echo hi" in error
    record = (repo / "record.json").read_text()
    for text in (outcome.stdout, outcome.stderr, record):
        assert "http+docker" not in text and "/build?" not in text  # no request URL
        for form in (PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD)):
            assert form not in text
    assert max(len(line) for line in outcome.stderr.splitlines()) < 200
    assert registry.tags("acme/runn") == []


def test_build_log_excerpts_carry_no_ansi_escapes(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {base_image}\n"
                                   "RUN printf '\\033[31;1mred-alert\\033[0m\\n' && exit 4\n"},
                    tags=("v0.1.0",))
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/ansi]\n")
    outcome = run_cli(repo, "run", "--format", "json")
    assert outcome.code == 1
    error = outcome.json["error"]
    assert "| red-alert" in error
    assert "\x1b" not in error and "\x1b" not in outcome.stderr.split("error:", 1)[1]


def _environ_leak_run(repo: Path, token: str) -> subprocess.CompletedProcess[str]:
    """A separate process, so that /proc/self/environ holds the token as it would in CI."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["GITHUB_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "dockyard", "run", "--format", "json",
                           "--output", "record.json"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("build", "key"), [
    ("{dockerfile: /proc/self/environ}", "build.dockerfile"),
    ("{dockerfile: ../../../../../../../../etc/passwd}", "build.dockerfile"),
    ("{context: etc-link}", "build.context"),
    ("{dockerfile: passwd-link}", "build.dockerfile"),
])
def test_context_and_dockerfile_must_resolve_inside_the_checkout(
    git_repo: Callable[..., Path], registry: Registry, build: str, key: str,
) -> None:
    repo = git_repo(tags=("v0.1.0",))
    (repo / "etc-link").symlink_to("/etc")
    (repo / "passwd-link").symlink_to("/etc/passwd")
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/escape]\nbuild: {build}\n")
    token = "ghs_environLeak0123456789abcdef"
    done = _environ_leak_run(repo, token)
    assert done.returncode == 2, done.stderr
    assert f"{key}: " in done.stderr and "outside the checkout" in done.stderr
    record = (repo / "record.json").read_text() if (repo / "record.json").exists() else ""
    for text in (done.stdout, done.stderr, record):
        assert token not in text
        assert "root:x:0:0" not in text and "PATH=" not in text  # no file's contents
    assert registry.tags("acme/escape") == []


def test_a_path_outside_the_checkout_can_be_allowed_but_never_a_pseudo_file(
    git_repo: Callable[..., Path], tmp_path: Path, registry: Registry,
) -> None:
    shared = tmp_path / "shared-dockerfiles"
    shared.mkdir()
    (shared / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    repo = git_repo(tags=("v0.1.0",))
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/allowed]\npush: false\n"
                                f"build: {{dockerfile: {shared / 'Dockerfile'}, "
                                "allow_outside_checkout: true}\n")
    assert run_cli(repo, "plan").code == 0
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/allowed]\npush: false\n"
                                "build: {dockerfile: /proc/self/environ, "
                                "allow_outside_checkout: true}\n")
    outcome = run_cli(repo, "plan")
    assert outcome.code == 2
    assert "build.dockerfile: '/proc/self/environ' is not a regular file" in outcome.stderr


def test_a_credential_bearing_webhook_url_is_never_quoted_in_a_config_error(
    git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo(tags=("v0.1.0",))
    token = "slk-hookPathToken-20931"
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/hookurl]\n"
                                "webhooks:\n"
                                f"  - url: 'ftp://hooks.slack.example/services/T0/B0/{token}'\n"
                                f"  - url: 'http://bot:{token}x@[::1/h'\n")
    outcome = run_cli(repo, "run", "--format", "json")
    assert outcome.code == 2
    assert "webhooks[0].url" in outcome.stderr
    assert token not in outcome.stderr + outcome.stdout
    assert "hooks.slack.example/services" not in outcome.stderr


def test_github_server_url_userinfo_never_reaches_labels_or_the_record(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
    docker_engine: docker.DockerClient, tmp_path: Path,
) -> None:
    repo = git_repo(tags=("v0.1.0",))
    write(repo, "dockyard.yml", f"images: [{registry.host}/acme/serverurl]\npush: false\n")
    token = "ghp_serverUrlToken77129"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": f"https://x-access:{token}@git.example",
           "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "12", "GITHUB_REF": "refs/tags/v0.1.0",
           "GITHUB_EVENT_NAME": "push", "GITHUB_OUTPUT": str(tmp_path / "out")}
    outcome = run_cli(repo, "run", "--format", "json", env=env)
    assert outcome.code == 0, outcome.stderr
    labels = docker_engine.images.get(outcome.json["image_id"]).labels
    assert labels["org.opencontainers.image.source"] == "https://git.example/acme/app"
    assert labels["org.opencontainers.image.url"] == "https://git.example/acme/app"
    everything = json.dumps(labels) + outcome.stdout + (tmp_path / "out").read_text()
    assert token not in everything and "x-access" not in everything


def _fork_env(repo: Path, tmp_path: Path, **secrets: str) -> dict[str, str]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {
        "number": 7, "head": {"ref": "feature", "sha": sha,
                              "repo": {"full_name": "someone/app", "fork": True}},
        "base": {"ref": "main", "repo": {"full_name": "acme/app"}}}}))
    return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_REF": "refs/pull/7/merge", "GITHUB_SHA": sha, "GITHUB_HEAD_REF": "feature",
            "GITHUB_BASE_REF": "main", "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_EVENT_PATH": str(event), **secrets}


def test_a_fork_s_empty_secrets_count_as_unset_and_the_run_says_what_that_means(
    git_repo: Callable[..., Path], base_image: str, auth_registry: Registry,
    webhook_receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    repo = git_repo(branch="feature")
    write(repo, "dockyard.yml", f"images: [{auth_registry.host}/acme/forkempty]\n"
                                "tags: ['type=ref,event=pr']\n"
                                f"registries:\n  {auth_registry.host}:\n"
                                "    username: ${REGISTRY_USER}\n"
                                "    password: ${REGISTRY_PASSWORD}\n"
                                "webhooks:\n"
                                f"  - url: {webhook_receiver.url}\n"
                                "    secret: ${WEBHOOK_SECRET}\n"
                                "    required: true\n"
                                "    headers: {Authorization: 'Bearer ${HOOK_TOKEN}'}\n")
    # GitHub hands a fork's PR empty strings for its secrets
    env = _fork_env(repo, tmp_path, REGISTRY_USER="bot", REGISTRY_PASSWORD="",
                    WEBHOOK_SECRET="", HOOK_TOKEN="")
    outcome = run_cli(repo, "run", "--format", "json", env=env)
    assert outcome.code == 0, outcome.stderr
    masks = [line.removeprefix("::add-mask::") for line in outcome.stderr.splitlines()
             if line.startswith("::add-mask::")]
    assert all(len(mask.strip()) > 2 and mask.strip() != "Bearer" for mask in masks)
    (request,) = webhook_receiver.requests
    assert request.header("Authorization") is None
    assert request.header("X-Hub-Signature-256") is None
    assert any("not signed" in w for w in outcome.json["warnings"])
    assert "not signed" in outcome.stderr
    assert "headers.Authorization is empty" in outcome.stderr
    assert secrets.redact("use a Bearer token") == "use a Bearer token"


def test_a_fork_s_unset_push_and_notify_variables_do_not_fail_the_config(
    git_repo: Callable[..., Path], base_image: str, auth_registry: Registry, tmp_path: Path,
) -> None:
    repo = git_repo(branch="feature")
    write(repo, "dockyard.yml", f"images: [{auth_registry.host}/acme/forkunset]\n"
                                "tags: ['type=ref,event=pr']\n"
                                f"registries:\n  {auth_registry.host}:\n"
                                "    username: ${REGISTRY_USER}\n"
                                "    password: ${REGISTRY_PASSWORD}\n"
                                "webhooks:\n  - url: ${SLACK_WEBHOOK_URL}\n"
                                "    secret: ${WEBHOOK_SECRET}\n")
    outcome = run_cli(repo, "run", "--format", "json", env=_fork_env(repo, tmp_path))
    assert outcome.code == 0, outcome.stderr
    assert outcome.json["event"] == "build.succeeded"
    assert outcome.json["webhooks"] == []
    assert "webhooks[0] is not used in this run" in outcome.stderr
    # `check` reads the config as `run` does: no "unset variable" for a fork's PR
    checked = run_cli(repo, "check", "--format", "json", env=_fork_env(repo, tmp_path))
    config = next(c for c in checked.json["checks"] if c["name"] == "config")
    assert config["ok"], config
    # outside a fork's PR the same config is an error for run, as before (plan, which
    # pushes nothing, notes the unset variables instead)
    env = _fork_env(repo, tmp_path, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/feature")
    assert run_cli(repo, "run", env=env).code == 2
    planned = run_cli(repo, "plan", env=env)
    assert planned.code == 0
    assert "uses ${REGISTRY_PASSWORD}, which is not set: `run` needs it" in planned.stderr


HOST_PASSWORD = "HostPw-Hunter22x"  # mixed case: a lower-cased quote of it leaks it too
CREDENTIAL_HOST = f"bot:{HOST_PASSWORD}@127.0.0.1:5000"


@pytest.mark.parametrize("config", [
    f"images: ['{CREDENTIAL_HOST}/acme/app']\n",
    f"images: [127.0.0.1:5000/acme/app]\nregistries:\n  '{CREDENTIAL_HOST}': "
    "{username: u, password: pw-123}\n",
    f"images: [127.0.0.1:5000/acme/app]\nregistries:\n  'https://{CREDENTIAL_HOST}': "
    "{username: u, password: pw-123}\n",
], ids=["image", "registries key", "registries URL key"])
def test_credentials_written_into_a_registry_host_are_refused_and_never_quoted(
    git_repo: Callable[..., Path], config: str,
) -> None:
    """`user:password@host` is how a URL carries them; Dockyard takes them under
    `registries:`. The name was quoted, lower-cased or not, in the config error."""
    repo = git_repo(tags=("v0.1.0",))
    write(repo, "dockyard.yml", config)
    for command in (("plan",), ("run", "--format", "json"), ("check",)):
        outcome = run_cli(repo, *command)
        assert outcome.code == (1 if command == ("check",) else 2), outcome.stderr
        assert "'127.0.0.1:5000' is written with credentials" in outcome.stderr + outcome.stdout
        assert HOST_PASSWORD.lower() not in (outcome.stdout + outcome.stderr).lower()


@pytest.mark.parametrize("scheme", ["tcp", "http"])
def test_credentials_in_docker_host_are_never_quoted(
    git_repo: Callable[..., Path], scheme: str,
) -> None:
    """An engine behind an authenticating proxy; the error named DOCKER_HOST whole."""
    repo = git_repo(tags=("v0.1.0",))
    write(repo, "dockyard.yml", "images: [local/dockerhost]\n")
    env = {"DOCKER_HOST": f"{scheme}://bot:{HOST_PASSWORD}@127.0.0.1:9"}  # nothing listens
    for command in (("run", "--no-push", "--format", "json"), ("check",)):
        outcome = run_cli(repo, *command, env=env)
        assert outcome.code == 1, outcome.stderr
        assert "127.0.0.1:9" in outcome.stderr + outcome.stdout  # still says which engine
        assert HOST_PASSWORD not in outcome.stdout + outcome.stderr
