"""Deletion behind one interface, per registry API.

- `Distribution`: the OCI distribution API, `DELETE /v2/<name>/manifests/<digest>` (the
  manifest and every tag on it), and the tag alone (`DELETE .../manifests/<tag>`, OCI
  distribution 1.1) where the registry supports it. CNCF distribution, Harbor and
  Artifact Registry take it (docs/retention.md says with which permission).
- `Ghcr`: GitHub Packages' REST API (`registry.packages`): GHCR's registry API does not
  delete. An image is a package version, deleted with every tag on it.
- `DockerHub`: Docker Hub's API (`registry.hub`) deletes tags, one by one; an image
  is "deleted" by deleting every tag on it, and stays, untagged.
- `Ecr`: ECR's `BatchDeleteImage` (`registry.ecr`, boto3): an image by its digest, a
  tag alone by its tag.
- `Quay`, `Acr`: images through the distribution API, a tag alone through the
  registry's own API (`registry.quay`, `registry.acr`).
- `GitLab`: GitLab's API (`registry.gitlab`) deletes tags, one by one, as Docker Hub's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.names import normalise_host
from dockyard.registry import ECR_PUBLIC, RegistryClient, RegistryError, acr, is_ecr
from dockyard.registry.ecr import EcrApi
from dockyard.registry.gitlab import GITLAB_API, GITLAB_REGISTRY, GitLabRegistryApi
from dockyard.registry.hub import HUB_API, DockerHubApi
from dockyard.registry.packages import GITHUB_API, GitHubPackages
from dockyard.registry.quay import OAUTH_USER, QUAY, QuayApi
from dockyard.retry import RetryPolicy, Sleep
from dockyard.secrets import Secret

GHCR = "ghcr.io"
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class Apis:
    """Where the hosted registries' own APIs live when not at their default, and what
    the CI gives for them (from the CLI's environment)."""

    urls: Mapping[str, str] = field(default_factory=dict)  # host -> API (GITHUB_API_URL...)
    gitlab: str | None = None  # the CI's GitLab registry host (CI_REGISTRY)
    job_token: Secret | None = None  # GitLab CI's CI_JOB_TOKEN, for that host only

    def is_gitlab(self, host: str) -> bool:
        return host in (GITLAB_REGISTRY, self.gitlab)


def hosted_apis(env: Mapping[str, str]) -> Apis:
    """What the CI's variables say of the hosted APIs: GitHub's (GITHUB_API_URL, GitHub
    Enterprise's too) and GitLab's (CI_REGISTRY, CI_API_V4_URL, CI_JOB_TOKEN)."""
    urls = {GHCR: env["GITHUB_API_URL"]} if env.get("GITHUB_API_URL") else {}
    gitlab = normalise_host(env.get("CI_REGISTRY", "")) or None
    if gitlab and env.get("CI_API_V4_URL"):
        urls[gitlab] = env["CI_API_V4_URL"]
    token = env.get("CI_JOB_TOKEN", "")
    return Apis(urls, gitlab, Secret(token) if gitlab and token.strip() else None)


@dataclass(frozen=True)
class Login:
    """The registry's credentials, as deleting reads them."""

    username: str | None = None
    token: str | None = None  # the password or access token
    api_token: str | None = None  # registries.<host>.api_token


class Deleter(Protocol):
    """What prune needs of a registry to delete."""

    api: str  # names the API in the record

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        """Delete the image `digest` with every tag on it (`tags`, as listed); False when
        it was gone, or the registry cannot delete an untagged image."""

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete the tag alone, leaving its image; False when the registry cannot."""

    def close(self) -> None: ...


class Distribution:
    api = "distribution"

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        return self._client.delete_manifest(path, digest)

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._client.delete_tag(path, tag)

    def close(self) -> None:
        pass  # the client is the caller's


class Ghcr:
    """GHCR: `owner/package` images deleted as GitHub Packages versions."""

    api = "github-packages"

    def __init__(self, packages: GitHubPackages) -> None:
        self._packages = packages
        self._versions: dict[str, dict[str, int]] = {}  # path -> digest -> version id

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        owner, _, package = path.partition("/")
        if path not in self._versions:
            self._versions[path] = self._packages.versions(owner, package)
        version = self._versions[path].pop(digest, None)
        if version is None:
            return False  # no such version: gone already
        return self._packages.delete_version(owner, package, version)

    def delete_tag(self, path: str, tag: str) -> bool:
        return False  # a package version goes with all its tags

    def close(self) -> None:
        self._packages.close()


class TagApi(Protocol):
    """A hosted API that deletes tags, not images (Docker Hub's, GitLab's)."""

    def delete_tag(self, path: str, tag: str) -> bool: ...

    def close(self) -> None: ...


class _TagByTag:
    """A registry whose API deletes tags only: an image is "deleted" by deleting every
    tag on it, and stays, untagged, for the registry's own cleanup."""

    api = ""

    def __init__(self, tags: TagApi) -> None:
        self._tags = tags

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        if not tags:
            return False  # an untagged image: the API has no delete for it
        deleted = [self._tags.delete_tag(path, tag) for tag in tags]
        return any(deleted)

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._tags.delete_tag(path, tag)

    def close(self) -> None:
        self._tags.close()


class DockerHub(_TagByTag):
    """Docker Hub: tags deleted one by one through its API."""

    api = "docker-hub"


class Ecr:
    """ECR: an image by its digest (with every tag on it), a tag alone by its tag."""

    api = "ecr"

    def __init__(self, ecr: EcrApi) -> None:
        self._ecr = ecr

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        return self._ecr.delete(path, {"imageDigest": digest})

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._ecr.delete(path, {"imageTag": tag})

    def close(self) -> None:
        self._ecr.close()


class Quay(Distribution):
    """Quay: images through the distribution API, a tag alone through Quay's API."""

    api = "quay"

    def __init__(self, client: RegistryClient, quay: QuayApi) -> None:
        super().__init__(client)
        self._quay = quay

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._quay.delete_tag(path, tag)

    def close(self) -> None:
        self._quay.close()


class Acr(Distribution):
    """ACR: images through the distribution API, a tag alone through /acr/v1."""

    api = "acr"

    def delete_tag(self, path: str, tag: str) -> bool:
        return acr.delete_tag(self._client, path, tag)


class GitLab(_TagByTag):
    """GitLab's registry: tags deleted one by one through GitLab's API; an image left
    untagged goes with the registry's garbage collection."""

    api = "gitlab"


def deleter_for(host: str, client: RegistryClient, *, login: Login = Login(),
                apis: Apis = Apis(), policy: RetryPolicy = RetryPolicy(),
                sleep: Sleep = time.sleep) -> Deleter:
    """The deleter for `host`; a RegistryError (the registry is skipped) when deleting
    there needs an API Dockyard does not speak yet, or credentials it lacks.

    `login`: the registry's credentials (GHCR: a GitHub token; Docker Hub: a personal
    access token; Quay, GitLab: `api_token`); `apis`: where a host's own API lives when
    not at its default (GitHub Enterprise: GITHUB_API_URL; GitLab CI: CI_API_V4_URL)."""
    if host == GHCR:
        if not login.token:
            raise RegistryError(host, "deleting needs a GitHub token (read:packages and "
                                "delete:packages), and none is configured",
                                hint="set registries.ghcr.io.password to a token, e.g. "
                                     "${GITHUB_TOKEN}")
        url = apis.urls.get(GHCR, GITHUB_API)
        return Ghcr(GitHubPackages(login.token, api_url=url, policy=policy, sleep=sleep))
    if host == DOCKER_HUB:
        if not login.username or not login.token:
            raise RegistryError(host, "deleting needs a Docker Hub user and personal access "
                                "token (Read, Write, Delete), and none is configured",
                                hint="set registries.docker.io.username and .password")
        url = apis.urls.get(DOCKER_HUB, HUB_API)
        return DockerHub(DockerHubApi(login.username, login.token, api_url=url,
                                      policy=policy, sleep=sleep))
    if host == ECR_PUBLIC:
        raise RegistryError(host, "deleting on ECR Public takes its own API (ecr-public "
                            "BatchDeleteImage), which prune does not speak yet",
                            hint="see docs/retention.md; this registry was left as it is")
    if is_ecr(host):
        return Ecr(EcrApi(host, policy=policy))
    if host == QUAY:
        token = login.api_token or (login.token if login.username == OAUTH_USER else None)
        if not token:
            return Distribution(client)  # a tag alone: as far as the registry API goes
        url = apis.urls.get(QUAY, client.url)  # Quay's API is beside its registry's
        return Quay(client, QuayApi(token, api_url=url, policy=policy, sleep=sleep))
    if acr.is_acr(host):
        return Acr(client)
    if apis.is_gitlab(host):
        job_token = apis.job_token.reveal() if apis.job_token and host == apis.gitlab \
            else None
        if not login.api_token and not job_token:
            return Distribution(client)
        url = apis.urls.get(host) or (GITLAB_API if host == GITLAB_REGISTRY else "")
        if not url:
            raise RegistryError(host, "deleting takes GitLab's API, and where it lives is "
                                "not known", hint="run in GitLab CI (CI_API_V4_URL)")
        return GitLab(GitLabRegistryApi(url, private_token=login.api_token,
                                        job_token=job_token, policy=policy, sleep=sleep))
    return Distribution(client)
