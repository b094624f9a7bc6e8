"""`dockyard prune --apply`, run from the CLI, on the registries whose deletes go (in part)
through their own APIs: each a loopback stand-in of its documented endpoints over a
real distribution registry that holds the images.

- ECR: `BatchDeleteImage` through boto3 (signed with the job's AWS credentials, the
  endpoint from `AWS_ENDPOINT_URL_ECR`), the login through `GetAuthorizationToken`;
- Quay: a tag alone through its API, an image through the registry API;
- ACR: a tag alone through `/acr/v1`, with the registry's own token login;
- GitLab: tags through its API (the project and repository looked up), with the CI's
  `CI_REGISTRY`, `CI_API_V4_URL` and `CI_JOB_TOKEN`, or an `api_token`.

The hosted names are pointed at loopback as DNS would (`standin.resolve`); in every case
the release and the open pull request stay, the sha tag on the release goes alone, and
the closed pull request's image goes with its sha tag.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.acr import AcrApi
from support.cli import Outcome, run_cli
from support.ecr import EcrApi
from support.gitlab_registry import GitLabRegistry
from support.quay import QuayApi
from support.registry import RegistryFactory
from support.standin import StandIn, resolve

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
AWS_KEY_ID = "AKIAPRUNETEST0000001"
AWS_SECRET = "prune-test-aws-secret-key-0123456789"
QUAY_TOKEN = "quay-oauth-prunetest-0123456789"
ROBOT_PASSWORD = "quay-robot-prunetest-9876543210"
ACR_PASSWORD = "acr-sp-password-prunetest-4711"
JOB_TOKEN = "glcbt-jobtoken-prunetest-0123"
GITLAB_TOKEN = "glpat-prunetest-0123456789"
TAGS = '["type=semver,pattern={{version}}", "type=ref,event=pr", type=sha]'
RETENTION = "retention:\n  sha: {keep_last: 0}\n  pull_requests: open\n"
PRUNE = ("prune", "--apply", "--open-prs", "2", "--format", "json")


def config(image: str, registries: str = "") -> str:
    return f"images: [{image}]\ntags: {TAGS}\n{registries}{RETENTION}"


def history(standin: StandIn, name: str) -> dict[str, str]:
    """A release with its sha tag, a closed pull request's image with its sha tag, an
    open pull request's image; their digests."""
    return {"release": standin.build(name, "1.0.0", "1.0.0", "sha-1111111"),
            "closed": standin.build(name, "pr-1", "pr-1", "sha-2222222"),
            "open": standin.build(name, "pr-2", "pr-2")}


def prune_cli(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Outcome:
    (tmp_path / "dockyard.yml").write_text(text)
    return run_cli(tmp_path, *PRUNE, env=env)


def pruned(done: Outcome) -> dict[str, Any]:
    (repo,) = done.json["repositories"]
    assert repo["status"] == "pruned", (repo["error"], done.stderr)
    assert done.code == 0
    return dict(repo)


def how(repo: dict[str, Any]) -> dict[tuple[str, ...], tuple[str, str]]:
    return {tuple(d["tags"]): (d["how"], d["digest"]) for d in repo["deleted"]}


def assert_no_secret(done: Outcome, record: Path | None, *secrets: str) -> None:
    texts = [done.stdout, done.stderr] + ([record.read_text()] if record else [])
    for secret in secrets:
        assert all(secret not in text for text in texts), secret


def expected_deletions(digests: dict[str, str]) -> dict[tuple[str, ...], tuple[str, str]]:
    return {("sha-1111111",): ("tag", digests["release"]),
            ("pr-1", "sha-2222222"): ("image", digests["closed"])}


# ---------------------------------------------------------------- Amazon ECR


@pytest.fixture
def ecr(registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Iterator[EcrApi]:
    """ECR's API on loopback, boto3 pointed at it by its own variables, and the registry
    (a login is `AWS` and a password the API hands out) where ECR's host would be."""
    pytest.importorskip("boto3")
    registry = registry_factory("AWS", "ecr-registry-password-0123")
    standin = EcrApi(registry, access_key=AWS_KEY_ID)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", standin.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    resolve(monkeypatch, {ECR_HOST: registry.host})
    yield standin
    standin.close()


def test_ecr_deletes_an_image_by_digest_and_a_tag_alone_by_tag_through_batch_delete_image(
        ecr: EcrApi, tmp_path: Path) -> None:
    digests = history(ecr, "acme/app")
    ecr.throttle = 1  # ECR's rate limit: botocore retries it
    done = prune_cli(tmp_path, config(f"{ECR_HOST}/acme/app"))
    repo = pruned(done)
    assert repo["api"] == "ecr"
    assert how(repo) == expected_deletions(digests)
    # Exactly these deletions reached ECR, in this order, each one image, for the
    # account and the repository the host and the image name say.
    assert [(b["registryId"], b["repositoryName"], b["imageIds"]) for b in ecr.batches] == [
        ("123456789012", "acme/app", [{"imageTag": "sha-1111111"}]),
        ("123456789012", "acme/app", [{"imageDigest": digests["closed"]}])]
    assert set(ecr.regions) == {"eu-west-1"}  # signed for the host's region
    # The login was exchanged first; the first throttled request was sent again.
    assert [target for _, target in ecr.requests] == [
        "GetAuthorizationToken", "GetAuthorizationToken", "BatchDeleteImage",
        "BatchDeleteImage"]
    assert sorted(ecr.registry.tags("acme/app")) == ["1.0.0", "pr-2"]
    assert ecr.registry.manifest_digest("acme/app", "1.0.0") == digests["release"]
    assert_no_secret(done, None, AWS_SECRET, "ecr-registry-password-0123")


def test_an_ecr_failure_is_reported_and_stops_the_registry_with_what_went_listed(
        ecr: EcrApi, tmp_path: Path) -> None:
    digests = history(ecr, "acme/app")
    ecr.failures[digests["closed"]] = ("ImageReferencedByManifestList",
                                       "Requested image referenced by manifest list")
    done = prune_cli(tmp_path, config(f"{ECR_HOST}/acme/app"))
    (repo,) = done.json["repositories"]
    assert done.code == 1 and repo["status"] == "partial"
    assert "ImageReferencedByManifestList" in repo["error"]
    assert how(repo) == {("sha-1111111",): ("tag", digests["release"])}
    assert sorted(ecr.registry.tags("acme/app")) == ["1.0.0", "pr-1", "pr-2", "sha-2222222"]


def test_without_boto3_prune_says_how_to_install_it_and_leaves_ecr_alone(
        ecr: EcrApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    history(ecr, "acme/app")
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    registries = (f"registries:\n  {ECR_HOST}: {{username: AWS, "
                  "password: ecr-registry-password-0123}\n")
    done = prune_cli(tmp_path, config(f"{ECR_HOST}/acme/app", registries))
    (repo,) = done.json["repositories"]
    assert done.code == 1 and repo["status"] == "skipped"
    assert "needs boto3" in repo["error"] and "dockyard[ecr]" in repo["error"]
    assert ecr.requests == []
    assert len(ecr.registry.tags("acme/app")) == 5


# ---------------------------------------------------------------- Quay


@pytest.fixture
def quay(registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[QuayApi]:
    standin = QuayApi(registry_factory(), token=QUAY_TOKEN)
    resolve(monkeypatch, {"quay.io": standin.host})
    yield standin
    standin.close()


def test_quay_deletes_a_tag_alone_through_its_api_with_the_api_token(
        quay: QuayApi, tmp_path: Path) -> None:
    digests = history(quay, "acme/app")
    quay.statuses.append(429)  # Quay's rate limit, with Retry-After: 0
    registries = ('registries:\n  quay.io: {username: "acme+prune", '
                  f'password: {ROBOT_PASSWORD}, api_token: "{QUAY_TOKEN}"}}\n')
    done = prune_cli(tmp_path, config("quay.io/acme/app", registries))
    repo = pruned(done)
    assert repo["api"] == "quay"
    assert how(repo) == expected_deletions(digests)
    tag = ("DELETE", "/api/v1/repository/acme/app/tag/sha-1111111")
    assert quay.requests == [tag, tag]  # 429, then again; the image went by digest
    assert sorted(quay.registry.tags("acme/app")) == ["1.0.0", "pr-2"]
    record = tmp_path / "prune.json"
    again = run_cli(tmp_path, *PRUNE, "--output", "prune.json")
    assert pruned(again)["deleted"] == []
    assert_no_secret(done, None, QUAY_TOKEN, ROBOT_PASSWORD)
    assert_no_secret(again, record, QUAY_TOKEN, ROBOT_PASSWORD)


def test_quay_takes_the_password_as_the_oauth_token_for_the_oauthtoken_user(
        quay: QuayApi, tmp_path: Path) -> None:
    history(quay, "acme/app")
    registries = f'registries:\n  quay.io: {{username: "$oauthtoken", password: {QUAY_TOKEN}}}\n'
    repo = pruned(prune_cli(tmp_path, config("quay.io/acme/app", registries)))
    assert repo["api"] == "quay"
    assert quay.requests == [("DELETE", "/api/v1/repository/acme/app/tag/sha-1111111")]


def test_a_quay_token_refused_stops_quay_and_says_which_token_it_needs(
        quay: QuayApi, tmp_path: Path) -> None:
    digests = history(quay, "acme/app")
    registries = ('registries:\n  quay.io: {username: "acme+prune", '
                  f'password: {ROBOT_PASSWORD}, api_token: "not-{QUAY_TOKEN}"}}\n')
    done = prune_cli(tmp_path, config("quay.io/acme/app", registries))
    (repo,) = done.json["repositories"]
    assert done.code == 1 and repo["status"] == "skipped"
    assert "repo:write" in repo["error"] and "api_token" in repo["error"]
    assert repo["deleted"] == []  # the tag alone goes first: nothing was deleted
    assert quay.registry.manifest_digest("acme/app", "pr-1") == digests["closed"]
    assert_no_secret(done, None, QUAY_TOKEN, ROBOT_PASSWORD)


# ---------------------------------------------------------------- Azure Container Registry


@pytest.fixture
def acr(registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[AcrApi]:
    standin = AcrApi(registry_factory(), username="prune-sp", password=ACR_PASSWORD)
    resolve(monkeypatch, {"acme.azurecr.io": standin.host})
    yield standin
    standin.close()


ACR = config("acme.azurecr.io/acme/app", "registries:\n  acme.azurecr.io: {username: "
             f"prune-sp, password: {ACR_PASSWORD}}}\n")


def test_acr_deletes_a_tag_alone_through_acr_v1_with_the_registry_login(
        acr: AcrApi, tmp_path: Path) -> None:
    digests = history(acr, "acme/app")
    acr.requests.clear()
    done = prune_cli(tmp_path, ACR)
    repo = pruned(done)
    assert repo["api"] == "acr"
    assert how(repo) == expected_deletions(digests)
    deletes = [path for method, path in acr.requests if method == "DELETE"]
    # The first DELETE is challenged for the delete action and sent again with a token
    # from the registry's login, which the registry API's DELETE then takes too.
    assert deletes == ["/acr/v1/acme/app/_tags/sha-1111111"] * 2 + [
        f"/v2/acme/app/manifests/{digests['closed']}"]
    assert sorted(acr.registry.tags("acme/app")) == ["1.0.0", "pr-2"]
    assert_no_secret(done, None, ACR_PASSWORD)


def test_an_acr_tag_deleted_whose_answer_was_lost_is_in_the_record(
        acr: AcrApi, tmp_path: Path) -> None:
    digests = history(acr, "acme/app")
    acr.lost.append("DELETE")  # ACR deleted the tag; the answer never came
    done = prune_cli(tmp_path, ACR)
    repo = pruned(done)
    assert how(repo) == expected_deletions(digests)  # not "gone already": deleted, recorded
    assert sorted(acr.registry.tags("acme/app")) == ["1.0.0", "pr-2"]


def test_acr_credentials_without_the_delete_role_delete_nothing(
        acr: AcrApi, tmp_path: Path) -> None:
    history(acr, "acme/app")
    acr.grant = {"pull"}
    done = prune_cli(tmp_path, ACR)
    (repo,) = done.json["repositories"]
    assert done.code == 1 and repo["status"] == "skipped" and repo["deleted"] == []
    assert "no delete right" in repo["error"] and "AcrDelete" in repo["error"]
    assert len(acr.registry.tags("acme/app")) == 5
    assert_no_secret(done, None, ACR_PASSWORD)


# ---------------------------------------------------------------- GitLab


@pytest.fixture
def gitlab(registry_factory: RegistryFactory) -> Iterator[GitLabRegistry]:
    standin = GitLabRegistry(registry_factory(), projects={
        "acme/app": ["acme/app", "acme/app/worker"]},
        private_token=GITLAB_TOKEN, job_token=JOB_TOKEN)
    yield standin
    standin.close()


def gitlab_env(standin: GitLabRegistry, **more: str) -> dict[str, str]:
    return {"CI_REGISTRY": standin.registry.host, "CI_API_V4_URL": f"{standin.url}/api/v4",
            **more}


def test_gitlab_ci_deletes_tags_through_gitlabs_api_with_the_job_token(
        gitlab: GitLabRegistry, tmp_path: Path) -> None:
    digests = history(gitlab, "acme/app/worker")
    gitlab.statuses.append(429)  # GitLab.com's rate limit, with Retry-After: 0
    done = prune_cli(tmp_path, config(f"{gitlab.registry.host}/acme/app/worker"),
                     env=gitlab_env(gitlab, CI_JOB_TOKEN=JOB_TOKEN))
    repo = pruned(done)
    assert repo["api"] == "gitlab"
    assert how(repo) == expected_deletions(digests)
    listing = "/api/v4/projects/acme%2Fapp/registry/repositories"
    tags = "/api/v4/projects/acme%2Fapp/registry/repositories/71/tags"
    # 429 and again; no project acme/app/worker; acme/app's repositories, paged by one;
    # then each tag, the sha tag alone first.
    assert gitlab.requests == [
        ("GET", "/api/v4/projects/acme%2Fapp%2Fworker/registry/repositories")] * 2 + [
        ("GET", listing), ("GET", listing),
        ("DELETE", f"{tags}/sha-1111111"), ("DELETE", f"{tags}/pr-1"),
        ("DELETE", f"{tags}/sha-2222222")]
    assert set(gitlab.authenticated) == {"JOB-TOKEN"}
    assert sorted(gitlab.registry.tags("acme/app/worker")) == ["1.0.0", "pr-2"]
    assert_no_secret(done, None, JOB_TOKEN)


def test_gitlab_takes_the_api_token_before_the_job_token(
        gitlab: GitLabRegistry, tmp_path: Path) -> None:
    history(gitlab, "acme/app")
    host = gitlab.registry.host
    registries = (f'registries:\n  "{host}": {{username: bot, password: unused-registry-pass, '
                  f'api_token: "{GITLAB_TOKEN}"}}\n')
    done = prune_cli(tmp_path, config(f"{host}/acme/app", registries),
                     env=gitlab_env(gitlab, CI_JOB_TOKEN=JOB_TOKEN))
    repo = pruned(done)
    assert repo["api"] == "gitlab" and set(gitlab.authenticated) == {"PRIVATE-TOKEN"}
    assert ("GET", "/api/v4/projects/acme%2Fapp/registry/repositories") in gitlab.requests
    assert sorted(gitlab.registry.tags("acme/app")) == ["1.0.0", "pr-2"]
    assert_no_secret(done, None, GITLAB_TOKEN, JOB_TOKEN, "unused-registry-pass")


def test_a_gitlab_token_refused_skips_the_registry_whole(
        gitlab: GitLabRegistry, tmp_path: Path) -> None:
    history(gitlab, "acme/app")
    done = prune_cli(tmp_path, config(f"{gitlab.registry.host}/acme/app"),
                     env=gitlab_env(gitlab, CI_JOB_TOKEN=f"{JOB_TOKEN}-expired"))
    (repo,) = done.json["repositories"]
    assert done.code == 1 and repo["status"] == "skipped" and repo["deleted"] == []
    assert "api scope" in repo["error"]
    assert len(gitlab.registry.tags("acme/app")) == 5
    assert_no_secret(done, None, JOB_TOKEN)


def test_a_record_names_every_deletion_with_its_digest(
        gitlab: GitLabRegistry, tmp_path: Path) -> None:
    digests = history(gitlab, "acme/app")
    (tmp_path / "dockyard.yml").write_text(config(f"{gitlab.registry.host}/acme/app"))
    done = run_cli(tmp_path, *PRUNE, "--output", "prune.json",
                   env=gitlab_env(gitlab, CI_JOB_TOKEN=JOB_TOKEN))
    assert done.code == 0, done.stderr
    (repo,) = json.loads((tmp_path / "prune.json").read_text())["repositories"]
    assert how(repo) == expected_deletions(digests)
    assert_no_secret(done, tmp_path / "prune.json", JOB_TOKEN)

