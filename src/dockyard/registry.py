"""A small client for the OCI distribution API, over `requests`: the one module here that
speaks HTTP to registries.

It authenticates as registries ask (a `WWW-Authenticate: Bearer realm=...,service=...,
scope=...` challenge sends it to the token endpoint with the basic credentials; a `Basic`
challenge makes it send them directly), caches tokens per scope and re-authenticates
once when a token is refused. Manifests move as exact bytes with their media type, so a
manifest written under a new tag keeps its digest. Transient failures (connection
errors, 5xx, 429) are retried with capped exponential backoff and jitter; everything
else fails at once with a `RegistryError` that names the registry and says what to do.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import ipaddress
import json
import os
import random
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import InsecureRequestWarning

from dockyard import __version__
from dockyard.errors import PublishError
from dockyard.names import DOCKER_HUB
from dockyard.retry import RetryPolicy as RetryPolicy  # re-exported: callers take it from here
from dockyard.secrets import Secret
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

_CHUNK = 64 * 1024
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_TOKEN_MARGIN_SECONDS = 10.0
_DEFAULT_TOKEN_SECONDS = 60.0
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
ECR_PUBLIC = "public.ecr.aws"
_CREDENTIALS_HINT = ("check the username and password under `registries:` for this host "
                     "(or `docker login` it when it has no entry)")

Sleep = Callable[[float], None]


class RegistryError(PublishError):
    """A registry refused a request or could not be reached."""

    def __init__(self, host: str, message: str, *, status: int | None = None,
                 transient: bool = False, hint: str | None = None) -> None:
        super().__init__(f"{host}: {message}", hint=hint)
        self.host = host
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "bearer" or "basic"
    params: Mapping[str, str]


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


def parse_challenge(header: str) -> Challenge:
    """Parse a WWW-Authenticate value such as `Bearer realm="...",service="..."`."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        key, quoted, bare = match.groups()
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[key.lower()] = value
    return Challenge(scheme=scheme.lower(), params=params)


def digest_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


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


def is_ecr(host: str) -> bool:
    return host == ECR_PUBLIC or _ECR_HOST.match(host) is not None


def ecr_credentials(host: str, client_factory: Callable[..., Any] | None = None) -> Credentials:
    """Exchange the AWS credentials boto3 finds (env, profile, role) for an ECR login.

    ECR has no long-lived registry passwords: `GetAuthorizationToken` gives a 12-hour
    `AWS:<token>` pair, for private ECR per region and for ECR Public in us-east-1.
    """
    if client_factory is None:
        try:
            client_factory = importlib.import_module("boto3").client
        except ImportError:
            raise RegistryError(host, "pushing to Amazon ECR needs boto3, which is not "
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


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class RegistryClient:
    """One registry host, one set of credentials. Close it (or use `with`) when done."""

    def __init__(self, host: str, credentials: Credentials | None = None, *,
                 policy: RetryPolicy = RetryPolicy(), session: requests.Session | None = None,
                 sleep: Sleep = time.sleep, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic, insecure: bool = False) -> None:
        self.host = host
        # Insecure (publish.insecure), as the engine's insecure-registries: HTTPS without
        # checking the certificate, and plain HTTP when the registry answers that.
        self._insecure = insecure
        self.url = f"https://{host}" if insecure else base_url(host)
        if insecure:  # asked for: urllib3's warning on every request would be noise
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self._credentials = credentials
        self._policy = policy
        self._own_session = session is None
        self._http = session or requests.Session()
        if self._own_session:
            # Loopback registries are never reached through an HTTP(S)_PROXY.
            self._http.trust_env = not self.url.startswith("http://")
            self._http.headers["User-Agent"] = f"Dockyard/{__version__}"
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._basic = False
        self._bundle: Path | None = None
        if self._own_session and self.url.startswith("https://"):
            self._trust(certs_dir(host))

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_session:
            self._http.close()
        if self._bundle is not None:
            self._bundle.unlink(missing_ok=True)
            self._bundle = None

    def _trust(self, directory: Path | None) -> None:
        """Trust the CAs of the registry's certs.d besides the usual ones, and present its
        client certificate, as the engine does."""
        if directory is None:
            return
        authorities = sorted(directory.glob("*.crt"))
        if authorities:
            # One bundle: the CAs in use so far (a registry may redirect blob reads to a
            # public CDN) plus the registry's own. Certificates only, nothing secret.
            usual = next((Path(value) for value in (os.environ.get("REQUESTS_CA_BUNDLE"),
                                                    os.environ.get("SSL_CERT_FILE"))
                          if value and Path(value).is_file()), Path(DEFAULT_CA_BUNDLE_PATH))
            with tempfile.NamedTemporaryFile("wb", prefix="dockyard-ca-", suffix=".pem",
                                             delete=False) as bundle:
                for path in (usual, *authorities):
                    bundle.write(path.read_bytes().rstrip(b"\n") + b"\n")
            self._bundle = Path(bundle.name)
        for cert in sorted(directory.glob("*.cert")):
            key = cert.with_suffix(".key")
            if key.is_file():
                self._http.cert = (str(cert), str(key))
                break

    # ----------------------------------------------------------------- authentication

    def authenticate(self, scopes: Sequence[str]) -> None:
        """Log in for exactly `scopes` and check they were granted; for preflight checks.

        A token service may hand out a token with fewer rights than asked (Docker Hub
        does); its `access` claim says which, so missing push rights show up here, before
        anything is built.
        """
        key = tuple(scopes)
        with self._request("GET", "/v2/", key) as response:
            self._expect(response, (200,), "cannot check access")
        token = self._tokens.get(key)
        if token is not None:
            granted = _granted_actions(token[0])
            for scope in key:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = set(actions.split(","))
                have = granted.get((kind, name)) if granted is not None else wanted
                if have is not None and not wanted <= have and "*" not in have:
                    raise RegistryError(
                        self.host, f"the credentials may not {'/'.join(sorted(wanted - have))} "
                        f"{name} (no push permission)", status=403,
                        hint="give these credentials push (write) access to the repository, "
                             "or use credentials that have it")

    def _login(self, scopes: tuple[str, ...], header: str) -> None:
        challenge = parse_challenge(header)
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise RegistryError(self.host, "the registry requires a login, and none is "
                                    "configured", status=401, hint=_CREDENTIALS_HINT)
            self._basic = True
        elif challenge.scheme == "bearer":
            self._fetch_token(scopes, challenge)
        else:
            raise RegistryError(self.host, f"refused the request with an authentication "
                                f"scheme Dockyard does not speak ({challenge.scheme or 'none'})",
                                status=401)

    def _fetch_token(self, scopes: tuple[str, ...], challenge: Challenge) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(self.host, "its Bearer challenge has no realm (token URL)",
                                status=401)
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        for scope in scopes or (challenge.params.get("scope", ""),):
            if scope:
                params.append(("scope", scope))
        auth = None
        if self._credentials is not None:
            realm_host = urlsplit(realm).netloc
            if not realm.startswith("https://") and not self._insecure \
                    and base_url(realm_host).startswith("https://"):
                raise RegistryError(self.host, f"its token service ({realm_host}) speaks plain "
                                    "http; Dockyard will not send credentials there",
                                    hint="the registry's token realm must be https")
            auth = (self._credentials.username, self._credentials.password.reveal())
        response = self._send("GET", realm, params=params, auth=auth)
        with response:
            if response.status_code in (401, 403):
                raise RegistryError(self.host, "the token service refused the credentials "
                                    "(bad username or password)", status=response.status_code,
                                    hint=_CREDENTIALS_HINT)
            if response.status_code != 200:
                raise RegistryError(self.host, f"the token service answered HTTP "
                                    f"{response.status_code}", status=response.status_code)
            try:
                body = response.json()
                token = str(body.get("token") or body.get("access_token") or "")
                lifetime = float(body.get("expires_in") or _DEFAULT_TOKEN_SECONDS)
            except (ValueError, AttributeError) as exc:
                raise RegistryError(self.host, "the token service answered something that is "
                                    "not a token") from exc
        if not token:
            raise RegistryError(self.host, "the token service answered without a token")
        self._tokens[scopes] = (token, self._clock() + lifetime - _TOKEN_MARGIN_SECONDS)

    def _authorisation(self, scopes: tuple[str, ...]) -> dict[str, str]:
        if self._basic and self._credentials is not None:
            pair = f"{self._credentials.username}:{self._credentials.password.reveal()}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        cached = self._tokens.get(scopes)
        if cached is None:  # a token asked for more (pull,push) serves a pull as well
            cached = next((token for key, token in tuple(self._tokens.items())
                           if _covers(key, scopes)), None)
        if cached is not None and cached[1] > self._clock():
            return {"Authorization": f"Bearer {cached[0]}"}
        return {}

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
                           (pull_scope(repository),), headers={"Accept": ACCEPT}) as response:
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
        if media_type not in MANIFEST_TYPES:
            media_type = str(json.loads(content).get("mediaType") or media_type)
        return Manifest(content=content, media_type=media_type, digest=digest)

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Store the exact bytes under `reference` (a tag or the digest); return the digest."""
        with self._request("PUT", f"/v2/{repository}/manifests/{reference}",
                           (push_scope(repository),), data=manifest.content,
                           headers={"Content-Type": manifest.media_type}) as response:
            self._expect(response, (200, 201), f"cannot write {repository}:{reference}")
            return response.headers.get("Docker-Content-Digest") or manifest.digest

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
            yield from response.iter_content(_CHUNK)
        except requests.RequestException as exc:  # the connection broke off mid-blob
            raise RegistryError(self.host, f"reading blob {digest[:19]} broke off "
                                f"({type(exc).__name__})", transient=True,
                                hint="run again; the registry or the network is unsteady") \
                from None

    def require_repository(self, repository: str) -> None:
        """Fail unless `repository` exists; for registries that do not create on push (ECR)."""
        with self._request("GET", f"/v2/{repository}/tags/list?n=1",
                           (pull_scope(repository),)) as response:
            if response.status_code == 404 and "NAME_UNKNOWN" in _error_codes(response):
                hint = "create it first"
                if is_ecr(self.host):
                    hint += (f": aws ecr{'-public' if self.host == ECR_PUBLIC else ''} "
                             f"create-repository --repository-name {repository}")
                raise RegistryError(self.host, f"the repository {repository} does not exist, "
                                    "and this registry does not create repositories on push",
                                    status=404, hint=hint)
            self._expect(response, (200, 404), f"cannot read the repository {repository}")

    def image_labels(self, repository: str, reference: str) -> dict[str, str] | None:
        """Labels of the image config behind `reference` (for an index, its first image)."""
        manifest = self.get_manifest(repository, reference)
        if manifest is None:
            return None
        if manifest.is_index:
            entries = manifest.json().get("manifests") or []
            child = self.get_manifest(repository, str(entries[0]["digest"])) if entries else None
            if child is None:
                return {}
            manifest = child
        labels = (self.image_config(repository, manifest).get("config") or {}).get("Labels")
        return {str(k): str(v) for k, v in (labels or {}).items()}

    def image_config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """The image config (os, architecture, labels...) of an image manifest."""
        config = manifest.json().get("config") or {}
        if not config.get("digest"):
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
        while url:
            with self._request("GET", url, (pull_scope(repository),)) as response:
                if response.status_code == 404:
                    return found
                self._expect(response, (200,), f"cannot list the tags of {repository}")
                found += response.json().get("tags") or []
                following = response.links.get("next", {}).get("url")
            url = urljoin(self.url + "/", following) if following else ""
        return found

    # ----------------------------------------------------------------- transport

    def _request(self, method: str, path: str, scopes: tuple[str, ...], *,
                 headers: Mapping[str, str] | None = None,
                 data: bytes | Iterable[bytes] | None = None,
                 params: Mapping[str, str] | None = None, stream: bool = False,
                 once: bool = False) -> requests.Response:
        """Send with authorisation; on 401 log in as the challenge says, once, and resend."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        relogged = False
        while True:
            sent = dict(headers or {})
            sent.update(self._authorisation(scopes))
            response = self._send(method, url, headers=sent, data=data, params=params,
                                  stream=stream, once=once)
            if response.status_code != 401:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            if relogged or not challenge or once:
                raise RegistryError(
                    self.host, "refused the credentials (unauthorized)"
                    if self._credentials else "requires a login, and none is configured",
                    status=401, hint=_CREDENTIALS_HINT)
            self._tokens.pop(scopes, None)
            self._login(scopes, challenge)
            relogged = True

    def _send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
              data: bytes | Iterable[bytes] | None = None, params: Any = None,
              stream: bool = False, auth: tuple[str, str] | None = None,
              once: bool = False) -> requests.Response:
        """One request, retried on connection errors, 5xx and 429 (unless `once`)."""
        retries = 0 if once else self._policy.retries
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method, url, headers=dict(headers or {}), data=data, params=params,
                    stream=stream, auth=auth, timeout=self._policy.timeout_seconds,
                    allow_redirects=method in ("GET", "HEAD"),
                    # per request: REQUESTS_CA_BUNDLE would override a session's verify
                    verify=False if self._insecure else str(self._bundle) if self._bundle
                    else None)
            except requests.ConnectionError as exc:
                problem = _connection_problem(exc)
                if problem == _PLAIN_HTTP and self._insecure and url.startswith("https://"):
                    # an insecure registry that speaks plain HTTP: from now on, so do we
                    secure, self.url = self.url, f"http://{self.host}"
                    url = url.replace(secure, self.url, 1)
                    attempt -= 1
                    continue
                lasting = problem in _LASTING  # no retry mends a wrong name or certificate
                if attempt > retries or lasting:
                    raise RegistryError(self.host, f"cannot reach the registry ({problem})",
                                        transient=not lasting,
                                        hint=_reach_hint(problem, self.host)) from None
                self._sleep(self._policy.delay(attempt, None, self._rand))
                continue
            except requests.Timeout:
                if attempt > retries:
                    raise RegistryError(self.host, "the registry did not answer in "
                                        f"{self._policy.timeout_seconds:g}s", transient=True,
                                        hint="try again later, or raise "
                                             "publish.timeout_seconds") from None
                self._sleep(self._policy.delay(attempt, None, self._rand))
                continue
            except requests.RequestException as exc:
                raise RegistryError(self.host, f"request failed: {type(exc).__name__}") \
                    from None
            status = response.status_code
            if status != 429 and status < 500:
                return response
            retry_after = response.headers.get("Retry-After")
            response.close()
            if attempt > retries:
                raise RegistryError(self.host, f"{method} {_path_of(url)} still failed with HTTP "
                                    f"{status} after {attempt} attempts", status=status,
                                    transient=True, hint="the registry is down or overloaded; "
                                    "run again later (raise publish.retries to wait longer)")
            self._sleep(self._policy.delay(attempt, retry_after, self._rand))

    def _expect(self, response: requests.Response, ok: tuple[int, ...], what: str) -> None:
        status = response.status_code
        if status in ok:
            return
        codes = _error_codes(response)
        detail = f"HTTP {status}" + (f" {', '.join(codes)}" if codes else "")
        hint = None
        if status == 403 or "DENIED" in codes:
            detail = "access denied (no push permission)" if status == 403 else detail
            hint = ("give these credentials push (write) access to the repository, or use "
                    "credentials that have it")
        elif "NAME_INVALID" in codes or "NAME_UNKNOWN" in codes:
            hint = "check the repository name in `images:`; some registries need it created " \
                   "first"
        raise RegistryError(self.host, f"{what}: {detail}", status=status, hint=hint)


def _covers(have: Sequence[str], want: Sequence[str]) -> bool:
    """Whether a token asked for the scopes `have` was asked for every action of `want`."""
    held: dict[str, set[str]] = {}
    for scope in have:
        resource, _, actions = scope.rpartition(":")
        held.setdefault(resource, set()).update(actions.split(","))
    return all(set(actions.split(",")) <= held.get(resource, set())
               for resource, _, actions in (scope.rpartition(":") for scope in want))


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


def _error_codes(response: requests.Response) -> list[str]:
    try:
        errors = response.json().get("errors") or []
        return [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    except (ValueError, AttributeError):
        return []


def _granted_actions(token: str) -> dict[tuple[str, str], set[str]] | None:
    """The `access` claim of a JWT token by (type, name); None when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        access = payload["access"]
        return {(str(a["type"]), str(a["name"])): {str(x) for x in a.get("actions") or ()}
                for a in access}
    except (ValueError, KeyError, TypeError):
        return None


_UNKNOWN_HOST = "unknown host"
_PLAIN_HTTP = "it answers plain HTTP, not HTTPS"
_TLS_FAILED = "TLS failed"
_LASTING = (_UNKNOWN_HOST, _PLAIN_HTTP, _TLS_FAILED)


def _connection_problem(exc: requests.ConnectionError) -> str:
    text = repr(exc)
    if "NameResolutionError" in text or "Name or service not known" in text \
            or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
        return _UNKNOWN_HOST
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "Connection aborted" in text \
            or "ConnectionResetError" in text:
        return "the connection was dropped"
    if "WRONG_VERSION_NUMBER" in text:  # a TLS hello answered in plain HTTP
        return _PLAIN_HTTP
    if "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return _TLS_FAILED
    return "connection error"


def _reach_hint(problem: str, host: str) -> str:
    if problem == _UNKNOWN_HOST:
        return "check the registry host in `images:` (a typo?), and DNS on this runner"
    if problem == _PLAIN_HTTP:
        return ("Dockyard speaks HTTPS to registries off loopback (and to loopback ones "
                f"with certs.d settings): serve {host} with TLS, with a private CA at "
                f"/etc/docker/certs.d/{host}/ca.crt")
    if problem == _TLS_FAILED:
        return (f"the registry's certificate is not trusted here: put its CA certificate at "
                f"/etc/docker/certs.d/{host}/ca.crt (the engine and Dockyard both read it; "
                "rootless Docker: ~/.config/docker/certs.d)")
    return "check the registry host and port in `images:`, and that the registry is up"


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
