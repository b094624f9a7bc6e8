"""HTTP to one registry host: the session and its TLS trust, sending with retries, and
what a failed request means (`RegistryError`, classified by status and error code).

Transient failures (connection errors, timeouts, 5xx, 429) are retried through
`dockyard.retry`; everything else fails at once with an error that names the registry
and says what to do.

Every attempt ends within `timeout_seconds`, connecting and answering included (a
`dockyard.deadline.Deadline`), and what is read of a body is capped by its kind: the
caller's `limit` for a success, `ERROR_BODY_LIMIT` (then truncated) for anything else.
Blobs are streamed instead (`stream=True`, then `Transport.stream`): uncapped, but each
chunk, sent or received, must pass within `timeout_seconds`.
"""

from __future__ import annotations

import random
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from dockyard import __version__, deadline
from dockyard.deadline import Deadline
from dockyard.errors import PublishError
from dockyard.registry.trust import base_url, ca_bundle, certs_dir, client_certificate
from dockyard.retry import RetryPolicy, Sleep, retrying

Body = bytes | Iterable[bytes]
Params = Mapping[str, str] | Sequence[tuple[str, str]]

BROKEN_HINT = "the registry, or a proxy before it, is broken or hostile"
SMALL_BODY_LIMIT = 64 * 1024  # a token, an upload's or a check's answer
ERROR_BODY_LIMIT = 64 * 1024  # what is read of a refusal (its error codes): the rest is dropped
MANIFEST_LIMIT = 4 * 1024 * 1024  # the distribution spec's limit for a manifest
TAG_PAGE_LIMIT = 4 * 1024 * 1024  # one page of tags/list: some 40,000 tags


class RegistryError(PublishError):
    """A registry refused a request or could not be reached."""

    def __init__(self, host: str, message: str, *, status: int | None = None,
                 transient: bool = False, hint: str | None = None) -> None:
        super().__init__(f"{host}: {message}", hint=hint)
        self.host = host
        self.status = status
        self.transient = transient


class _Unavailable(RegistryError):
    """A 5xx or 429 answer: retried, and reported with the attempts once they run out."""

    def __init__(self, host: str, status: int, retry_after: str | None) -> None:
        super().__init__(host, f"HTTP {status}", status=status, transient=True)
        self.retry_after = retry_after


def is_transient_status(status: int) -> bool:
    """The registry is down or overloaded (5xx) or asks us to slow down (429)."""
    return status == 429 or status >= 500


class Transport:
    """Sends requests to one registry host. Close it when done."""

    def __init__(self, host: str, *, policy: RetryPolicy = RetryPolicy(),
                 session: requests.Session | None = None, sleep: Sleep = time.sleep,
                 rand: Callable[[], float] = random.random, insecure: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.host = host
        # Insecure (publish.insecure), as the engine's insecure-registries: HTTPS without
        # checking the certificate, and plain HTTP when the registry answers that.
        self.insecure = insecure
        self.url = f"https://{host}" if insecure else base_url(host)
        if insecure:  # asked for: urllib3's warning on every request would be noise
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self._policy = policy
        self._sleep = sleep
        self._rand = rand
        self._clock = clock  # the wall clock, for a Retry-After given as an HTTP date
        self._own_session = session is None
        self._http = deadline.bounded(session or requests.Session())
        self._bundle: Path | None = None
        # the deadline of each streamed response, for `stream` to restart per chunk
        self._streams: weakref.WeakKeyDictionary[requests.Response, Deadline] = \
            weakref.WeakKeyDictionary()
        self._unanswered: weakref.WeakSet[requests.Response] = weakref.WeakSet()
        if self._own_session:
            # Loopback registries are never reached through an HTTP(S)_PROXY.
            self._http.trust_env = not self.url.startswith("http://")
            self._http.headers["User-Agent"] = f"Dockyard/{__version__}"
            directory = certs_dir(host) if self.url.startswith("https://") else None
            if directory is not None:  # trust and present what certs.d holds, as the engine
                self._bundle = ca_bundle(directory)
                certificate = client_certificate(directory)
                if certificate is not None:
                    self._http.cert = certificate

    def close(self) -> None:
        if self._own_session:
            self._http.close()
        if self._bundle is not None:
            self._bundle.unlink(missing_ok=True)
            self._bundle = None

    def close_connections(self) -> None:
        """Close the pooled connections; the next request opens a fresh one. For a
        client kept across a long wait (a build): a NAT or a load balancer may have
        dropped an idle connection without a word, and a request on it would wait out
        the timeout before it is retried. A session given by the caller is left alone,
        as `close` leaves it."""
        if self._own_session:
            for adapter in self._http.adapters.values():
                adapter.close()

    def send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
             data: Body | None = None, params: Params | None = None, stream: bool = False,
             once: bool = False,
             limit: int = SMALL_BODY_LIMIT) -> requests.Response:
        """One request (`url` absolute, or a path on this registry), retried on
        connection errors, timeouts, 5xx and 429 unless `once`.

        The answer's body is read (at most `limit` bytes, else a RegistryError) unless
        `stream`: then read it with `stream`.
        """
        attempts = 0
        unanswered = False

        def attempt() -> requests.Response:
            nonlocal attempts
            attempts += 1
            target = url if url.startswith(("http://", "https://")) else self.url + url
            return self._exchange(method, target, headers=headers, data=data,
                                  params=params, stream=stream, limit=limit)

        def retried(_: int, failure: RegistryError, __: float) -> None:
            nonlocal unanswered
            unanswered = unanswered or failure.status is None

        try:
            response = retrying(attempt, policy=replace(self._policy, retries=0) if once
                                else self._policy, catch=RegistryError,
                                transient=lambda failure: failure.transient,
                                retry_after=lambda failure: failure.retry_after
                                if isinstance(failure, _Unavailable) else None,
                                sleep=self._sleep, rand=self._rand, clock=self._clock,
                                on_retry=retried)
        except _Unavailable as failure:
            raise RegistryError(self.host, f"{method} {_path_of(url)} still failed with HTTP "
                                f"{failure.status} after {attempts} attempts",
                                status=failure.status, transient=True,
                                hint="the registry is down or overloaded; run again later "
                                     "(raise publish.retries to wait longer)") from None
        if unanswered:
            self._unanswered.add(response)
        return response

    def unanswered_before(self, response: requests.Response) -> bool:
        """Whether an attempt before the one `response` answers got no answer at all (the
        connection dropped, or it timed out): the registry may have carried it out, so a
        DELETE retried may find gone what it deleted itself."""
        return response in self._unanswered

    def stream(self, response: requests.Response) -> Iterator[bytes]:
        """The body of a response sent with `stream=True`, in chunks; a chunk that takes
        longer than `timeout_seconds` to come fails, as does a connection that breaks."""
        watch = self._streams.get(response) or Deadline(self._policy.timeout_seconds)
        try:
            yield from deadline.stream(response, watch)
        except deadline.Expired:
            raise RegistryError(self.host, f"GET {_path_of(response.url)} stalled: less than "
                                f"64 KiB came in {self._policy.timeout_seconds:g}s",
                                transient=True,
                                hint="run again; the registry or the network is unsteady "
                                     "(or raise publish.timeout_seconds)") from None

    def _exchange(self, method: str, url: str, *, headers: Mapping[str, str] | None,
                  data: Body | None, params: Params | None, stream: bool,
                  limit: int) -> requests.Response:
        """One attempt: a response that is not a 5xx or 429, or a RegistryError."""
        seconds = self._policy.timeout_seconds
        while True:
            watch = Deadline(seconds)
            try:
                with watch.running():
                    response = self._http.request(
                        method, url, headers=dict(headers or {}), params=params,
                        data=data if data is None or isinstance(data, bytes)
                        else _paced(data, watch),
                        stream=True, timeout=deadline.socket_timeouts(seconds),
                        allow_redirects=method in ("GET", "HEAD"),
                        # per request: REQUESTS_CA_BUNDLE would override a session's verify
                        verify=False if self.insecure else str(self._bundle) if self._bundle
                        else None)
                    try:
                        watch.check()  # cut off mid-headers, the answer can look whole
                        if method == "HEAD":  # no body, whatever its Content-Length says
                            response._content = b""
                            # nothing left to read: the connection goes back to the pool
                            # (else closing the response closes it, one per HEAD)
                            response._content_consumed = True  # type: ignore[attr-defined]  # requests keeps it, its stubs omit it
                        elif not stream and not is_transient_status(response.status_code):
                            self._read(response, limit, watch, f"{method} {_path_of(url)}")
                    except BaseException:
                        response.close()
                        raise
            except requests.ConnectionError as exc:
                if watch.expired:
                    raise self._too_slow(method, url) from None
                problem = _connection_problem(exc)
                parts = urlsplit(url)
                if problem == _PLAIN_HTTP and self.insecure and parts.scheme == "https" \
                        and parts.netloc == self.host:
                    # an insecure registry that speaks plain HTTP: from now on, so do we
                    self.url = f"http://{self.host}"
                    url = parts._replace(scheme="http").geturl()
                    continue
                lasting = problem in _LASTING  # no retry mends a wrong name or certificate
                raise RegistryError(self.host, f"cannot reach the registry ({problem})",
                                    transient=not lasting,
                                    hint=_reach_hint(problem, self.host)) from None
            except (requests.Timeout, deadline.Expired):
                raise self._too_slow(method, url) from None
            except requests.RequestException as exc:
                if watch.expired:
                    raise self._too_slow(method, url) from None
                raise RegistryError(self.host, f"request failed: {type(exc).__name__}") \
                    from None
            except ValueError as exc:  # a Location (or a header) that cannot be parsed; never
                # the exception's text: it can quote a header, the Authorization one included
                raise RegistryError(self.host, f"{method} {_path_of(url)}: the answer cannot "
                                    f"be followed ({type(exc).__name__})",
                                    hint=BROKEN_HINT) from None
            if is_transient_status(response.status_code):
                retry_after = response.headers.get("Retry-After")
                response.close()
                raise _Unavailable(self.host, response.status_code, retry_after)
            if stream:
                self._streams[response] = watch
            return response

    def _read(self, response: requests.Response, limit: int, watch: Deadline,
              what: str) -> None:
        """Read the body into `response` (for .content and .json()), capped by its kind."""
        if 200 <= response.status_code < 300:
            try:
                content = deadline.read(response, limit, watch)
            except deadline.TooLarge as exc:
                raise RegistryError(self.host, f"{what} answered {exc}, more than such an "
                                    "answer can be", hint=BROKEN_HINT) from None
        else:  # a refusal: its error codes are in the first bytes, the rest is dropped
            content, _ = deadline.read_some(response, ERROR_BODY_LIMIT, watch)
        response._content = content  # where requests keeps a body it read itself

    def _too_slow(self, method: str, url: str) -> RegistryError:
        return RegistryError(self.host, f"the registry did not answer {method} "
                             f"{_path_of(url)} in {self._policy.timeout_seconds:g}s",
                             transient=True,
                             hint="try again later, or raise publish.timeout_seconds")


class _Paced:
    """A request body sent chunk by chunk, each within the deadline's seconds (restarted
    per chunk), then the answer within them; waiting for the next chunk is not counted
    (its source has a deadline of its own). Keeps the length, for a Content-Length."""

    def __init__(self, chunks: Iterable[bytes], watch: Deadline) -> None:
        self._chunks = chunks
        self._watch = watch

    def __len__(self) -> int:
        return len(self._chunks)  # type: ignore[arg-type]  # `_paced` wraps sized ones only

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._chunks)
        while True:
            self._watch.suspend()
            chunk = next(chunks, None)
            if chunk is None:
                break
            self._watch.restart()
            yield chunk
        self._watch.restart()


def _paced(chunks: Iterable[bytes], watch: Deadline) -> Iterable[bytes]:
    paced = _Paced(chunks, watch)
    return paced if hasattr(chunks, "__len__") else iter(paced)


def expect(host: str, response: requests.Response, ok: tuple[int, ...], what: str) -> None:
    """Nothing when the status is one of `ok`; else raise the refusal it is."""
    if response.status_code not in ok:
        raise refusal(host, response, what)


def api_refusal(host: str, response: requests.Response, what: str,
                access_hint: str) -> RegistryError:
    """A hosted API's refusal (Docker Hub's, GitHub's, Quay's, GitLab's): for 401 and 403,
    the rights the token lacks, as `access_hint` names them; else as `refusal` reads it."""
    if response.status_code in (401, 403):
        return RegistryError(host, f"{what}: HTTP {response.status_code}",
                             status=response.status_code, hint=access_hint)
    return refusal(host, response, what)


class Sender(Protocol):
    """What sent a request: a Transport, or a RegistryClient (which sends over one)."""

    host: str

    def unanswered_before(self, response: requests.Response) -> bool: ...


def deleted(transport: Sender, response: requests.Response, what: str, access_hint: str,
            done: tuple[int, ...] = (200, 202, 204)) -> bool:
    """Whether a hosted API's DELETE (sent over `transport`) removed it: False when there
    was nothing there (404), unless an attempt before went unanswered (it was this
    DELETE that removed it); a refusal is raised (`api_refusal`)."""
    if response.status_code == 404:
        return transport.unanswered_before(response)
    if response.status_code not in done:
        raise api_refusal(transport.host, response, what, access_hint)
    return True


def refusal(host: str, response: requests.Response, what: str) -> RegistryError:
    """What an unexpected answer means, by its status and the registry's error codes."""
    status = response.status_code
    codes = error_codes(response)
    detail = f"HTTP {status}" + (f" {', '.join(codes)}" if codes else "")
    hint = None
    if status == 403 or "DENIED" in codes:
        detail = "access denied (no push permission)" if status == 403 else detail
        hint = ("give these credentials push (write) access to the repository, or use "
                "credentials that have it")
    elif "NAME_INVALID" in codes or "NAME_UNKNOWN" in codes:
        hint = "check the repository name in `images:`; some registries need it created " \
               "first"
    return RegistryError(host, f"{what}: {detail}", status=status, hint=hint)


def error_codes(response: requests.Response) -> list[str]:
    """The `errors[].code` of a distribution API error body (`NAME_UNKNOWN`...)."""
    try:
        errors = response.json().get("errors") or []
        return [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    except (ValueError, AttributeError):
        return []


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
    if not url.startswith(("http://", "https://")):
        return url.split("?", 1)[0]
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
