"""Hostile HTTP servers on loopback: endless, trickling, huge and malformed answers.

`HostileServer` plays a tiny registry (`/v2/`, one repository holding the tag `1.0.0`,
its manifest and image config) or a webhook receiver (any POST answered 200), except
where a test scripted a fault for a path pattern. Real registries and receivers cannot be
made to misbehave like this on demand; these faults are what a broken proxy, a hostile
host or a wedged server sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TAG = "1.0.0"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Labels": {"org.opencontainers.image.revision": "0" * 40}}}
                    ).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": CONFIG_DIGEST, "size": len(CONFIG)},
    "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
_BLOCK = b"x" * (64 * 1024)
TOKEN = "hostile-token"  # what `token_for` hands out and `bearer` takes

Fault = Callable[["_Handler"], None]


def endless(handler: _Handler) -> None:
    """200 without a length, then bytes for as long as anyone reads."""
    handler.head(200, {"Content-Type": "application/json"})
    while handler.server_alive():
        handler.wfile.write(_BLOCK)


def trickle(every: float = 2.0) -> Fault:
    """200, then the body a byte every `every` seconds: no socket read ever waits long."""
    def fault(handler: _Handler) -> None:
        handler.head(200, {"Content-Type": "application/json", "Content-Length": "100000"})
        handler.drip(b'{"tags": [' + b" " * 99990, every)
    return fault


def trickle_headers(every: float = 2.0) -> Fault:
    """The status line and then headers a byte every `every` seconds, never ending."""
    def fault(handler: _Handler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        handler.drip(b"X-Padding: " + b"a" * 10_000, every)
    return fault


def huge(status: int = 200) -> Fault:
    """A Content-Length of a terabyte, then bytes as fast as they are read."""
    def fault(handler: _Handler) -> None:
        handler.head(status, {"Content-Type": "application/json",
                              "Content-Length": str(10**12)})
        while handler.server_alive() and handler.command != "HEAD":
            handler.wfile.write(_BLOCK)
    return fault


def malformed(body: bytes = b'{"tags": ["1.0.0", ') -> Fault:
    """200 with a body that is not the JSON it claims to be."""
    def fault(handler: _Handler) -> None:
        handler.answer(200, body, "application/json")
    return fault


def silent(handler: _Handler) -> None:
    """Headers promising a body, then nothing at all until the client gives up."""
    handler.head(200, {"Content-Type": "application/json", "Content-Length": "1000"})
    handler.wfile.flush()
    while handler.server_alive() and not handler.gone():
        time.sleep(0.05)


def endless_pages(handler: _Handler) -> None:
    """A page of no tags, whose `Link` points to one more page, for ever."""
    page = int(handler.path.rsplit("last=", 1)[-1]) if "last=" in handler.path else 0
    path = handler.path.split("?", 1)[0]
    handler.answer(200, b'{"tags": []}', "application/json",
                   {"Link": f'<{path}?n=100&last={page + 1}>; rel="next"'})


def mute(handler: _Handler) -> None:
    """Take the request, then never answer a byte until the client gives up."""
    while handler.server_alive() and not handler.gone():
        time.sleep(0.05)


def stall_after(prefix: int) -> Fault:
    """A 200 with the right length, whose body stops after `prefix` bytes."""
    def fault(handler: _Handler) -> None:
        body = handler.normal_body() or b"{}"
        handler.head(200, {"Content-Type": "application/octet-stream",
                           "Content-Length": str(len(body))})
        handler.wfile.write(body[:prefix])
        handler.wfile.flush()
        while handler.server_alive() and not handler.gone():
            time.sleep(0.05)
    return fault


def unavailable(retry_after: str) -> Fault:
    """503 with the Retry-After given, however odd ("nan", "inf", "-1", a bad date)."""
    def fault(handler: _Handler) -> None:
        handler.answer(503, b"", "text/plain", {"Retry-After": retry_after})
    return fault


def bearer(realm: str = "/token", token: str = TOKEN) -> Fault:
    """A registry behind a token service: 401 with a Bearer challenge naming `realm` (a
    path on this server, or any text as it is), unless the request carries `token`."""
    def fault(handler: _Handler) -> None:
        if handler.headers.get("Authorization") == f"Bearer {token}":
            handler.registry()
            return
        url = handler.hostile.url + realm if realm.startswith("/") else realm
        handler.answer(401, b'{"errors": [{"code": "UNAUTHORIZED"}]}', "application/json",
                       {"WWW-Authenticate": f'Bearer realm="{url}",service="hostile"'})
    return fault


def token_for(username: str, password: str, token: str = TOKEN) -> Fault:
    """A token service that hands out `token` to Basic credentials sent as the engine
    sends them (base64 of `username:password` in UTF-8), and refuses anything else."""
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()

    def fault(handler: _Handler) -> None:
        if handler.headers.get("Authorization") == f"Basic {pair}":
            handler.answer(200, json.dumps({"token": token}).encode(), "application/json")
        else:
            handler.answer(401, b"{}", "application/json")
    return fault


def redirect(location: str) -> Fault:
    """302 to `location`, however malformed (or to itself, for ever)."""
    def fault(handler: _Handler) -> None:
        handler.answer(302, b"", "text/plain", {"Location": location})
    return fault


class HostileServer:
    """`HostileServer({path regex: fault})`; `.host`, `.url`; `close()` at the end."""

    def __init__(self, faults: Mapping[str, Fault] | None = None) -> None:
        self.faults = {re.compile(pattern): fault for pattern, fault in (faults or {}).items()}
        self.requests: list[str] = []  # "METHOD /path" of every request, as they came
        self.closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.closing.set()  # ends every fault still writing or waiting
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fault_for(self, path: str) -> Fault | None:
        return next((f for pattern, f in self.faults.items() if pattern.search(path)), None)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-answer is what these servers are for: no traceback."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall between
    hostile: HostileServer

    def log_message(self, *_: object) -> None:
        pass

    def server_alive(self) -> bool:
        return not self.hostile.closing.is_set()

    def gone(self) -> bool:
        """Whether the client closed its end (a read would see the end of the stream)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)

    def head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def answer(self, status: int, body: bytes, content_type: str,
               headers: Mapping[str, str] | None = None) -> None:
        self.head(status, {"Content-Type": content_type, "Content-Length": str(len(body)),
                           **(headers or {})})
        if self.command != "HEAD":
            self.wfile.write(body)

    def drip(self, data: bytes, every: float) -> None:
        for byte in data:
            if not self.server_alive():
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            self.hostile.closing.wait(every)

    def normal_body(self) -> bytes | None:
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return b"{}"
        if path.endswith("/tags/list"):
            name = path[len("/v2/"):-len("/tags/list")]
            return json.dumps({"name": name, "tags": [TAG]}).encode()
        if "/manifests/" in path:
            return MANIFEST
        if path.endswith(f"/blobs/{CONFIG_DIGEST}"):
            return CONFIG
        return None

    def _handle(self) -> None:
        self.hostile.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        fault = self.hostile.fault_for(self.path)
        try:
            if fault is not None:
                fault(self)
            elif self.command == "POST" and not self.path.startswith("/v2/"):
                self.answer(200, b'{"ok": true}', "application/json")  # a webhook receiver
            else:
                self.registry()
        except OSError:  # the client hung up: what a hostile server hopes for
            self.close_connection = True

    def registry(self) -> None:
        """Answer as the healthy registry would."""
        if self.command == "POST" and self.path.endswith("/blobs/uploads/"):
            self.answer(202, b"", "text/plain", {"Location": self.path + "session-1"})
            return
        body = self.normal_body()
        if body is None:
            self.answer(404, b'{"errors": [{"code": "NOT_FOUND"}]}', "application/json")
            return
        headers = {"Docker-Distribution-Api-Version": "registry/2.0"}
        content_type = "application/json"
        if "/manifests/" in self.path:
            content_type = "application/vnd.oci.image.manifest.v1+json"
            headers["Docker-Content-Digest"] = MANIFEST_DIGEST
        self.answer(200, body, content_type, headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _handler_for(server: HostileServer) -> type[_Handler]:
    return type("Handler", (_Handler,), {"hostile": server})
