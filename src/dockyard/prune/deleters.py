"""Deletion behind one interface, per registry API.

- `Distribution`: the OCI distribution API, `DELETE /v2/<name>/manifests/<digest>` (the
  manifest and every tag on it), and the tag alone (`DELETE .../manifests/<tag>`, OCI
  distribution 1.1) where the registry supports it. CNCF distribution, Harbor, ACR,
  Artifact Registry, Quay and GitLab's registry take it (docs/retention.md says with
  which permission).
- `Ghcr`: GitHub Packages' REST API (`registry.packages`): GHCR's registry API does not
  delete. An image is a package version, deleted with every tag on it.
- `DockerHub`: Docker Hub's API (`registry.hub`) deletes tags, one by one; an image
  is "deleted" by deleting every tag on it, and stays, untagged.
- ECR refuses the distribution API's deletes and needs the AWS API: see
  docs/retention.md. `deleter_for` refuses it with what to do rather than guessing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from dockyard.registry import RegistryClient, RegistryError, is_ecr
from dockyard.registry.hub import HUB_API, DockerHubApi
from dockyard.registry.packages import GITHUB_API, GitHubPackages
from dockyard.retry import RetryPolicy, Sleep

GHCR = "ghcr.io"
DOCKER_HUB = "docker.io"

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


class DockerHub:
    """Docker Hub: tags deleted one by one through its API."""

    api = "docker-hub"

    def __init__(self, hub: DockerHubApi) -> None:
        self._hub = hub

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        if not tags:
            return False  # an untagged image: Docker Hub's API has no delete for it
        deleted = [self._hub.delete_tag(path, tag) for tag in tags]
        return any(deleted)

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._hub.delete_tag(path, tag)

    def close(self) -> None:
        self._hub.close()


def deleter_for(host: str, client: RegistryClient, *, username: str | None = None,
                token: str | None = None, apis: Mapping[str, str] | None = None,
                policy: RetryPolicy = RetryPolicy(), sleep: Sleep = time.sleep) -> Deleter:
    """The deleter for `host`; a RegistryError (the registry is skipped) when deleting
    there needs an API Dockyard does not speak yet, or credentials it lacks.

    `username`, `token`: the registry's credentials (GHCR: a GitHub token; Docker Hub: a
    personal access token); `apis`: where a host's own API lives, when not at its default
    (GitHub Enterprise: GITHUB_API_URL)."""
    if host == GHCR:
        if not token:
            raise RegistryError(host, "deleting needs a GitHub token (read:packages and "
                                "delete:packages), and none is configured",
                                hint="set registries.ghcr.io.password to a token, e.g. "
                                     "${GITHUB_TOKEN}")
        url = (apis or {}).get(GHCR, GITHUB_API)
        return Ghcr(GitHubPackages(token, api_url=url, policy=policy, sleep=sleep))
    if host == DOCKER_HUB:
        if not username or not token:
            raise RegistryError(host, "deleting needs a Docker Hub user and personal access "
                                "token (Read, Write, Delete), and none is configured",
                                hint="set registries.docker.io.username and .password")
        url = (apis or {}).get(DOCKER_HUB, HUB_API)
        return DockerHub(DockerHubApi(username, token, api_url=url, policy=policy,
                                      sleep=sleep))
    if is_ecr(host):
        raise RegistryError(host, "does not delete through the registry API; deleting there "
                            "takes the ECR API (BatchDeleteImage, permission "
                            "ecr:BatchDeleteImage), or an ECR lifecycle policy",
                            hint="see docs/retention.md; this registry was left as it is")
    return Distribution(client)
