"""A small client for the OCI distribution API, over `requests`: with `webhooks`, the
only code here that speaks HTTP.

In layers, each over the one below, as go-containerregistry's remote/transport/authn:

- `client`: `RegistryClient`, the distribution API (manifests, blobs, tags, labels);
- `auth`: challenges, Bearer tokens and Basic, scopes;
- `transport`: the HTTP session, retries (by `dockyard.retry`), what failures mean;
- `trust`: http or https, and Docker's certs.d (CAs, client certificates);
- `keychain`: credentials from elsewhere than `registries:` (Amazon ECR).

Everything callers use is importable from here.
"""

from dockyard.registry.auth import Challenge, delete_scope, parse_challenge, pull_scope, push_scope
from dockyard.registry.client import (
    ACCEPT,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    REVISION_LABEL,
    VERSION_LABEL,
    Descriptor,
    Manifest,
    RegistryClient,
    digest_of,
)
from dockyard.registry.keychain import ECR_PUBLIC, ecr_credentials, is_ecr
from dockyard.registry.transport import RegistryError
from dockyard.registry.trust import base_url, certs_dir
from dockyard.retry import RetryPolicy, Sleep

__all__ = [
    "ACCEPT",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "ECR_PUBLIC",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "REVISION_LABEL",
    "VERSION_LABEL",
    "Challenge",
    "Descriptor",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "RetryPolicy",
    "Sleep",
    "base_url",
    "certs_dir",
    "delete_scope",
    "digest_of",
    "ecr_credentials",
    "is_ecr",
    "parse_challenge",
    "pull_scope",
    "push_scope",
]
