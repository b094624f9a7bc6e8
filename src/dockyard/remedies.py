"""What to do about the registry failures users hit most, from the registry's own words.

One table, used wherever a registry's message reaches the user (docker-py push streams,
the registry API client), so every path gives the same advice.
"""

from __future__ import annotations

import re

# (pattern over the lower-cased message, advice); the first match wins, so the most
# specific patterns come first.
_REMEDIES: tuple[tuple[str, str], ...] = (
    (r"permission_denied: (write_package|the token provided does not match expected scopes)",
     "GHCR refused the push: give the job `permissions: packages: write`, and if the package "
     "already exists, grant this repository write access to it in the package's settings "
     "(Manage Actions access)"),
    (r"repository .* does not exist|name_unknown.*ecr|does not exist in the registry",
     "create the repository first (ECR does not create repositories on push: "
     "`aws ecr create-repository --repository-name NAME`)"),
    (r"requested access to the resource is denied",
     "the registry refused this repository name for these credentials: check the namespace "
     "in `images:` (on Docker Hub, your user or organisation) and that the account may push"),
    (r"unauthorized|authentication required|incorrect username or password|denied",
     "check the username and password under `registries:` for this host (or `docker login` "
     "it when it has no entry), and that they may push to this repository"),
    (r"http response to https client",
     "this registry speaks plain HTTP: add it to the engine's `insecure-registries` "
     "(/etc/docker/daemon.json), or serve it with TLS"),
    (r"x509|certificate signed by unknown authority|certificate verify failed",
     "the registry's TLS certificate is not trusted: put its CA at "
     "/etc/docker/certs.d/HOST:PORT/ca.crt (the engine and Dockyard both read it)"),
    (r"connection refused|no such host|name or service not known|i/o timeout|"
     r"network is unreachable",
     "check the registry host and port in `images:`, and that the registry is up and "
     "reachable from here"),
    (r"toomanyrequests|rate limit",
     "the registry is rate-limiting: log in (authenticated pulls and pushes get higher "
     "limits) or try again later"),
)


def registry_remedy(message: str) -> str | None:
    """Advice for a registry's error message, or None when there is none to give."""
    lowered = message.lower()
    for pattern, advice in _REMEDIES:
        if re.search(pattern, lowered):
            return advice
    return None
