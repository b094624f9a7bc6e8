"""A fault-injecting HTTP proxy in front of a real registry, on a loopback port.

It forwards every request to the registry and relays the answer, except where a test
scripted a fault: an HTTP status (503, 429 with Retry-After...) or a dropped
connection, for the next N requests matching a method and a path pattern, or for good.
It counts requests and request-body bytes by method and path, so tests can assert what
crossed the wire (no blob upload for an extra tag, one token per scope...).

With `bearer=(username, password)` it also plays a token-authenticated registry, as
Docker Hub or GHCR are: requests without a valid Bearer token get a challenge that
points at the proxy's own /token endpoint, which takes those basic credentials and
grants the actions listed in `grant` (push included unless a test takes it away).
Real registries cannot be made to do any of that on demand.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}
UPSTREAM_TIMEOUT = 60.0


@dataclass
class Fault:
    pattern: re.Pattern[str]
    method: str | None
    status: int | None  # None: drop the connection without answering
    remaining: int | None  # None: forever
    retry_after: str | None = None
    hits: int = 0
    forward: bool = False  # dropped only after the registry did what was asked (`lose`)

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return (self.method is None or self.method == method) and bool(
            self.pattern.search(path))


@dataclass
class Seen:
    method: str
    path: str  # without the query
    query: str
    status: int | None  # None when the connection was dropped
    body_bytes: int
    authorization: str = ""
    user_agent: str = ""
    chunked: bool = False  # the body came with Transfer-Encoding: chunked
    peer: int = 0  # the client's port: which connection the request came on


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> granted scopes


class FaultProxy:
    """`FaultProxy(upstream_host)`; `.host` is what clients use. Call `close()` at the end."""

    def __init__(self, upstream: str, *, bearer: tuple[str, str] | None = None) -> None:
        self.upstream = upstream
        self.bearer = bearer
        self.grant = {"pull", "push"}
        # distribution 2.8 ignores `n` on tags/list; newer registries (and GHCR, Docker
        # Hub) page with `Link: <...>; rel="next"`. A page size here makes the proxy do so.
        self.tag_page_size: int | None = None
        self._state = _State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- scripting

    def fail(self, pattern: str, status: int = 503, *, times: int | None = 1,
             method: str | None = None, retry_after: str | None = None) -> Fault:
        fault = Fault(re.compile(pattern), method, status, times, retry_after)
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    def drop(self, pattern: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        fault = Fault(re.compile(pattern), method, None, times)
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    def lose(self, pattern: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        """Forward the request, then drop the connection instead of relaying the answer:
        the registry did it, and the client cannot know."""
        fault = Fault(re.compile(pattern), method, None, times, forward=True)
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    def heal(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    def expire_tokens(self) -> None:
        with self._state.lock:
            self._state.tokens.clear()

    # -- what crossed the wire

    @property
    def seen(self) -> list[Seen]:
        with self._state.lock:
            return list(self._state.seen)

    def count(self, method: str | None = None, pattern: str = "") -> int:
        regex = re.compile(pattern)
        return sum(1 for s in self.seen
                   if (method is None or s.method == method) and regex.search(s.path))

    def bytes_sent(self, method: str | None = None, pattern: str = "") -> int:
        regex = re.compile(pattern)
        return sum(s.body_bytes for s in self.seen
                   if (method is None or s.method == method) and regex.search(s.path))

    def by_method_and_kind(self) -> Counter[str]:
        """Counts like {"PUT manifests": 3, "POST blobs/uploads": 2, ...}."""
        counts: Counter[str] = Counter()
        for s in self.seen:
            kind = re.sub(r"^/v2/.+?/(manifests|blobs/uploads|blobs|tags)/?.*$", r"\1", s.path)
            counts[f"{s.method} {kind}"] += 1
        return counts

    def reset_counts(self) -> None:
        with self._state.lock:
            self._state.seen.clear()

    # -- used by the handler

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._state.lock:
            for fault in self._state.faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.hits += 1
                    return fault
        return None

    def _record(self, seen: Seen) -> None:
        with self._state.lock:
            self._state.seen.append(seen)

    def _issue_token(self, scopes: list[str]) -> str:
        granted = set()
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = sorted(set(actions.split(",")) & self.grant)
            access.append({"type": kind, "name": name, "actions": allowed})
            granted |= {f"{kind}:{name}:{a}" for a in allowed}
        payload = base64.urlsafe_b64encode(json.dumps({"access": access}).encode())
        token = f"e30.{payload.decode().rstrip('=')}.{secrets.token_hex(8)}"
        with self._state.lock:
            self._state.tokens[token] = granted
        return token

    def _token_allows(self, token: str, name: str, action: str) -> bool:
        with self._state.lock:
            return f"repository:{name}:{action}" in self._state.tokens.get(token, set())


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            split = urlsplit(self.path)
            body = self._body()
            seen = Seen(self.command, split.path, split.query, None, len(body),
                        self.headers.get("Authorization", ""),
                        self.headers.get("User-Agent", ""),
                        self.headers.get("Transfer-Encoding", "").lower() == "chunked",
                        self.client_address[1])
            fault = proxy._take_fault(self.command, split.path)
            if fault is not None and fault.status is None:
                if fault.forward:
                    self._forward(seen, body, relay=False)
                proxy._record(seen)
                self.close_connection = True
                self.connection.shutdown(2)  # drop it: no status line at all
                return
            if fault is not None and fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._answer(seen, fault.status, headers, b'{"errors":[{"code":"UNAVAILABLE"}]}')
                return
            if proxy.bearer is not None:
                if split.path == "/token":
                    self._token(seen, split.query)
                    return
                if not self._authorised(split.path):
                    self._challenge(seen, split.path)
                    return
            self._forward(seen, body)

        def _authorised(self, path: str) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return False
            if path == "/v2/":
                with proxy._state.lock:
                    return header[7:] in proxy._state.tokens
            match = re.match(r"^/v2/(.+?)/(manifests|blobs|tags)/", path)
            if match is None:
                return False
            action = "pull" if self.command in ("GET", "HEAD") else "push"
            return proxy._token_allows(header[7:], match.group(1), action)

        def _challenge(self, seen: Seen, path: str) -> None:
            value = f'Bearer realm="{proxy.url}/token",service="fault-proxy"'
            match = re.match(r"^/v2/(.+?)/(manifests|blobs|tags)/", path)
            if match is not None:
                action = "pull" if self.command in ("GET", "HEAD") else "pull,push"
                value += f',scope="repository:{match.group(1)}:{action}"'
            self._answer(seen, 401, {"WWW-Authenticate": value},
                         b'{"errors":[{"code":"UNAUTHORIZED"}]}')

        def _token(self, seen: Seen, query: str) -> None:
            assert proxy.bearer is not None
            expected = base64.b64encode(":".join(proxy.bearer).encode()).decode()
            if self.headers.get("Authorization", "") != f"Basic {expected}":
                self._answer(seen, 401, {}, b'{"details":"incorrect username or password"}')
                return
            token = proxy._issue_token(parse_qs(query).get("scope", []))
            self._answer(seen, 200, {"Content-Type": "application/json"},
                         json.dumps({"token": token, "expires_in": 300}).encode())

        def _forward(self, seen: Seen, body: bytes, *, relay: bool = True) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=UPSTREAM_TIMEOUT)
            try:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                           and not (proxy.bearer and k.lower() == "authorization")}
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                content = response.read()
                relayed = {k: v for k, v in response.getheaders()
                           if k.lower() not in HOP_BY_HOP}
            finally:
                upstream.close()
            if not relay:
                return
            if proxy.tag_page_size and self.command == "GET" \
                    and seen.path.endswith("/tags/list") and response.status == 200:
                content = self._page(seen, relayed, content)
            self._answer(seen, response.status, relayed, content)

        def _page(self, seen: Seen, headers: dict[str, str], content: bytes) -> bytes:
            assert proxy.tag_page_size is not None
            data = json.loads(content)
            tags = sorted(data.get("tags") or [])
            last = parse_qs(seen.query).get("last", [""])[0]
            rest = [t for t in tags if t > last]
            page, more = rest[:proxy.tag_page_size], rest[proxy.tag_page_size:]
            if more:
                headers["Link"] = (f'<{seen.path}?n={proxy.tag_page_size}&last={page[-1]}>; '
                                   'rel="next"')
            return json.dumps({"name": data.get("name"), "tags": page}).encode()

        def _answer(self, seen: Seen, status: int, headers: dict[str, str],
                    content: bytes) -> None:
            seen.status = status
            proxy._record(seen)
            self.send_response_only(status)
            has_length = False
            for key, value in headers.items():
                if key.lower() == "content-length":
                    has_length = True
                    if self.command != "HEAD":
                        continue
                self.send_header(key, value)
            if self.command != "HEAD" or not has_length:
                self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    return Handler
