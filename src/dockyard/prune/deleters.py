"""Deletion behind one interface, per registry API.

- `Distribution`: the OCI distribution API, `DELETE /v2/<name>/manifests/<digest>` (the
  manifest and every tag on it), and the tag alone (`DELETE .../manifests/<tag>`, OCI
  distribution 1.1) where the registry supports it. CNCF distribution, Harbor, ACR,
  Artifact Registry, Quay and GitLab's registry take it (docs/retention.md says with
  which permission).
- `Ghcr`: GitHub Packages' REST API (`registry.packages`): GHCR's registry API does not
  delete. An image is a package version, deleted with every tag on it.
- The others that refuse the distribution API's deletes (Docker Hub, ECR) need their
  own APIs: see docs/retention.md. `deleter_for` refuses them with what to do rather
  than guessing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from dockyard.registry import RegistryClient, RegistryError, is_ecr
from dockyard.registry.packages import GITHUB_API, GitHubPackages
from dockyard.retry import RetryPolicy, Sleep

GHCR = "ghcr.io"

# Hosts whose registry API refuses deletes, with the API that deletes there.
_OWN_API = {
    "docker.io": "Docker Hub's API (DELETE /v2/repositories/{namespace}/{name}/tags/{tag}/, "
                 "a personal access token with Read, Write & Delete)",
}


class Deleter(Protocol):
    """What prune needs of a registry to delete."""

    api: str  # names the API in the record

    def delete_digest(self, path: str, digest: str) -> bool:
        """Delete the image `digest` with every tag on it; False when it was gone."""

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete the tag alone, leaving its image; False when the registry cannot."""

    def close(self) -> None: ...


class Distribution:
    api = "distribution"

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def delete_digest(self, path: str, digest: str) -> bool:
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

    def delete_digest(self, path: str, digest: str) -> bool:
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


def deleter_for(host: str, client: RegistryClient, *, token: str | None = None,
                apis: Mapping[str, str] | None = None, policy: RetryPolicy = RetryPolicy(),
                sleep: Sleep = time.sleep) -> Deleter:
    """The deleter for `host`; a RegistryError (the registry is skipped) when deleting
    there needs an API Dockyard does not speak yet, or credentials it lacks.

    `token`: the registry password (GHCR: a GitHub token); `apis`: where a host's own
    API lives, when not at its default (GitHub Enterprise: GITHUB_API_URL)."""
    if host == GHCR:
        if not token:
            raise RegistryError(host, "deleting needs a GitHub token (read:packages and "
                                "delete:packages), and none is configured",
                                hint="set registries.ghcr.io.password to a token, e.g. "
                                     "${GITHUB_TOKEN}")
        url = (apis or {}).get(GHCR, GITHUB_API)
        return Ghcr(GitHubPackages(token, api_url=url, policy=policy, sleep=sleep))
    api = _OWN_API.get(host)
    if api is None and is_ecr(host):
        api = ("the ECR API (BatchDeleteImage, permission ecr:BatchDeleteImage), or an ECR "
               "lifecycle policy")
    if api is not None:
        raise RegistryError(host, "does not delete through the registry API; deleting there "
                            f"takes {api}", hint="see docs/retention.md; this registry was "
                            "left as it is")
    return Distribution(client)
