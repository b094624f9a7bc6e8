"""Registry conventions: ECR's token exchange, GitLab's job credentials, hosts."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dockyard.errors import ConfigError
from dockyard.registry import RegistryError, ecr_credentials, is_ecr
from dockyard.settings import load_settings

PRIVATE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def stubbed(service: str, region: str, answer: dict[str, Any] | None,
            expected: dict[str, Any] | None = None) -> Any:
    client = boto3.client(service, region_name=region, aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="not-a-real-key")
    stub = Stubber(client)
    if answer is None:
        stub.add_client_error("get_authorization_token", "AccessDeniedException")
    else:
        stub.add_response("get_authorization_token", answer, expected)
    stub.activate()
    return client


def token(password: str) -> str:
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def test_private_ecr_token_is_exchanged_in_the_registry_region() -> None:
    made: list[tuple[str, str]] = []

    def factory(service: str, region_name: str) -> Any:
        made.append((service, region_name))
        return stubbed(service, region_name,
                       {"authorizationData": [{"authorizationToken": token("ecr-pass-77")}]},
                       {"registryIds": ["123456789012"]})

    credentials = ecr_credentials(PRIVATE, factory)
    assert made == [("ecr", "eu-west-1")]
    assert credentials.username == "AWS"
    assert credentials.password.reveal() == "ecr-pass-77"
    assert "ecr-pass-77" not in repr(credentials)


def test_ecr_public_token_comes_from_us_east_1() -> None:
    def factory(service: str, region_name: str) -> Any:
        assert (service, region_name) == ("ecr-public", "us-east-1")
        return stubbed(service, region_name,
                       {"authorizationData": {"authorizationToken": token("pub-pass-12")}})

    assert ecr_credentials("public.ecr.aws", factory).password.reveal() == "pub-pass-12"


def test_ecr_without_permission_says_what_to_grant() -> None:
    with pytest.raises(RegistryError) as caught:
        ecr_credentials(PRIVATE, lambda service, region_name: stubbed(service, region_name,
                                                                      None))
    assert "ClientError" in str(caught.value)
    assert "ecr:GetAuthorizationToken" in str(caught.value)


@pytest.mark.parametrize(("host", "ecr"), [
    (PRIVATE, True), ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", True),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", True), ("public.ecr.aws", True),
    ("ghcr.io", False), ("evil.dkr.ecr.eu-west-1.amazonaws.com.example", False),
])
def test_ecr_hosts(host: str, ecr: bool) -> None:
    assert is_ecr(host) is ecr


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "dockyard.yml"
    path.write_text(text)
    return path


def test_gitlab_job_credentials_serve_the_ci_registry(tmp_path: Path) -> None:
    path = write_config(tmp_path, "images: [registry.gitlab.example/group/app]\n")
    env = {"CI_REGISTRY": "registry.gitlab.example", "CI_REGISTRY_USER": "gitlab-ci-token",
           "CI_REGISTRY_PASSWORD": "job-token-3321"}
    settings = load_settings(path, env)
    found = settings.credentials_for("registry.gitlab.example/group/app")
    assert found is not None and found.username == "gitlab-ci-token"
    assert found.password.reveal() == "job-token-3321"
    assert settings.credentials_for("ghcr.io/acme/app") is None


def test_configured_credentials_win_over_gitlab_job_credentials(tmp_path: Path) -> None:
    path = write_config(tmp_path, "images: [registry.gitlab.example/group/app]\n"
                                  "registries:\n  registry.gitlab.example:\n"
                                  "    username: deploy\n    password: deploy-pass-1\n")
    env = {"CI_REGISTRY": "registry.gitlab.example", "CI_REGISTRY_USER": "gitlab-ci-token",
           "CI_REGISTRY_PASSWORD": "job-token-3321"}
    found = load_settings(path, env).credentials_for("registry.gitlab.example/group/app")
    assert found is not None and found.username == "deploy"


def test_publish_section_is_validated(tmp_path: Path) -> None:
    path = write_config(tmp_path, "images: [ghcr.io/acme/app]\n"
                                  "publish: {retries: 2, backoff_seconds: 0.5}\n")
    publishing = load_settings(path, {}).publishing
    assert (publishing.retries, publishing.backoff_seconds) == (2, 0.5)
    assert publishing.max_backoff_seconds == 30.0
    bad = write_config(tmp_path, "images: [ghcr.io/acme/app]\n"
                                 "publish: {retries: -1, backof_seconds: 1}\n")
    with pytest.raises(ConfigError, match="did you mean 'backoff_seconds'") as caught:
        load_settings(bad, {})
    assert "publish.backof_seconds" in str(caught.value)
    negative = write_config(tmp_path, "images: [ghcr.io/acme/app]\npublish: {retries: -1}\n")
    with pytest.raises(ConfigError, match=r"publish\.retries: must be between 0 and 20"):
        load_settings(negative, {})
