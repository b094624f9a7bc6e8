"""Real CNCF distribution registries on loopback ports, and a small client to check them.

Each registry is a `docker-registry serve` process with its storage in a temporary
directory. Tests assert through the registry's HTTP API what actually landed, never
through the engine that pushed it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from .availability import unavailable

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT_MANIFESTS = {"Accept": ", ".join(MANIFEST_TYPES)}
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, PEM files."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class Tls:
    """A server certificate for 127.0.0.1 (self-signed: it is its own CA), and optionally
    a client certificate the registry then requires (also self-signed: its own CA)."""

    certificate: Path
    key: Path
    client: Pair | None = None


def self_signed(directory: Path, name: str, *, ip: str | None = "127.0.0.1") -> Pair:
    """A new self-signed certificate (a CA of its own) and key, made by openssl."""
    if shutil.which("openssl") is None:
        unavailable("openssl is missing: apt-get install openssl", ci=True)
    directory.mkdir(parents=True, exist_ok=True)
    pair = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    extension = ["-addext", f"subjectAltName=IP:{ip}"] if ip else []
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", *extension, "-keyout", str(pair.key),
                    "-out", str(pair.certificate)], check=True, capture_output=True)
    return pair


class RegistryStartError(RuntimeError):
    """A registry process died or never answered; carries the tail of its log."""


class Registry:
    """One running registry: where it listens, its credentials, and read helpers over its API."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        host: str,
        log: Path,
        username: str | None,
        password: str | None,
        tls: Tls | None = None,
    ) -> None:
        self.process = process
        self.host = host  # "127.0.0.1:PORT", the registry part of an image reference
        self.url = f"{'https' if tls else 'http'}://{host}"
        self.log = log
        self.username = username
        self.password = password
        self._http = requests.Session()
        # Never route loopback test traffic through an HTTP(S)_PROXY from the environment.
        self._http.trust_env = False
        if username is not None and password is not None:
            self._http.auth = (username, password)
        if tls is not None:
            self._http.verify = str(tls.certificate)
            if tls.client is not None:
                self._http.cert = (str(tls.client.certificate), str(tls.client.key))

    @property
    def auth_config(self) -> dict[str, str] | None:
        """Credentials in the shape docker-py's push(auth_config=...) takes; None without auth."""
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password}

    def tags(self, name: str) -> list[str]:
        """Tags of repository `name`, sorted; empty when the registry does not know it."""
        response = self._get(f"/v2/{name}/tags/list")
        if response.status_code == 404 and "NAME_UNKNOWN" in _error_codes(response):
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def manifest_digest(self, name: str, ref: str) -> str | None:
        """The digest `ref` (tag or digest) resolves to, None when there is no such manifest."""
        response = self._http.head(
            f"{self.url}/v2/{name}/manifests/{ref}", headers=ACCEPT_MANIFESTS, timeout=HTTP_TIMEOUT
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    def manifest(self, name: str, ref: str) -> dict[str, Any]:
        """The manifest or index stored under `ref`, as the registry serves it."""
        response = self._get(f"/v2/{name}/manifests/{ref}", headers=ACCEPT_MANIFESTS)
        response.raise_for_status()
        manifest: dict[str, Any] = response.json()
        return manifest

    def config_labels(self, name: str, ref: str) -> dict[str, str]:
        """Labels of the image config behind `ref`; for an index, of its linux/amd64 image."""
        manifest = self.manifest(name, ref)
        if manifest.get("mediaType") in INDEX_TYPES:
            manifest = self.manifest(name, _amd64_digest(manifest))
        response = self._get(f"/v2/{name}/blobs/{manifest['config']['digest']}")
        response.raise_for_status()
        labels: dict[str, str] = response.json().get("config", {}).get("Labels") or {}
        return labels

    def delete_manifest(self, name: str, digest: str) -> bool:
        """Delete the manifest `digest` with every tag on it; False when it was not there."""
        response = self._http.delete(f"{self.url}/v2/{name}/manifests/{digest}",
                                     timeout=HTTP_TIMEOUT)
        if response.status_code == 404:
            return False
        assert response.status_code == 202, response.text
        return True

    def delete_tag_alone(self, name: str, tag: str) -> bool:
        """What a registry that deletes a tag by itself does, emulated on distribution
        (which deletes by digest only): the tag's image is deleted and put back under the
        tags that remain on it. False when there was no such tag."""
        digest = self.manifest_digest(name, tag)
        if digest is None:
            return False
        got = self._get(f"/v2/{name}/manifests/{digest}", headers=ACCEPT_MANIFESTS)
        got.raise_for_status()
        others = [t for t in self.tags(name)
                  if t != tag and self.manifest_digest(name, t) == digest]
        self.delete_manifest(name, digest)
        for other in others:
            put = self._http.put(f"{self.url}/v2/{name}/manifests/{other}", data=got.content,
                                 headers={"Content-Type": got.headers["Content-Type"]},
                                 timeout=HTTP_TIMEOUT)
            assert put.status_code == 201, put.text
        return True

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and close the HTTP session."""
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return self._http.get(f"{self.url}{path}", headers=headers, timeout=HTTP_TIMEOUT)


class RegistryFactory:
    """Starts registries on free loopback ports and stops every one of them at close()."""

    def __init__(self, workdir: Path, *, ci: bool) -> None:
        self.workdir = workdir
        self.ci = ci
        self.started: list[Registry] = []

    def __call__(self, username: str | None = None, password: str | None = None, *,
                 tls: Tls | None = None) -> Registry:
        """A new, empty registry; with `username` and `password` it requires basic auth,
        with `tls` it serves HTTPS (and asks for a client certificate if `tls.client`)."""
        if shutil.which("docker-registry") is None:
            unavailable("docker-registry is missing: apt-get install docker-registry", ci=self.ci)
        if username is not None and shutil.which("htpasswd") is None:
            unavailable("htpasswd is missing: apt-get install apache2-utils", ci=self.ci)
        home = self.workdir / f"registry-{len(self.started)}"
        home.mkdir()
        # A free port can be taken between probing and binding: a second try gets another one.
        try:
            registry = _start(home, _free_port(), username, password, tls)
        except RegistryStartError:
            registry = _start(home, _free_port(), username, password, tls)
        self.started.append(registry)
        return registry

    def close(self) -> None:
        for registry in self.started:
            registry.stop()


def _start(home: Path, port: int, username: str | None, password: str | None,
           tls: Tls | None = None) -> Registry:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(home / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "dockyard-test-http-secret"},
    }
    if username is not None and password is not None:
        htpasswd = home / "htpasswd"
        htpasswd.write_bytes(
            subprocess.run(
                ["htpasswd", "-Bbn", username, password], check=True, capture_output=True
            ).stdout
        )
        config["auth"] = {"htpasswd": {"realm": "dockyard-test", "path": str(htpasswd)}}
    if tls is not None:
        config["http"]["tls"] = {"certificate": str(tls.certificate), "key": str(tls.key)}
        if tls.client is not None:
            config["http"]["tls"]["clientcas"] = [str(tls.client.certificate)]
    config_file = home / "config.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = home / "registry.log"
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    registry = Registry(process, f"127.0.0.1:{port}", log, username, password, tls)
    try:
        _wait_until_up(registry)
    except RegistryStartError:
        registry.stop()
        raise
    return registry


def _wait_until_up(registry: Registry) -> None:
    """Poll /v2/ until it answers (200, or 401 behind auth), the process dies, or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            break
        try:
            status = registry._get("/v2/").status_code
        except requests.RequestException:
            time.sleep(0.05)
            continue
        if status in (200, 401):
            return
        time.sleep(0.05)
    tail = registry.log.read_text(errors="replace")[-2000:]
    raise RegistryStartError(f"registry on {registry.host} did not come up; log tail:\n{tail}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _error_codes(response: requests.Response) -> set[str]:
    try:
        return {error.get("code", "") for error in response.json().get("errors", [])}
    except ValueError:
        return set()


def _amd64_digest(index: dict[str, Any]) -> str:
    for entry in index.get("manifests", []):
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            digest: str = entry["digest"]
            return digest
    raise LookupError(f"no linux/amd64 image in index: {index}")
