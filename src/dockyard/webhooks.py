"""Webhooks: signed JSON POSTs of the run result, retried on transient failures.

With a secret the exact body bytes are signed as GitHub does, so receivers that already
verify GitHub webhooks verify ours unchanged:

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>

Each delivery also carries an event name, a unique delivery id and a timestamp, so a
receiver can refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from dockyard import __version__
from dockyard.settings import Webhook

MAX_ATTEMPTS = 3
_BACKOFF_SECONDS = 1.0
_MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class Delivery:
    host: str  # the URL's host only: paths and queries may hold tokens
    status: str  # "delivered" or "failed"
    attempts: int
    required: bool
    http_status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status, "attempts": self.attempts,
                "required": self.required, "http_status": self.http_status,
                "error": self.error}


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def headers_for(hook: Webhook, body: bytes, event: str, delivery_id: str,
                timestamp: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Dockyard/{__version__}",
        "X-Dockyard-Event": event,
        "X-Dockyard-Delivery": delivery_id,
        "X-Dockyard-Timestamp": str(timestamp),
    }
    if hook.secret:
        headers["X-Hub-Signature-256"] = sign(body, hook.secret.reveal())
    return headers


def deliver_all(hooks: Sequence[Webhook], payload: Mapping[str, Any], event: str, *,
                session: requests.Session | None = None,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.time) -> tuple[Delivery, ...]:
    """Deliver `payload` to every hook in parallel; never raises for a failed delivery."""
    if not hooks:
        return ()
    body = encode(payload)
    own_session = session is None
    http = session or requests.Session()
    try:
        with ThreadPoolExecutor(max_workers=min(8, len(hooks))) as pool:
            futures = [pool.submit(_deliver, hook, body, event, http, sleep, clock)
                       for hook in hooks]
            return tuple(f.result() for f in futures)
    finally:
        if own_session:
            http.close()


def _deliver(hook: Webhook, body: bytes, event: str, http: requests.Session,
             sleep: Callable[[float], None], clock: Callable[[], float]) -> Delivery:
    host = urlsplit(hook.url).hostname or "?"
    delivery_id = str(uuid.uuid4())
    status: int | None = None
    error: str | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        headers = headers_for(hook, body, event, delivery_id, int(clock()))
        retry_after = None
        try:
            with http.post(hook.url, data=body, headers=headers, timeout=hook.timeout,
                           allow_redirects=False) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return Delivery(host, "delivered", attempt, hook.required, status)
                error = f"HTTP {status}"
                retry_after = response.headers.get("Retry-After")
                if status < 500 and status != 429:
                    break  # the receiver refused this payload; sending it again won't help
        except requests.RequestException as exc:
            status, error = None, f"{type(exc).__name__}: could not reach {host}"
        if attempt < MAX_ATTEMPTS:
            sleep(_delay(attempt, retry_after))
    return Delivery(host, "failed", attempt, hook.required, status, error)


def _delay(attempt: int, retry_after: str | None) -> float:
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), _MAX_RETRY_AFTER)
        except ValueError:
            pass
    return float(_BACKOFF_SECONDS * 2 ** (attempt - 1))
