"""Amazon ECR's own API, for what its registry API does not do: delete.

ECR refuses the distribution API's DELETE; images are deleted with `BatchDeleteImage`
(the AWS API, signed by boto3: the optional `ecr` extra), each named by `imageDigest`
(the image, with every tag on it) or by `imageTag` (the tag alone: the image stays
while another tag names it). The answer lists what went (`imageIds`) and, per image,
what did not (`failures`; `ImageNotFound` means gone already). The registry id (the
account) and the region come from the host, `<account>.dkr.ecr.<region>.amazonaws.com`;
the AWS credentials and the endpoint from boto3's own chain (env, profile, role;
`AWS_ENDPOINT_URL_ECR` or `AWS_ENDPOINT_URL` for another endpoint). The identity needs
`ecr:BatchDeleteImage`.

Retries: botocore's standard mode (throttling and 5xx, with its own backoff), as many
attempts as `publish.retries` allows; ECR throttles with `ThrottlingException`, not 429.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.registry.keychain import ecr_account_region
from dockyard.registry.transport import RegistryError
from dockyard.retry import RetryPolicy

INSTALL_HINT = "pip install 'dockyard[ecr]' (boto3)"
_PERMISSION = "allow this job's AWS identity ecr:BatchDeleteImage on the repository"
_GONE = "ImageNotFound"


class EcrApi:
    """One private ECR registry (an account in a region), as boto3's credentials see it."""

    def __init__(self, host: str, *, policy: RetryPolicy = RetryPolicy(),
                 client_factory: Callable[..., Any] | None = None) -> None:
        found = ecr_account_region(host)
        if found is None:
            raise RegistryError(host, "is not a private ECR registry "
                                "(<account>.dkr.ecr.<region>.amazonaws.com)",
                                hint="ECR Public is not pruned yet: see docs/retention.md")
        self.host = host
        self.registry_id, self.region = found
        config: Any = None
        if client_factory is None:
            try:
                # a session of its own: boto3.client's default session keeps the first
                # credentials it resolved, whatever the environment says later
                client_factory = importlib.import_module("boto3").session.Session().client
                config = importlib.import_module("botocore.config").Config(
                    retries={"total_max_attempts": policy.retries + 1, "mode": "standard"},
                    connect_timeout=policy.timeout_seconds,
                    read_timeout=policy.timeout_seconds)
            except ImportError:
                raise RegistryError(host, "deleting on Amazon ECR needs boto3, which is not "
                                    "installed; this registry was left as it is",
                                    hint=INSTALL_HINT) from None
        try:
            self._client = client_factory("ecr", region_name=self.region) if config is None \
                else client_factory("ecr", region_name=self.region, config=config)
        except Exception as exc:  # noqa: BLE001 -- botocore's errors, its own tree, wrapped here
            raise RegistryError(host, f"cannot set up the ECR API ({type(exc).__name__})",
                                hint=_PERMISSION) from None

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def delete(self, repository: str, image: Mapping[str, str]) -> bool:
        """Delete one image, `{"imageDigest": ...}` or `{"imageTag": ...}`; False when
        ECR says it is not there (gone already)."""
        what = f"{repository}@{image['imageDigest'][:19]}" if "imageDigest" in image \
            else f"{repository}:{image.get('imageTag')}"
        try:
            answer = self._client.batch_delete_image(
                registryId=self.registry_id, repositoryName=repository,
                imageIds=[dict(image)])
        except Exception as exc:  # noqa: BLE001 -- botocore's errors, wrapped here
            raise RegistryError(self.host, f"cannot delete {what}: {_aws_error(exc)}",
                                hint=_PERMISSION) from None
        failures = [f for f in answer.get("failures") or () if isinstance(f, dict)]
        problems = [f for f in failures if f.get("failureCode") != _GONE]
        if problems:
            detail = "; ".join(f"{f.get('failureCode')}: {f.get('failureReason')}"
                               for f in problems)
            raise RegistryError(self.host, f"did not delete {what} ({detail})",
                                hint=_failure_hint(problems))
        deleted = answer.get("imageIds") or ()
        if not failures and not deleted:
            raise RegistryError(self.host, f"answered the delete of {what} with neither the "
                                "deleted image nor a failure",
                                hint="the API, or a proxy before it, is broken")
        return bool(deleted)


def _aws_error(exc: Exception) -> str:
    """botocore's ClientError by its code and message; anything else by its type."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("Code"):
        return f"{error['Code']}: {error.get('Message') or ''}".rstrip(": ")
    return type(exc).__name__


def _failure_hint(failures: list[dict[str, Any]]) -> str:
    codes = {f.get("failureCode") for f in failures}
    if "ImageReferencedByManifestList" in codes:
        return "an index (manifest list) still lists the image: it stays until the index goes"
    return "the record lists what was deleted before this; run prune again"
