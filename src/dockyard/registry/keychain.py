"""Where credentials for a registry come from besides `registries:`: Amazon ECR, whose
logins are exchanged from the AWS credentials of the job."""

from __future__ import annotations

import base64
import importlib
import re
from collections.abc import Callable
from typing import Any

from dockyard.registry.transport import RegistryError
from dockyard.secrets import Secret
from dockyard.settings import Credentials

_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
ECR_PUBLIC = "public.ecr.aws"


def is_ecr(host: str) -> bool:
    return host == ECR_PUBLIC or _ECR_HOST.match(host) is not None


def ecr_account_region(host: str) -> tuple[str, str] | None:
    """A private ECR host's account (its registry id) and region; None for any other host
    (ECR Public included)."""
    match = _ECR_HOST.match(host)
    return (match.group(1), match.group(2)) if match else None


def ecr_credentials(host: str, client_factory: Callable[..., Any] | None = None) -> Credentials:
    """Exchange the AWS credentials boto3 finds (env, profile, role) for an ECR login.

    ECR has no long-lived registry passwords: `GetAuthorizationToken` gives a 12-hour
    `AWS:<token>` pair, for private ECR per region and for ECR Public in us-east-1.
    """
    if client_factory is None:
        try:
            # a session of its own: boto3.client's default session keeps the first
            # credentials it resolved, whatever the environment says later
            client_factory = importlib.import_module("boto3").session.Session().client
        except ImportError:
            raise RegistryError(host, "logging in to Amazon ECR needs boto3, which is not "
                                "installed", hint="pip install 'dockyard[ecr]', or give "
                                "credentials for this host under `registries:`") from None
    match = _ECR_HOST.match(host)
    try:
        if match is None:
            answer = client_factory("ecr-public", region_name="us-east-1") \
                .get_authorization_token()
            token = answer["authorizationData"]["authorizationToken"]
        else:
            answer = client_factory("ecr", region_name=match.group(2)) \
                .get_authorization_token(registryIds=[match.group(1)])
            token = answer["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode().partition(":")
    except Exception as exc:  # noqa: BLE001 -- botocore's errors, its own tree, wrapped here
        raise RegistryError(
            host, f"cannot get an ECR login token ({type(exc).__name__})",
            hint="give this job AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a "
                 "profile or a role) allowed ecr:GetAuthorizationToken, or credentials "
                 "for this host under `registries:`") from None
    return Credentials(username=username, password=Secret(password))
