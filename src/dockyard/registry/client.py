"""The OCI distribution API of one registry: manifests as exact bytes with their media
type (so a manifest written under a new tag keeps its digest), blobs streamed, tags
listed and deleted, labels read from image configs.

`RegistryClient` composes the layers below it: an `auth.Authenticator` (challenges and
tokens) over a `transport.Transport` (HTTP, TLS trust, retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from dockyard.registry.auth import Authenticator, delete_scope, pull_scope, push_scope
from dockyard.registry.keychain import ECR_PUBLIC, is_ecr
from dockyard.registry.transport import (
    BROKEN_HINT,
    MANIFEST_LIMIT,
    SMALL_BODY_LIMIT,
    TAG_PAGE_LIMIT,
    Body,
    Params,
    RegistryError,
    Transport,
    error_codes,
    expect,
    refusal,
)
from dockyard.retry import RetryPolicy, Sleep
from dockyard.settings import Credentials

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
ACCEPT = ", ".join(MANIFEST_TYPES)

VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"

_MAX_CONFIG_BYTES = 4 * 1024 * 1024
# However the registry pages them (or never stops paging): more than this many tags in
# one repository is a broken or hostile registry, not a repository.
_MAX_TAGS = 200_000
_MAX_TAG_PAGES = 2_000  # of 100: as many tags, and no more requests
# What a registry that cannot delete tags answers a DELETE by tag with: 405 Method Not
# Allowed, or (distribution 2.x, which deletes by digest only) one of these codes.
_NO_TAG_DELETION = ("UNSUPPORTED", "DIGEST_INVALID", "MANIFEST_UNKNOWN")


@dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as the registry stores it."""

    content: bytes
    media_type: str
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.content)
        return data


@dataclass(frozen=True)
class Descriptor:
    digest: str
    media_type: str
    size: int | None


def digest_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


class RegistryClient:
    """One registry host, one set of credentials. Close it (or use `with`) when done."""

    def __init__(self, host: str, credentials: Credentials | None = None, *,
                 policy: RetryPolicy = RetryPolicy(), session: requests.Session | None = None,
                 sleep: Sleep = time.sleep, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic, insecure: bool = False) -> None:
        self.host = host
        self._transport = Transport(host, policy=policy, session=session, sleep=sleep,
                                    rand=rand, insecure=insecure)
        self._auth = Authenticator(self._transport, credentials, clock=clock)

    @property
    def url(self) -> str:
        """Where the API lives; an insecure registry moves to http:// when it answers that."""
        return self._transport.url

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def close_connections(self) -> None:
        """Close the idle connections, keep the tokens (see Transport.close_connections)."""
        self._transport.close_connections()

    # ----------------------------------------------------------------- authentication

    def authenticate(self, scopes: Sequence[str]) -> None:
        """Log in for exactly `scopes` and check they were granted; for preflight checks.

        A token service may hand out a token with fewer rights than asked (Docker Hub
        does); its `access` claim says which, so missing push rights show up here, before
        anything is built.
        """
        key = tuple(scopes)
        with self._request("GET", "/v2/", key) as response:
            if response.status_code == 400 and self.url.startswith("http://"):
                # GET /v2/ has nothing to be bad but its scheme: Go's HTTPS servers (every
                # distribution) answer a plain HTTP request so
                raise RegistryError(self.host, "answers plain HTTP with 400 Bad Request: "
                                    "it seems to speak HTTPS", status=400, hint=(
                                        "Dockyard speaks plain HTTP to a loopback registry "
                                        "without certs.d settings; put its CA certificate "
                                        f"at /etc/docker/certs.d/{self.host}/ca.crt "
                                        "(rootless Docker: ~/.config/docker/certs.d), or "
                                        f"list it in publish.insecure: [{self.host}]"))
            self._expect(response, (200,), "cannot check access")
        self._auth.check_granted(key)

    def _login(self, scopes: tuple[str, ...], header: str) -> None:
        self._auth.login(scopes, header)

    # ----------------------------------------------------------------- manifests

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """What `reference` (tag or digest) points at, or None when there is nothing."""
        with self._request("HEAD", f"/v2/{repository}/manifests/{reference}",
                           (pull_scope(repository),), headers={"Accept": ACCEPT}) as response:
            if response.status_code == 404:
                return None
            self._expect(response, (200,), f"cannot read {repository}:{reference}")
            length = response.headers.get("Content-Length")
            return Descriptor(
                digest=response.headers.get("Docker-Content-Digest", ""),
                media_type=_media_type(response),
                size=int(length) if length and length.isdigit() else None,
            )

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest under `reference` with its exact bytes, or None when there is none."""
        with self._request("GET", f"/v2/{repository}/manifests/{reference}",
                           (pull_scope(repository),), headers={"Accept": ACCEPT},
                           limit=MANIFEST_LIMIT) as response:
            if response.status_code == 404:
                return None
            self._expect(response, (200,), f"cannot read {repository}:{reference}")
            content = response.content
            media_type = _media_type(response)
        digest = digest_of(content)
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(self.host, f"served {repository}@{reference} with content of "
                                f"digest {digest}", hint="the registry is corrupt or a proxy "
                                "rewrote the manifest; do not trust it")
        data = self._json_object(content, f"the manifest of {repository}:{reference}")
        if media_type not in MANIFEST_TYPES:
            media_type = str(data.get("mediaType") or media_type)
        return Manifest(content=content, media_type=media_type, digest=digest)

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Store the exact bytes under `reference` (a tag or the digest); return the digest."""
        with self._request("PUT", f"/v2/{repository}/manifests/{reference}",
                           (push_scope(repository),), data=manifest.content,
                           headers={"Content-Type": manifest.media_type}) as response:
            self._expect(response, (200, 201), f"cannot write {repository}:{reference}")
            return response.headers.get("Docker-Content-Digest") or manifest.digest

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Remove the tag `tag` alone (OCI distribution 1.1); the manifest stays.

        False when the registry does not delete tags (most delete manifests by digest
        only): nothing changed then.
        """
        with self._request("DELETE", f"/v2/{repository}/manifests/{tag}",
                           (delete_scope(repository),)) as response:
            status = response.status_code
            if status in (200, 202):
                return True
            if status == 405 or (status in (400, 404) and any(
                    code in _NO_TAG_DELETION for code in error_codes(response))):
                return False
            raise refusal(self.host, response, f"cannot delete the tag {repository}:{tag}")

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the manifest `digest` and, with it, every tag on it (distribution API).

        False when it was gone already, unless an attempt before went unanswered: then the
        registry deleted it and the answer was lost. A registry that refuses deletes
        (distribution without `storage.delete.enabled`) is an error saying so.
        """
        with self._request("DELETE", f"/v2/{repository}/manifests/{digest}",
                           (delete_scope(repository),)) as response:
            status = response.status_code
            if status in (200, 202):
                return True
            if status == 404:
                return self._transport.unanswered_before(response)
            if status == 405 or "UNSUPPORTED" in error_codes(response):
                raise RegistryError(self.host, f"does not delete manifests ({repository}@"
                                    f"{digest[:19]}: {status})", status=status,
                                    hint="enable deletes on the registry (distribution: "
                                         "storage.delete.enabled, or "
                                         "REGISTRY_STORAGE_DELETE_ENABLED=true)")
            raise refusal(self.host, response, f"cannot delete {repository}@{digest}")

    # ----------------------------------------------------------------- blobs

    def blob_exists(self, repository: str, digest: str) -> bool:
        with self._request("HEAD", f"/v2/{repository}/blobs/{digest}",
                           (pull_scope(repository),)) as response:
            if response.status_code == 404:
                return False
            self._expect(response, (200,), f"cannot check blob {digest} in {repository}")
            return True

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Link blob `digest` from repository `source` into `repository` without uploading.

        True when mounted; False when the registry would not (it then opened an upload
        session instead, which is cancelled here) and the blob must be uploaded.
        """
        scopes = (push_scope(repository), pull_scope(source))
        with self._request("POST", f"/v2/{repository}/blobs/uploads/", scopes,
                           params={"mount": digest, "from": source}) as response:
            self._expect(response, (201, 202), f"cannot mount {digest} into {repository}")
            if response.status_code == 201:
                return True
            location = response.headers.get("Location")
        if location:
            with contextlib.suppress(RegistryError), \
                    self._request("DELETE", urljoin(self.url + "/", location), scopes):
                pass
        return False

    def upload_blob(self, repository: str, digest: str, chunks: Iterable[bytes],
                    size: int | None = None) -> None:
        """Upload a blob from an iterable of chunks, streamed, in one PUT.

        With `size` (the descriptor's), the PUT carries a Content-Length: the monolithic
        upload every registry takes; without, chunked transfer encoding. The body can
        be read only once, so this is not retried here: a caller that wants retries
        opens the source again (see publish.copy_manifest).
        """
        body: Iterable[bytes] = chunks if size is None else _Sized(chunks, size)
        scopes = (push_scope(repository),)
        with self._request("POST", f"/v2/{repository}/blobs/uploads/", scopes) as response:
            self._expect(response, (202,), f"cannot start an upload to {repository}")
            location = urljoin(self.url + "/", response.headers.get("Location", ""))
        separator = "&" if "?" in location else "?"
        with self._request("PUT", f"{location}{separator}digest={digest}", scopes,
                           data=body, once=True,
                           headers={"Content-Type": "application/octet-stream"}) as response:
            self._expect(response, (201,), f"cannot upload blob {digest} to {repository}")

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        """Stream a blob in chunks; never holds it whole in memory."""
        with self._request("GET", f"/v2/{repository}/blobs/{digest}",
                           (pull_scope(repository),), stream=True) as response:
            self._expect(response, (200,), f"cannot read blob {digest} from {repository}")
            yield self._chunks(response, digest)

    def _chunks(self, response: requests.Response, digest: str) -> Iterator[bytes]:
        try:
            yield from self._transport.stream(response)
        except requests.RequestException as exc:  # the connection broke off mid-blob
            raise RegistryError(self.host, f"reading blob {digest[:19]} broke off "
                                f"({type(exc).__name__})", transient=True,
                                hint="run again; the registry or the network is unsteady") \
                from None

    def require_repository(self, repository: str) -> None:
        """Fail unless `repository` exists; for registries that do not create on push (ECR)."""
        with self._request("GET", f"/v2/{repository}/tags/list?n=1",
                           (pull_scope(repository),), limit=TAG_PAGE_LIMIT) as response:
            if response.status_code == 404 and "NAME_UNKNOWN" in error_codes(response):
                hint = "create it first"
                if is_ecr(self.host):
                    hint += (f": aws ecr{'-public' if self.host == ECR_PUBLIC else ''} "
                             f"create-repository --repository-name {repository}")
                raise RegistryError(self.host, f"the repository {repository} does not exist, "
                                    "and this registry does not create repositories on push",
                                    status=404, hint=hint)
            self._expect(response, (200, 404), f"cannot read the repository {repository}")

    def image_config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """The image config (os, architecture, labels...) of an image manifest."""
        config = manifest.json().get("config")
        if not isinstance(config, dict) or not config.get("digest"):
            return {}
        content = bytearray()
        with self.open_blob(repository, str(config["digest"])) as chunks:
            for chunk in chunks:
                content += chunk
                if len(content) > _MAX_CONFIG_BYTES:
                    raise RegistryError(self.host, f"the image config {config['digest']} in "
                                        f"{repository} is implausibly large")
        try:
            data = json.loads(bytes(content))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    # ----------------------------------------------------------------- tags

    def tags(self, repository: str, page_size: int = 100) -> list[str]:
        """Every tag of `repository`, following `Link: <...>; rel="next"` pages."""
        found: list[str] = []
        url = f"/v2/{repository}/tags/list?n={page_size}"
        pages = 0
        while url:
            pages += 1
            if pages > _MAX_TAG_PAGES:
                raise RegistryError(self.host, f"listed the tags of {repository} in more than "
                                    f"{_MAX_TAG_PAGES:,} pages, and kept paging",
                                    hint=BROKEN_HINT)
            with self._request("GET", url, (pull_scope(repository),),
                               limit=TAG_PAGE_LIMIT) as response:
                if response.status_code == 404:
                    return found
                self._expect(response, (200,), f"cannot list the tags of {repository}")
                page = self._json_object(response.content, f"the tags of {repository}")
                following = response.links.get("next", {}).get("url")
            tags = page.get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise RegistryError(self.host, f"listed the tags of {repository} as something "
                                    "other than a list of names", hint=BROKEN_HINT)
            found += tags
            if len(found) > _MAX_TAGS:
                raise RegistryError(self.host, f"listed more than {_MAX_TAGS:,} tags of "
                                    f"{repository}, and kept paging", hint=BROKEN_HINT)
            url = urljoin(self.url + "/", following) if following else ""
        return found

    # ----------------------------------------------------------------- requests

    def send(self, method: str, path: str, scopes: Sequence[str]) -> requests.Response:
        """A request to an API the registry serves beside distribution's, on the same
        host and with the same login for `scopes` (ACR's /acr/v1). Close the answer."""
        return self._request(method, path, tuple(scopes))

    def unanswered_before(self, response: requests.Response) -> bool:
        """Whether an attempt before the one `response` (of `send`) answers got no answer:
        a DELETE retried may then find gone what it deleted itself."""
        return self._transport.unanswered_before(response)

    def _request(self, method: str, path: str, scopes: tuple[str, ...], *,
                 headers: Mapping[str, str] | None = None, data: Body | None = None,
                 params: Params | None = None, stream: bool = False,
                 once: bool = False, limit: int = SMALL_BODY_LIMIT) -> requests.Response:
        return self._auth.send(method, path, scopes, headers=headers, data=data,
                               params=params, stream=stream, once=once, limit=limit)

    def _expect(self, response: requests.Response, ok: tuple[int, ...], what: str) -> None:
        expect(self.host, response, ok, what)

    def _json_object(self, content: bytes, what: str) -> dict[str, Any]:
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RegistryError(self.host, f"served {what} as something other than a JSON "
                                "object", hint=BROKEN_HINT)
        return data


class _Sized:
    """Chunks with a known total, so that requests sends a Content-Length, not chunked."""

    def __init__(self, chunks: Iterable[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


def _media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip()
