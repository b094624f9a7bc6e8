"""The HTTP side of a loopback stand-in for a hosted registry's own API: a real server
in a thread that hands each request to `answer` and records it; scripted statuses
(with Retry-After: 0) go first, as a rate limit would. Also `prune_hosted`: prune one
configured image whose registry API is a loopback registry and whose own API is the
stand-in."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dockyard.prune import Apis, Facts, prune
from dockyard.registry import RegistryClient
from dockyard.settings import Credentials, Overrides, load_settings

from .images import push_image
from .registry import Registry

Answer = tuple[int, dict[str, str], bytes]


class StandIn:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry  # where the images are, as the hosted registry's own
        self.requests: list[tuple[str, str]] = []
        self.statuses: deque[int] = deque()
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

    def receive(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        with self._lock:
            self.requests.append((method, path.split("?", 1)[0]))
            if self.statuses:
                return self.statuses.popleft(), {"Retry-After": "0"}, b"{}"
        return self.answer(method, path, body, auth)

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        raise NotImplementedError


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, answer = standin.receive(self.command, self.path, body,
                                                      self.headers.get("Authorization"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_DELETE = _serve

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
