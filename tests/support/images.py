"""Images written straight through a registry's API, as a per-platform job or an earlier
release would have left them: no engine, any architecture."""

from __future__ import annotations

import json
from urllib.parse import urljoin

import requests

from dockyard.registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, digest_of

from .registry import Registry

HTTP_TIMEOUT = 10.0


def _session(registry: Registry) -> requests.Session:
    """A session for `registry` with its credentials, if it has any; no proxy."""
    http = requests.Session()
    http.trust_env = False
    if registry.username and registry.password:
        http.auth = (registry.username, registry.password)
    return http


def _put_manifest(http: requests.Session, registry: Registry, name: str, ref: str,
                  content: bytes, media_type: str) -> str:
    """`content` put under `ref` (a tag, or "@" for its own digest); its digest."""
    ref = digest_of(content) if ref == "@" else ref
    with http.put(f"{registry.url}/v2/{name}/manifests/{ref}", data=content,
                  headers={"Content-Type": media_type}, timeout=HTTP_TIMEOUT) as put:
        assert put.status_code == 201, put.text
    return digest_of(content)


def push_image(registry: Registry, name: str, ref: str, *, arch: str = "amd64",
               labels: dict[str, str] | None = None, media_type: str = DOCKER_MANIFEST,
               ) -> str:
    """A tiny single-platform image put under `ref` (a tag, or "@" for its own digest);
    returns its digest. The same arguments always give the same digest."""
    http = _session(registry)
    try:
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Labels": labels or {}},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = f"{name} {arch} {sorted((labels or {}).items())}".encode()
        for blob in (config, layer):
            with http.post(f"{registry.url}/v2/{name}/blobs/uploads/",
                           timeout=HTTP_TIMEOUT) as started:
                location = urljoin(registry.url, started.headers["Location"])
            with http.put(location, params={"digest": digest_of(blob)}, data=blob,
                          timeout=HTTP_TIMEOUT) as done:
                assert done.status_code == 201, done.text
        oci = media_type == OCI_MANIFEST
        content = json.dumps({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json" if oci else
                       "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": digest_of(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if oci else
                        "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(layer), "digest": digest_of(layer)}],
        }).encode()
        return _put_manifest(http, registry, name, ref, content, media_type)
    finally:
        http.close()


def push_index(registry: Registry, name: str, ref: str, children: list[tuple[str, str]],
               *, annotations: dict[str, str] | None = None) -> str:
    """An OCI index of images already in `name` ((digest, architecture) pairs, each of
    the media type push_image wrote: Docker's by default) put under `ref` (a tag, or "@"
    for its own digest); returns its digest."""
    http = _session(registry)
    try:
        entries = []
        for digest, arch in children:
            with http.head(f"{registry.url}/v2/{name}/manifests/{digest}",
                           headers={"Accept": DOCKER_MANIFEST + ", " + OCI_MANIFEST},
                           timeout=HTTP_TIMEOUT) as found:
                assert found.status_code == 200, (digest, found.status_code)
                entries.append({"mediaType": found.headers["Content-Type"], "digest": digest,
                                "size": int(found.headers["Content-Length"]),
                                "platform": {"architecture": arch, "os": "linux"}})
        index: dict[str, object] = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                    "manifests": entries}
        if annotations:
            index["annotations"] = annotations
        content = json.dumps(index).encode()
        return _put_manifest(http, registry, name, ref, content, OCI_INDEX)
    finally:
        http.close()
