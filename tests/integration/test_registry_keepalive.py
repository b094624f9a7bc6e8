"""The registry client keeps its connections: HEADs (prune reads every tag with one,
publish reads each tag before writing it) reuse one connection, as GETs do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from dockyard.registry import RegistryClient

DIGEST = "sha256:" + "ab" * 32


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as every registry speaks
    ports: ClassVar[set[int]] = set()

    def do_HEAD(self) -> None:
        _KeepAlive.ports.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Docker-Content-Digest", DIGEST)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", "321")  # of the body a GET would have
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_heads_reuse_one_connection(server: str) -> None:
    _KeepAlive.ports.clear()
    with RegistryClient(server) as client:
        for tag in ("a", "b", "c", "d", "e"):
            found = client.head_manifest("app", tag)
            assert found is not None and found.digest == DIGEST and found.size == 321
    assert len(_KeepAlive.ports) == 1
