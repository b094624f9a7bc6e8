"""The advice given for the registry failures users hit most."""

from __future__ import annotations

import pytest

from dockyard.remedies import registry_remedy


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("denied: permission_denied: write_package", "permissions: packages: write"),
        ("name unknown: The repository with name 'app' does not exist in the registry with id "
         "'123456789012'", "aws ecr create-repository"),
        ("denied: requested access to the resource is denied", "namespace"),
        ("unauthorized: authentication required", "`registries:`"),
        ("Get \"https://127.0.0.1:5000/v2/\": http: server gave HTTP response to HTTPS client",
         "insecure-registries"),
        ("x509: certificate signed by unknown authority", "certs.d"),
        ("dial tcp 127.0.0.1:9: connect: connection refused", "host and port"),
        ("toomanyrequests: You have reached your pull rate limit", "rate-limiting"),
    ],
)
def test_known_failures_get_advice(message: str, fragment: str) -> None:
    advice = registry_remedy(message)
    assert advice is not None and fragment in advice


def test_unknown_failures_get_none() -> None:
    assert registry_remedy("blob upload invalid: digest mismatch") is None
