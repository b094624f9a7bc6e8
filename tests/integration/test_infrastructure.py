"""The test infrastructure works for real: engine, base image, registries, receiver, git repos.

If these fail, every other integration test's failure is suspect: read these first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from support.gitrepo import FIXED_DATE, git
from support.hermetic import scrubbed
from support.receiver import WebhookReceiver, verify_signature
from support.registry import Registry

# The example from GitHub's documentation on validating webhook deliveries.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_push_with_docker_py_lands_in_the_auth_registry(
    docker_engine: docker.DockerClient,
    base_image: str,
    auth_registry: Registry,
    tmp_path: Path,
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN echo built > /built.txt\nLABEL org.example.test=infrastructure\n"
    )
    repository = f"{auth_registry.host}/dockyard-test/infra"
    docker_engine.images.build(path=str(tmp_path), tag=f"{repository}:v1", rm=True, forcerm=True)
    try:
        stream = docker_engine.images.push(
            repository, tag="v1", auth_config=auth_registry.auth_config, stream=True, decode=True
        )
        items: list[dict[str, Any]] = list(stream)
    finally:
        docker_engine.images.remove(f"{repository}:v1")

    assert [item for item in items if "error" in item] == []
    pushed_digest = next(item["aux"]["Digest"] for item in items if "aux" in item)
    assert auth_registry.tags("dockyard-test/infra") == ["v1"]
    assert auth_registry.manifest_digest("dockyard-test/infra", "v1") == pushed_digest
    assert auth_registry.manifest_digest("dockyard-test/infra", pushed_digest) == pushed_digest
    manifest = auth_registry.manifest("dockyard-test/infra", "v1")
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    labels = auth_registry.config_labels("dockyard-test/infra", "v1")
    assert labels["org.example.test"] == "infrastructure"


def test_push_without_credentials_is_refused_in_the_stream(
    docker_engine: docker.DockerClient, auth_registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    repository = f"{auth_registry.host}/dockyard-test/anonymous"
    docker_engine.images.build(path=str(tmp_path), tag=f"{repository}:v1", rm=True)
    try:
        items = list(docker_engine.images.push(repository, tag="v1", stream=True, decode=True))
    finally:
        docker_engine.images.remove(f"{repository}:v1")

    errors = [item["error"] for item in items if "error" in item]
    assert errors, items
    assert "no basic auth credentials" in errors[0]
    assert auth_registry.tags("dockyard-test/anonymous") == []


def test_auth_registry_answers_401_without_credentials(auth_registry: Registry) -> None:
    with requests.Session() as anonymous:
        anonymous.trust_env = False
        root = anonymous.get(f"{auth_registry.url}/v2/", timeout=10)
        tags = anonymous.get(f"{auth_registry.url}/v2/dockyard-test/infra/tags/list", timeout=10)
        wrong = anonymous.get(f"{auth_registry.url}/v2/", auth=("dockyard-ci", "wrong"), timeout=10)

    assert root.status_code == 401
    assert root.headers["WWW-Authenticate"].startswith("Basic ")
    assert tags.status_code == 401
    assert wrong.status_code == 401


def test_registry_reports_unknown_names_as_empty(registry: Registry) -> None:
    assert registry.username is None
    assert registry.auth_config is None
    assert registry.tags("dockyard-test/never-pushed") == []
    assert registry.manifest_digest("dockyard-test/never-pushed", "latest") is None


def test_registry_factory_starts_independent_registries(
    registry_factory: Callable[[], Registry], registry: Registry
) -> None:
    extra = registry_factory()

    assert extra.host != registry.host
    assert extra.host.startswith("127.0.0.1:")
    assert extra.tags("anything") == []


def test_receiver_records_exact_bytes_and_answers_the_script(
    webhook_receiver: WebhookReceiver,
) -> None:
    body = b'{"event": "published",  "tags": ["v1"]}\n'
    webhook_receiver.script([500, 503, 200])
    with requests.Session() as client:
        client.trust_env = False
        statuses = [
            client.post(
                webhook_receiver.url,
                data=body,
                headers={"X-Hub-Signature-256": "sha256=00"},
                timeout=5,
            ).status_code
            for _ in range(4)
        ]

    assert statuses == [500, 503, 200, 200]
    assert len(webhook_receiver.requests) == 4
    first = webhook_receiver.requests[0]
    assert (first.method, first.path, first.body) == ("POST", "/hook", body)
    assert first.header("x-hub-signature-256") == "sha256=00"
    assert first.header("Content-Length") == str(len(body))


def test_receiver_reads_chunked_bodies(webhook_receiver: WebhookReceiver) -> None:
    with requests.Session() as client:
        client.trust_env = False
        response = client.post(webhook_receiver.url, data=iter([b"abc", b"", b"defgh"]), timeout=5)

    assert response.status_code == 200
    assert webhook_receiver.requests[0].body == b"abcdefgh"


def test_killed_receiver_refuses_connections(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.kill()

    with requests.Session() as client:
        client.trust_env = False
        with pytest.raises(requests.ConnectionError):
            client.post(webhook_receiver.url, data=b"{}", timeout=5)
    assert webhook_receiver.requests == []


def test_verify_signature_accepts_githubs_example_and_rejects_others() -> None:
    computed = hmac.new(GITHUB_SECRET.encode(), GITHUB_PAYLOAD, hashlib.sha256).hexdigest()

    assert f"sha256={computed}" == GITHUB_SIGNATURE
    assert verify_signature(GITHUB_PAYLOAD, GITHUB_SIGNATURE, GITHUB_SECRET)
    assert not verify_signature(GITHUB_PAYLOAD, GITHUB_SIGNATURE, "another secret")
    assert not verify_signature(GITHUB_PAYLOAD + b" ", GITHUB_SIGNATURE, GITHUB_SECRET)
    assert not verify_signature(GITHUB_PAYLOAD, GITHUB_SIGNATURE.replace("sha256", "sha1"), "x")
    assert not verify_signature(GITHUB_PAYLOAD, "", GITHUB_SECRET)


def test_git_repo_is_reproducible_tagged_and_on_its_branch(
    git_repo: Callable[..., Path],
) -> None:
    first = git_repo(tags=["v1.2.3"], branch="release")
    second = git_repo(tags=["v1.2.3"], branch="release")

    assert (first / "Dockerfile").read_text().startswith("FROM scratch")
    assert git(first, "rev-parse", "HEAD") == git(second, "rev-parse", "HEAD")
    assert git(first, "describe", "--tags") == "v1.2.3"
    assert git(first, "branch", "--show-current") == "release"
    assert git(first, "log", "-1", "--format=%cI") == FIXED_DATE
    assert git(first, "status", "--porcelain") == ""


def test_annotated_tags_are_found_by_plain_describe(git_repo: Callable[..., Path]) -> None:
    repo = git_repo({"README": "x\n"}, tags=["v2.0.0"], annotated=True)

    assert git(repo, "describe") == "v2.0.0"


def test_environment_is_hermetic(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert not [name for name in os.environ if scrubbed([name])]
    assert Path(os.environ["HOME"]).is_relative_to(tmp_path_factory.getbasetemp())
    assert os.environ["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert os.environ["GIT_CONFIG_NOSYSTEM"] == "1"


def test_scrub_list_keeps_docker_host_and_drops_ci_variables() -> None:
    names = ["PATH", "DOCKER_HOST", "CI", "GITHUB_REF", "CI_COMMIT_SHA", "BUILD_NUMBER", "CIRCLE"]

    assert scrubbed(names) == ["BUILD_NUMBER", "CI", "CI_COMMIT_SHA", "GITHUB_REF"]
