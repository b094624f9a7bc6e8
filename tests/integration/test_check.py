"""`dockyard check`: one line per check, the fix when it fails, exit 1 if any failed."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.cli import main
from support.registry import Registry


def check(repo: Path, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    base = {k: v for k, v in os.environ.items() if k in ("HOME", "DOCKER_HOST", "PATH")}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), "check", "--format", "json"], env={**base, **env},
                stdout=stdout, stderr=stderr)
    return code, json.loads(stdout.getvalue()), stderr.getvalue()


def configure(repo: Path, registry: Registry, plain: Registry) -> None:
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/acme/checked, {plain.host}/acme/checked]\n"
        f"registries:\n  {registry.host}:\n"
        "    username: ${REG_USER}\n    password: ${REG_PASSWORD}\n")


def test_everything_in_place(git_repo: Callable[..., Path], auth_registry: Registry,
                             registry: Registry) -> None:
    repo = git_repo(tags=("v1.0.0",))
    configure(repo, auth_registry, registry)
    assert auth_registry.username and auth_registry.password
    code, report, err = check(repo, {"REG_USER": auth_registry.username,
                                     "REG_PASSWORD": auth_registry.password})
    assert code == 0, report
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "engine", "config", "git", f"registry {auth_registry.host}/acme/checked",
        f"registry {registry.host}/acme/checked"]
    assert "tags v1.0.0, latest" in report["checks"][2]["detail"]
    assert auth_registry.password not in json.dumps(report) + err
    assert auth_registry.tags("acme/checked") == []  # nothing was pushed


def test_wrong_password_fails_its_registry_line_with_the_fix(
    git_repo: Callable[..., Path], auth_registry: Registry, registry: Registry,
) -> None:
    repo = git_repo(tags=("v1.0.0",))
    configure(repo, auth_registry, registry)
    code, report, err = check(repo, {"REG_USER": "someone", "REG_PASSWORD": "wrong-pw-3321"})
    assert code == 1
    checks = {c["name"]: c for c in report["checks"]}
    bad = checks[f"registry {auth_registry.host}/acme/checked"]
    assert bad["ok"] is False and bad["fix"]
    assert checks[f"registry {registry.host}/acme/checked"]["ok"] is True
    assert "wrong-pw-3321" not in json.dumps(report) + err


def test_bad_config_and_missing_engine_are_reported_not_raised(
    git_repo: Callable[..., Path], tmp_path: Path,
) -> None:
    repo = git_repo()
    (repo / "dockyard.yml").write_text("imagez: [acme/app]\n")
    code, report, _ = check(repo, {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert code == 1
    engine, config = report["checks"]
    assert engine["ok"] is False and "DOCKER_HOST" in engine["fix"]
    assert config["ok"] is False and "imagez" in config["detail"]


def test_a_build_that_needs_buildx_checks_it_is_there(
    git_repo: Callable[..., Path], registry: Registry, tmp_path: Path,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nRUN --mount=type=cache,target=/c true\n"},
                    tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(f"images: [{registry.host}/acme/kit]\npush: false\n")
    code, report, _ = check(repo, {"PATH": str(tmp_path)})  # no buildx on this PATH
    assert code == 1
    builder = {c["name"]: c for c in report["checks"]}["builder"]
    assert builder["ok"] is False
    assert "needs docker buildx (Dockerfile line 2: RUN --mount)" in builder["detail"]
    assert "apt-get install docker-buildx" in builder["fix"]
    plugins = tmp_path / "home" / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-buildx").write_text("#!/bin/sh\n")
    (plugins / "docker-buildx").chmod(0o755)
    code, report, _ = check(repo, {"PATH": str(tmp_path), "HOME": str(tmp_path / "home")})
    builder = {c["name"]: c for c in report["checks"]}["builder"]
    assert builder["ok"] is True and str(plugins / "docker-buildx") in builder["detail"]
