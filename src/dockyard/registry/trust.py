"""Where a registry lives and what TLS it is trusted with: http or https, and Docker's
certs.d (CA certificates, client certificates), read as the engine reads them."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from dockyard.names import DOCKER_HUB


def base_url(host: str) -> str:
    """Where a registry's API lives: https, but plain http on loopback unless Docker's
    certs.d holds TLS settings for it (the engine treats loopback as insecure too)."""
    if host == DOCKER_HUB:
        return "https://registry-1.docker.io"
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return f"http://{host}" if loopback and certs_dir(host) is None else f"https://{host}"


def certs_dir(host: str) -> Path | None:
    """Docker's TLS settings for one registry, `certs.d/HOST[:PORT]/`: CA certificates
    (`*.crt`) and client certificate pairs (`*.cert` + `*.key`). The first that exists of
    the engine's (/etc/docker/certs.d), rootless Docker's ($XDG_CONFIG_HOME/docker/certs.d)
    and Podman's or skopeo's (/etc/containers/certs.d)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    for root in ("/etc/docker/certs.d", f"{config}/docker/certs.d", "/etc/containers/certs.d"):
        directory = Path(root) / host
        if directory.is_dir() and (any(directory.glob("*.crt"))
                                   or any(directory.glob("*.cert"))):
            return directory
    return None


def ca_bundle(directory: Path) -> Path | None:
    """A temporary CA bundle (the caller deletes it): the CAs in use so far (a registry may
    redirect blob reads to a public CDN) plus the `*.crt` of `directory`; None without any.
    Certificates only, nothing secret."""
    authorities = sorted(directory.glob("*.crt"))
    if not authorities:
        return None
    usual = next((Path(value) for value in (os.environ.get("REQUESTS_CA_BUNDLE"),
                                            os.environ.get("SSL_CERT_FILE"))
                  if value and Path(value).is_file()), Path(DEFAULT_CA_BUNDLE_PATH))
    with tempfile.NamedTemporaryFile("wb", prefix="dockyard-ca-", suffix=".pem",
                                     delete=False) as bundle:
        for path in (usual, *authorities):
            bundle.write(path.read_bytes().rstrip(b"\n") + b"\n")
    return Path(bundle.name)


def client_certificate(directory: Path) -> tuple[str, str] | None:
    """The first `*.cert` of `directory` with its `*.key`, to present as the engine does."""
    for cert in sorted(directory.glob("*.cert")):
        key = cert.with_suffix(".key")
        if key.is_file():
            return str(cert), str(key)
    return None
