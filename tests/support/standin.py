"""The HTTP side of a loopback stand-in for a hosted registry's own API: a real server
in a thread that hands each request to `answer` and records it; scripted statuses
(with Retry-After: 0) go first, as a rate limit would. A stand-in for an API served
beside the registry API on the same host (Quay's, ACR's) forwards what it does not
answer itself (`answer` gives None) to the registry. Also `prune_hosted`: prune one
configured image whose registry API is a loopback registry and whose own API is the
stand-in, and `resolve`: a hosted registry's name pointed at a loopback one for the CLI,
as /etc/hosts would."""

from __future__ import annotations

import http.client
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard.prune import Apis, Facts, prune
from dockyard.publish.connect import Connect, Target, connector
from dockyard.registry import RegistryClient
from dockyard.settings import Credentials, Overrides, load_settings

from .images import push_image
from .registry import Registry

Answer = tuple[int, dict[str, str], bytes]
_UPSTREAM_TIMEOUT = 30
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "host"}


class StandIn:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry  # where the images are, as the hosted registry's own
        self.requests: list[tuple[str, str]] = []
        self.statuses: deque[int] = deque()
        # methods whose next request is carried out, then its answer dropped unsent
        self.lost: deque[str] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, digest: str) -> None:
        """The registry holds a new image `digest` (a package API lists it)."""

    def build(self, name: str, version: str, *tags: str) -> str:
        """A build of `version` pushed to the registry under `tags`; its digest."""
        labels = {"org.opencontainers.image.version": version,
                  "org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
        digest = push_image(self.registry, name, "@", labels=labels)
        for tag in tags:
            push_image(self.registry, name, tag, labels=labels)
        self.add(digest)
        return digest

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def receive(self, method: str, path: str, body: bytes,
                headers: Mapping[str, str]) -> Answer:
        forwarded = self.forwards(method, path)
        if not forwarded:
            with self._lock:
                self.requests.append(self.recorded(method, path, headers))
                if self.statuses:
                    return self.statuses.popleft(), {"Retry-After": "0"}, b"{}"
        found = None if forwarded else self.answer_request(method, path, body, headers)
        return found if found is not None else self._forward(method, path, body, headers)

    def forwards(self, method: str, path: str) -> bool:
        """Whether the request goes to the registry as it is (a stand-in beside it)."""
        return False

    def recorded(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[str, str]:
        """What `requests` records of a request answered here."""
        return method, path.split("?", 1)[0]

    def answer_request(self, method: str, path: str, body: bytes,
                       headers: Mapping[str, str]) -> Answer | None:
        return self.answer(method, path, body, headers.get("Authorization"))

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        raise NotImplementedError

    def _forward(self, method: str, path: str, body: bytes,
                 headers: Mapping[str, str]) -> Answer:
        upstream = http.client.HTTPConnection(self.registry.host, timeout=_UPSTREAM_TIMEOUT)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(method, path, body=body or None, headers=sent)
            response = upstream.getresponse()
            content = response.read()
            relayed = {k: v for k, v in response.getheaders()
                       if k.lower() not in _HOP_BY_HOP}
        finally:
            upstream.close()
        return response.status, relayed, content


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, answer = standin.receive(self.command, self.path, body,
                                                      dict(self.headers.items()))
            # done; the client never hears of it (a request refused is not lost: a
            # challenged DELETE is sent again with a token, and that one is)
            if self.command in standin.lost and status < 400:
                standin.lost.remove(self.command)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length" or self.command == "HEAD":
                    self.send_header(key, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def prune_hosted(standin: StandIn, config: str, host: str, tmp_path: Path, *,
                 apply: bool = True, open_prs: frozenset[int] = frozenset()) -> dict[str, Any]:
    """The record of one configured image on `host`, pruned (`apply`) with the listing
    from the stand-in's registry and deletes through the stand-in."""
    path = tmp_path / "dockyard.yml"
    path.write_text(config)
    settings = load_settings(path, {}, Overrides(building=False))

    def connect(asked: str, credentials: Credentials | None) -> RegistryClient:
        assert asked == host  # the listing goes to the registry API, on loopback here
        return RegistryClient(standin.registry.host)

    result = prune(settings, Facts(datetime.now(timezone.utc), open_prs=open_prs),
                   apply=apply, connect=connect, sleep=lambda _: None,
                   apis=Apis(urls={host: standin.url}))
    (repo,) = result.to_dict()["repositories"]
    assert isinstance(repo, dict)
    return repo


def resolve(monkeypatch: pytest.MonkeyPatch, names: Mapping[str, str]) -> None:
    """`dockyard prune` run from the CLI reaches each hosted registry of `names` at the
    loopback host it maps to, as if DNS said so: the registry client is a real one,
    with the credentials prune found for the hosted name."""
    def loopback(settings: Target, sleep: Callable[[float], None] = lambda _: None) -> Connect:
        real = connector(settings, sleep)

        def connect(host: str, credentials: Credentials | None) -> RegistryClient:
            return real(names.get(host, host), credentials)

        return connect

    monkeypatch.setattr("dockyard.prune.run.connector", loopback)
