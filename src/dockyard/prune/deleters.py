"""Deletion behind one interface, per registry API.

- `Distribution`: the OCI distribution API, `DELETE /v2/<name>/manifests/<digest>` (the
  manifest and every tag on it), and the tag alone (`DELETE .../manifests/<tag>`, OCI
  distribution 1.1) where the registry supports it. CNCF distribution, Harbor, ACR,
  Artifact Registry, Quay and GitLab's registry take it (docs/retention.md says with
  which permission).
- The hosted registries that refuse the distribution API's deletes (GHCR, Docker Hub,
  ECR) need their own APIs: see docs/retention.md. `deleter_for` refuses them with what
  to do rather than guessing.
"""

from __future__ import annotations

from typing import Protocol

from dockyard.registry import RegistryClient, RegistryError, is_ecr

# Hosts whose registry API refuses deletes, with the API that deletes there.
_OWN_API = {
    "ghcr.io": "GitHub Packages' REST API (DELETE /orgs/{org}/packages/container/{name}/"
               "versions/{id}, a token with delete:packages)",
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


class Distribution:
    api = "distribution"

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def delete_digest(self, path: str, digest: str) -> bool:
        return self._client.delete_manifest(path, digest)

    def delete_tag(self, path: str, tag: str) -> bool:
        return self._client.delete_tag(path, tag)


def deleter_for(host: str, client: RegistryClient) -> Deleter:
    """The deleter for `host`; a RegistryError (the registry is skipped) when deleting
    there needs an API Dockyard does not speak yet."""
    api = _OWN_API.get(host)
    if api is None and is_ecr(host):
        api = ("the ECR API (BatchDeleteImage, permission ecr:BatchDeleteImage), or an ECR "
               "lifecycle policy")
    if api is not None:
        raise RegistryError(host, "does not delete through the registry API; deleting there "
                            f"takes {api}", hint="see docs/retention.md; this registry was "
                            "left as it is")
    return Distribution(client)
