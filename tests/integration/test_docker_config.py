"""Credentials: per-call from dockyard.yml, else the user's Docker config; never written."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

from dockyard.cli import main
from support.registry import Registry


def run(repo: Path, env: dict[str, str]) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main(["-C", str(repo), "run", "--format", "json"], env=env, stdout=io.StringIO(),
                stderr=stderr)
    return code, stderr.getvalue()


def test_host_without_an_entry_uses_the_docker_config(
    git_repo: Callable[..., Path], base_image: str, auth_registry: Registry,
) -> None:
    assert auth_registry.username and auth_registry.password
    docker_dir = Path(os.environ["HOME"]) / ".docker"
    docker_dir.mkdir()
    token = f"{auth_registry.username}:{auth_registry.password}".encode()
    (docker_dir / "config.json").write_text(json.dumps(
        {"auths": {auth_registry.host: {"auth": base64.b64encode(token).decode()}}}))
    repo = git_repo(tags=("v3.0.0",))
    (repo / "dockyard.yml").write_text(f"images: [{auth_registry.host}/acme/dockercfg]\n")
    code, err = run(repo, {"HOME": os.environ["HOME"]})
    assert code == 0, err
    assert set(auth_registry.tags("acme/dockercfg")) == {"v3.0.0", "latest"}


def test_configured_credentials_are_never_written_to_disk(
    git_repo: Callable[..., Path], base_image: str, auth_registry: Registry,
) -> None:
    assert auth_registry.username and auth_registry.password
    home = Path(os.environ["HOME"])
    repo = git_repo(tags=("v3.1.0",))
    (repo / "dockyard.yml").write_text(
        f"images: [{auth_registry.host}/acme/nodisk]\n"
        f"registries:\n  {auth_registry.host}:\n"
        "    username: ${REG_USER}\n    password: ${REG_PASSWORD}\n")
    code, err = run(repo, {"HOME": str(home), "REG_USER": auth_registry.username,
                           "REG_PASSWORD": auth_registry.password})
    assert code == 0, err
    assert auth_registry.tags("acme/nodisk") == ["latest", "v3.1.0"]
    for root in (home, repo):
        for path in root.rglob("*"):
            if path.is_file() and ".git" not in path.parts:
                assert auth_registry.password.encode() not in path.read_bytes(), path
