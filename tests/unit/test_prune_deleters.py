"""Which deleter a registry host gets, with which credentials, and what ECR's answers
mean (per-image failures, errors) with botocore stubs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dockyard.prune import hosted_apis
from dockyard.prune.deleters import Apis, Deleter, Login, deleter_for
from dockyard.registry import RegistryClient, RegistryError
from dockyard.registry.acr import is_acr
from dockyard.registry.ecr import EcrApi
from dockyard.secrets import Secret

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CI_GITLAB = "registry.example.com"
CI = Apis(urls={CI_GITLAB: "https://gitlab.example.com/api/v4"}, gitlab=CI_GITLAB,
          job_token=Secret("job-token-for-the-unit-test"))


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients are made (never used) with fake credentials and no endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


NONE = Login()
NO_APIS = Apis()


def api_of(host: str, login: Login = NONE, apis: Apis = NO_APIS) -> str:
    with RegistryClient(host) as client:
        deleter: Deleter = deleter_for(host, client, login=login, apis=apis)
        deleter.close()
        return deleter.api


@pytest.mark.parametrize(("host", "login", "apis", "api"), [
    ("ghcr.io", Login("bot", "ghp_x"), Apis(), "github-packages"),
    ("docker.io", Login("bot", "dckr_pat_x"), Apis(), "docker-hub"),
    (ECR, Login("AWS", "ecr-pass"), Apis(), "ecr"),
    ("registry.example.com:5000", Login("u", "p", "an-api-token"), Apis(), "distribution"),
    # Quay: its API with an api_token, or the password of the $oauthtoken login; a robot
    # without a token deletes through the registry API alone.
    ("quay.io", Login("acme+robot", "robot-pass", "oauth-token"), Apis(), "quay"),
    ("quay.io", Login("$oauthtoken", "oauth-token"), Apis(), "quay"),
    ("quay.io", Login("acme+robot", "robot-pass"), Apis(), "distribution"),
    ("acme.azurecr.io", Login("sp", "secret"), Apis(), "acr"),
    ("acme.azurecr.cn", Login(), Apis(), "acr"),
    # GitLab: registry.gitlab.com with an api_token, the CI's own registry with the
    # job token; the job token is never sent to another GitLab.
    ("registry.gitlab.com", Login("u", "p", "glpat-x"), Apis(), "gitlab"),
    ("registry.gitlab.com", Login("u", "p"), CI, "distribution"),
    (CI_GITLAB, Login(), CI, "gitlab"),
    (CI_GITLAB, Login(), Apis(gitlab=CI_GITLAB), "distribution"),
])
def test_each_host_gets_its_own_api(host: str, login: Login, apis: Apis, api: str) -> None:
    assert api_of(host, login, apis) == api


@pytest.mark.parametrize("host", ["acme.azurecr.io", "a-b1.azurecr.us"])
def test_acr_hosts(host: str) -> None:
    assert is_acr(host)


@pytest.mark.parametrize("host", ["azurecr.io", "acme.azurecr.io.example.com",
                                  "acme.azurecr.com", "-acme.azurecr.io"])
def test_not_acr_hosts(host: str) -> None:
    assert not is_acr(host)
    assert api_of(host) == "distribution"


def test_ecr_public_is_skipped_saying_why() -> None:
    with pytest.raises(RegistryError, match="ECR Public"):
        api_of("public.ecr.aws")


def test_a_ci_gitlab_whose_api_is_not_known_is_skipped() -> None:
    with pytest.raises(RegistryError, match="CI_API_V4_URL"):
        api_of(CI_GITLAB, apis=Apis(gitlab=CI_GITLAB, job_token=Secret("job-token-xyz")))


def test_hosted_apis_read_from_the_ci_variables() -> None:
    apis = hosted_apis({"GITHUB_API_URL": "https://ghe.example.com/api/v3",
                        "CI_REGISTRY": "Registry.Example.com",
                        "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
                        "CI_JOB_TOKEN": "job-token-read-here"})
    assert apis.urls == {"ghcr.io": "https://ghe.example.com/api/v3",
                         CI_GITLAB: "https://gitlab.example.com/api/v4"}
    assert apis.gitlab == CI_GITLAB and apis.is_gitlab(CI_GITLAB)
    assert apis.job_token is not None and apis.job_token.reveal() == "job-token-read-here"
    assert "job-token-read-here" not in repr(apis)
    assert hosted_apis({"CI_JOB_TOKEN": "no-registry"}) == Apis()


# ---------------------------------------------------------------- ECR's answers


@pytest.fixture
def stub() -> Iterator[tuple[EcrApi, Stubber]]:
    client = boto3.client("ecr", region_name="eu-west-1")
    stubber = Stubber(client)
    made: list[tuple[str, str]] = []

    def factory(service: str, region_name: str) -> Any:
        made.append((service, region_name))
        return client

    with stubber:
        yield EcrApi(ECR, client_factory=factory), stubber
        stubber.assert_no_pending_responses()
    assert made == [("ecr", "eu-west-1")]


def expect(stubber: Stubber, image: dict[str, str], answer: dict[str, Any]) -> None:
    stubber.add_response("batch_delete_image", answer, {
        "registryId": "123456789012", "repositoryName": "acme/app", "imageIds": [image]})


DIGEST = "sha256:" + "a" * 64


def test_ecr_deletes_by_digest_and_by_tag(stub: tuple[EcrApi, Stubber]) -> None:
    ecr, stubber = stub
    expect(stubber, {"imageDigest": DIGEST},
           {"imageIds": [{"imageDigest": DIGEST, "imageTag": "pr-1"}], "failures": []})
    expect(stubber, {"imageTag": "sha-1111111"},
           {"imageIds": [{"imageDigest": DIGEST, "imageTag": "sha-1111111"}]})
    assert ecr.delete("acme/app", {"imageDigest": DIGEST}) is True
    assert ecr.delete("acme/app", {"imageTag": "sha-1111111"}) is True


def test_an_image_ecr_does_not_find_was_gone_already(stub: tuple[EcrApi, Stubber]) -> None:
    ecr, stubber = stub
    expect(stubber, {"imageDigest": DIGEST}, {"failures": [
        {"imageId": {"imageDigest": DIGEST}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"}]})
    assert ecr.delete("acme/app", {"imageDigest": DIGEST}) is False


def test_every_other_failure_is_reported(stub: tuple[EcrApi, Stubber]) -> None:
    ecr, stubber = stub
    expect(stubber, {"imageDigest": DIGEST}, {"failures": [
        {"imageId": {"imageDigest": DIGEST}, "failureCode": "ImageReferencedByManifestList",
         "failureReason": "referenced by an index"},
        {"imageId": {"imageDigest": DIGEST}, "failureCode": "KmsError",
         "failureReason": "key disabled"}]})
    with pytest.raises(RegistryError) as caught:
        ecr.delete("acme/app", {"imageDigest": DIGEST})
    message = str(caught.value)
    assert "ImageReferencedByManifestList: referenced by an index" in message
    assert "KmsError: key disabled" in message and "index" in (caught.value.hint or "")


def test_an_ecr_error_names_its_code_and_the_permission(stub: tuple[EcrApi, Stubber]) -> None:
    ecr, stubber = stub
    stubber.add_client_error("batch_delete_image", "AccessDeniedException",
                             "not authorized to perform: ecr:BatchDeleteImage")
    with pytest.raises(RegistryError) as caught:
        ecr.delete("acme/app", {"imageTag": "pr-1"})
    assert "acme/app:pr-1: AccessDeniedException" in str(caught.value)
    assert "ecr:BatchDeleteImage" in (caught.value.hint or "")


def test_an_answer_with_neither_deletion_nor_failure_is_an_error(
        stub: tuple[EcrApi, Stubber]) -> None:
    ecr, stubber = stub
    expect(stubber, {"imageTag": "pr-1"}, {})
    with pytest.raises(RegistryError, match="neither"):
        ecr.delete("acme/app", {"imageTag": "pr-1"})
