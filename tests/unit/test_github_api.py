"""Repository labels from the GitHub API, against a loopback HTTP server standing in for
it (the repository object in metadata-action's __tests__/fixtures/repo.json shape)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.ci.github_api import fetch_repository, with_repository
from dockyard.cli import main
from dockyard.context import Context, resolve_context
from dockyard.labels import oci_labels
from support.hostile import HostileServer, trickle

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
REPO = {"id": 1296269, "name": "Hello-World", "full_name": "octocat/Hello-World",
        "html_url": "https://github.com/octocat/Hello-World",
        "clone_url": "https://github.com/octocat/Hello-World.git",
        "description": "This your first repo!", "default_branch": "master",
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT"}}


class StandIn:
    """GET /api/v3/repos/octocat/Hello-World answers REPO with the token; else 404/401."""

    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        self.requests: list[tuple[str, str | None]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                stand_in.requests.append((self.path, auth))
                if auth != f"Bearer {TOKEN}":
                    code, payload = 401, b'{"message": "Bad credentials"}'
                elif self.path != "/api/v3/repos/octocat/Hello-World":
                    code, payload = 404, b'{"message": "Not Found"}'
                else:
                    code, payload = status, body if body is not None else json.dumps(REPO).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self._server.server_address[1]}/api/v3"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def api() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


def env_for(api: str, **extra: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octocat/Hello-World",
            "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/master",
            "GITHUB_SHA": "860c1904a1ce19322e91ac35af1ab07466440c37",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": api,
            "SOURCE_DATE_EPOCH": "1578616200", **extra}


def context(env: dict[str, str], tmp_path: Path) -> Context:
    return with_repository(resolve_context(env, tmp_path), env)


def test_labels_from_the_api_as_metadata_action_writes_them(api: StandIn,
                                                             tmp_path: Path) -> None:
    found = context(env_for(api.api, DOCKYARD_GITHUB_TOKEN=TOKEN), tmp_path)

    labels = oci_labels(found, "master")
    assert labels["org.opencontainers.image.description"] == "This your first repo!"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.url"] == "https://github.com/octocat/Hello-World"
    assert labels["org.opencontainers.image.source"] == "https://github.com/octocat/Hello-World"
    assert api.requests == [("/api/v3/repos/octocat/Hello-World", f"Bearer {TOKEN}")]


def test_no_token_no_call(api: StandIn, tmp_path: Path) -> None:
    found = context(env_for(api.api, DOCKYARD_GITHUB_TOKEN=""), tmp_path)
    assert found.description is None and found.licenses is None
    assert api.requests == []


def test_outside_github_no_call(api: StandIn, tmp_path: Path) -> None:
    env = {"DOCKYARD_GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "octocat/Hello-World",
           "GITHUB_API_URL": api.api}
    assert context(env, tmp_path).description is None
    assert api.requests == []


@pytest.mark.parametrize(("status", "body", "says"), [
    (404, None, "answered 404"),
    (500, None, "answered 500"),
    (200, b"<html>", "sent no repository object"),
    (200, b"[1, 2]", "sent no repository object"),
    (200, b"x" * (1024 * 1024 + 10), "sent more than"),
], ids=["404", "500", "html", "list", "huge"])
def test_a_failure_is_a_note_and_empty_labels(status: int, body: bytes | None, says: str,
                                              tmp_path: Path) -> None:
    server = StandIn(status, body)
    try:
        found = context(env_for(server.api, DOCKYARD_GITHUB_TOKEN=TOKEN), tmp_path)
    finally:
        server.close()
    [note] = [n for n in found.notes if "GitHub API" in n]
    assert says in note
    assert TOKEN not in note
    assert oci_labels(found, "1")["org.opencontainers.image.description"] == ""


def test_a_wrong_token_is_a_note_without_the_token(api: StandIn, tmp_path: Path) -> None:
    found = context(env_for(api.api, DOCKYARD_GITHUB_TOKEN="ghs_wrongwrongwrong1234"), tmp_path)
    [note] = [n for n in found.notes if "GitHub API" in n]
    assert "answered 401" in note
    assert "ghs_wrongwrongwrong1234" not in note


def test_nothing_listening_is_a_note(tmp_path: Path) -> None:
    server = StandIn()
    server.close()  # the port now refuses connections
    found = context(env_for(server.api, DOCKYARD_GITHUB_TOKEN=TOKEN), tmp_path)
    assert any("could not reach" in n for n in found.notes)


def test_a_stalling_api_ends_at_the_deadline() -> None:
    server = HostileServer({"/repos/": trickle(every=0.5)})
    try:
        found = fetch_repository(server.url, "octocat/Hello-World", TOKEN, timeout=1.0)
    finally:
        server.close()
    assert found == f"no answer from {server.url} within 1s"


def test_plan_uses_the_api_and_never_prints_the_token(api: StandIn, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = env_for(api.api, DOCKYARD_GITHUB_TOKEN=TOKEN, DOCKYARD_IMAGES="user/app")
    stdout, stderr = io.StringIO(), io.StringIO()

    assert main(["-C", str(tmp_path), "plan", "--format", "json"], env=env, stdout=stdout,
                stderr=stderr) == 0

    plan = json.loads(stdout.getvalue())
    assert plan["labels"]["org.opencontainers.image.licenses"] == "MIT"
    assert "manifest:org.opencontainers.image.description=This your first repo!" in \
        plan["annotations"]
    shown = [line for line in stderr.getvalue().splitlines()
             if not line.startswith("::add-mask::")]  # the runner never shows a mask command
    assert f"::add-mask::{TOKEN}" in stderr.getvalue()
    assert TOKEN not in stdout.getvalue() + "\n".join(shown)
