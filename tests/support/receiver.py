"""A real HTTP server on loopback that records webhook deliveries and answers as scripted.

Retries, failures and signatures are tested against real sockets: the receiver can answer
a list of status codes in turn, or be killed so that its port refuses connections.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # as sent; use header() for a case-insensitive look-up
    body: bytes  # exactly the bytes received, which is what a signature covers

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class WebhookReceiver:
    """Records every request; answers the scripted statuses in turn, then 200."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._statuses: deque[int] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}/hook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._alive = True

    def script(self, statuses: Iterable[int]) -> None:
        """Answer the next requests with these statuses, in order (e.g. [500, 500, 200])."""
        with self._lock:
            self._statuses = deque(statuses)

    def kill(self) -> None:
        """Stop serving and close the port: deliveries to `url` now get connection refused."""
        if self._alive:
            self._alive = False
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return self._statuses.popleft() if self._statuses else 200


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    """Check `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of body>` the way receivers do."""
    scheme, _, signature = header.partition("=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return scheme == "sha256" and hmac.compare_digest(signature.encode(), expected.encode())


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers=dict(self.headers.items()),
                body=self._read_body(),
            )
            status = receiver._record(request)
            body = b'{"ok": true}' if status < 400 else b'{"ok": false}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean; `requests` holds everything worth seeing."""

    return Handler
