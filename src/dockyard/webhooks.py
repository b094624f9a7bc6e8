"""Webhooks: delivery only. Signed POSTs of the payloads `payloads` builds, retried on
transient failures, several receivers in parallel.

With a secret the exact body bytes are signed as GitHub does, so receivers that already
verify GitHub webhooks verify ours unchanged:

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>

Each attempt also carries the event, a delivery id (the same for every attempt of one
delivery) and a timestamp, and `X-Dockyard-Signature-256` signs
`"<timestamp>.<delivery id>.<body>"` so that a receiver can refuse replays (see
docs/webhooks.md). Bodies are scrubbed of every registered secret before they are sent.
A hook whose secret is empty (a fork PR's, withheld) is delivered unsigned, and the run
says so (`unsigned_warnings`).

An attempt ends within the hook's `timeout`, connecting, sending and answering included
(a `dockyard.deadline.Deadline`: requests' own timeout bounds each socket read only), and
at most `_REPLY_LIMIT` bytes of a reply are read, never the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from dockyard import __version__, deadline, payloads, secrets
from dockyard.deadline import Deadline
from dockyard.retry import RetryPolicy, retrying

if TYPE_CHECKING:
    from dockyard.settings import Webhook

_BACKOFF_SECONDS = 1.0
_MAX_DELAY = 30.0
_MAX_WORKERS = 8
_REPLY_LIMIT = 64 * 1024  # nothing in a reply is used: reading it only lets the connection go


@dataclass(frozen=True)
class Delivery:
    host: str  # the URL's host only: paths and queries may hold tokens
    status: str  # "delivered" or "failed"
    attempts: int
    required: bool
    http_status: int | None = None
    error: str | None = None
    webhook: int = 0  # which one: its position under `webhooks:`
    format: str = "dockyard"

    def to_dict(self) -> dict[str, Any]:
        return {"webhook": self.webhook, "format": self.format, "host": self.host,
                "status": self.status, "attempts": self.attempts, "required": self.required,
                "http_status": self.http_status, "error": self.error}


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value for `body` (GitHub's scheme)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_timestamped(body: bytes, secret: str, timestamp: int, delivery_id: str) -> str:
    """The X-Dockyard-Signature-256 value: binds the timestamp and delivery id to `body`."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def headers_for(hook: Webhook, body: bytes, event: str, delivery_id: str, timestamp: int,
                content_type: str = payloads.JSON) -> dict[str, str]:
    # The hook's own headers first: Dockyard's below win (settings refuses clashes anyway).
    ours = {
        "Content-Type": content_type,
        "User-Agent": f"Dockyard/{__version__}",
        "X-Dockyard-Event": event,
        "X-Dockyard-Delivery": delivery_id,
        "X-Dockyard-Timestamp": str(timestamp),
    }
    if hook.secret:
        ours["X-Hub-Signature-256"] = sign(body, hook.secret.reveal())
        ours["X-Dockyard-Signature-256"] = sign_timestamped(
            body, hook.secret.reveal(), timestamp, delivery_id)
    taken = {name.lower() for name in ours}
    headers = {name: value.reveal() for name, value in hook.headers.items()
               if name.lower() not in taken and value.reveal().strip()}
    headers.update(ours)
    return headers


def url_warnings(hooks: Sequence[Webhook]) -> list[str]:
    """A warning for each plain-http URL that leaves this machine."""
    warnings = []
    for hook in hooks:
        parts = urlsplit(hook.url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            warnings.append(f"webhook {parts.hostname} uses http: the payload, its signature "
                            "and any headers travel unencrypted; use https")
    return warnings


def unsigned_warnings(hooks: Sequence[Webhook]) -> list[str]:
    """A warning for each hook whose configured secret is empty: it goes out unsigned."""
    return [f"webhook {urlsplit(hook.url).hostname}{' (required)' if hook.required else ''}: "
            "its secret is empty (unset, or withheld from a fork's pull request), so "
            "deliveries are not signed; a receiver that checks signatures will refuse them"
            for hook in hooks if hook.secret_empty]


def deliver_all(hooks: Sequence[Webhook], record: Mapping[str, Any], event: str, *,
                session: requests.Session | None = None,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.time) -> tuple[Delivery, ...]:
    """Send `record` for `event` to every hook subscribed to it, each in its format, in
    parallel. One Delivery per POST (a dockerhub hook gets one per image name); a hook
    not subscribed to `event` gets none. Never raises for a failed delivery."""
    event_id = str(uuid.uuid4())  # one event, however many receivers and formats
    jobs = [(index, hook, encode(secrets.redact_data(payload)), payloads.content_type(hook.format))
            for index, hook in enumerate(hooks) if event in hook.events
            for payload in payloads.render(hook.format, record, event_id=event_id)]
    if not jobs:
        return ()
    own_session = session is None
    http = deadline.bounded(session or requests.Session())
    try:
        with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(jobs))) as pool:
            futures = [(index, hook, pool.submit(_deliver, hook, body, kind, event, http,
                                                 sleep, clock))
                       for index, hook, body, kind in jobs]
            return tuple(replace(_outcome(future, hook), webhook=index, format=hook.format)
                         for index, hook, future in futures)
    finally:
        if own_session:
            http.close()


def _outcome(future: Future[Delivery], hook: Webhook) -> Delivery:
    """What a delivery came to. Webhooks go out after the work is done, so even a bug in
    delivering is a failed delivery: the record must still be written."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - after the push, failure is data (style 13)
        return Delivery(_host(hook.url), "failed", 0, hook.required,
                        error=f"Dockyard failed to deliver ({type(exc).__name__}): a bug, "
                              "please report it")


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


class _Undelivered(Exception):
    """One attempt that did not deliver: what to report, and whether to try again."""

    def __init__(self, error: str, status: int | None = None, *, transient: bool = True,
                 retry_after: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


def _deliver(hook: Webhook, body: bytes, content_type: str, event: str,
             http: requests.Session, sleep: Callable[[float], None],
             clock: Callable[[], float]) -> Delivery:
    host = _host(hook.url)
    delivery_id = str(uuid.uuid4())
    attempts = 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        headers = headers_for(hook, body, event, delivery_id, int(clock()), content_type)
        watch = Deadline(hook.timeout)
        too_slow = f"no answer from {host} within {hook.timeout:g}s"
        try:
            with watch.running(), http.post(hook.url, data=body, headers=headers,
                                            timeout=deadline.socket_timeouts(hook.timeout),
                                            allow_redirects=False,
                                            stream=True) as response:
                watch.check()  # cut off mid-headers, the answer can look whole
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                # The answer is the status. A small reply is read only to free the
                # connection, and how that goes changes nothing; any other is not read.
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) <= _REPLY_LIMIT:
                    with contextlib.suppress(requests.RequestException, deadline.Expired):
                        deadline.read_some(response, _REPLY_LIMIT, watch)
        except (requests.Timeout, deadline.Expired):
            raise _Undelivered(too_slow) from None
        except requests.ConnectionError:
            if watch.expired:
                raise _Undelivered(too_slow) from None
            raise _Undelivered(f"could not reach {host}: the connection failed") from None
        except requests.RequestException as exc:
            if watch.expired:
                raise _Undelivered(too_slow) from None
            # Never the exception's text: it can quote the URL, whose path may be a token.
            raise _Undelivered(f"{type(exc).__name__} while sending to {host}") from None
        if 200 <= status < 300:
            return status
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed: configure the final URL)"
        # below 500 (but 429) the receiver refused this payload: sending it again won't help
        raise _Undelivered(error, status, transient=status >= 500 or status == 429,
                           retry_after=retry_after)

    policy = RetryPolicy(retries=hook.max_attempts - 1, backoff_seconds=_BACKOFF_SECONDS,
                         max_backoff_seconds=_MAX_DELAY, timeout_seconds=hook.timeout)
    try:
        status = retrying(attempt, policy=policy, catch=_Undelivered,
                          transient=lambda failed: failed.transient,
                          retry_after=lambda failed: failed.retry_after,
                          sleep=sleep, rand=_no_jitter, clock=clock)
    except _Undelivered as failed:
        return Delivery(host, "failed", attempts, hook.required, failed.status, failed.error)
    return Delivery(host, "delivered", attempts, hook.required, status)


def _no_jitter() -> float:
    """Webhook retries wait plain doubling steps (1s, 2s, 4s...), as they always have."""
    return 1.0


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
