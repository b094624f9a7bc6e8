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
    code, out, err = check_text(repo, env, "--format", "json")
    return code, json.loads(out), err


def check_text(repo: Path, env: dict[str, str], *options: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k in ("HOME", "DOCKER_HOST", "PATH")}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), "check", *options], env={**base, **env},
                stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


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


BAKED_PASSWORD = "baked-Reg+pw/0451"  # + and / change under the encodings


def test_a_registered_secret_in_a_build_arg_or_label_fails_by_key_before_any_build(
    git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo(tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/acme/baked]\npush: false\n"
        f"registries:\n  {registry.host}:\n    username: ci\n    password: ${{REG_PASSWORD}}\n"
        "build:\n  args:\n"
        "    NPM_TOKEN: ${REG_PASSWORD}\n"  # a secret's name and value: one failing line
        "    NPMRC: //npm.example/:_authToken=${REG_PASSWORD}\n"  # inside a longer value
        "    GH_PAT: not-registered\n"  # a secret's name only: a warning
        "    MODE: release\n"
        "labels:\n  org.example.pw: ${REG_PASSWORD}\n")
    env = {"REG_PASSWORD": BAKED_PASSWORD}
    code, report, err = check(repo, env)
    assert code == 1 and report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    for key in ("build.args.NPM_TOKEN", "build.args.NPMRC", "labels.org.example.pw"):
        assert checks[key]["ok"] is False, key
        assert "registered secret" in checks[key]["detail"]
        assert "build.secrets" in checks[key]["fix"]
    assert "build.secrets" in checks["build.args.NPMRC"]["detail"]
    pat = checks["build.args.GH_PAT"]
    assert pat["ok"] is True and pat["warning"] is True and "build.secrets" in pat["detail"]
    assert "build.args.MODE" not in checks
    assert [c["name"] for c in report["checks"]].count("build.args.NPM_TOKEN") == 1
    assert checks["config"]["ok"] is True and checks["config"]["warning"] is False

    code, text, text_err = check_text(repo, env)
    assert code == 1
    assert "FAIL build.args.NPM_TOKEN: its value holds a registered secret" in text
    assert "FAIL labels.org.example.pw: " in text
    assert "warn build.args.GH_PAT: the name looks like a secret's" in text
    assert text.rstrip().endswith("3 check(s) failed, 1 warning(s)")
    assert BAKED_PASSWORD not in json.dumps(report) + err + text + text_err
    assert registry.tags("acme/baked") == []  # nothing was built for, nor pushed


def test_a_secret_looking_build_arg_name_alone_warns_and_passes(
    git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo(tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/acme/named]\npush: false\n"
        "build:\n  args:\n    DB_PASSWORD: ${DB_PASSWORD:-}\n    KEYRING_VERSION: '2'\n")
    code, report, _ = check(repo, {})
    assert code == 0 and report["ok"] is True
    warnings = [c["name"] for c in report["checks"] if c["warning"]]
    assert warnings == ["build.args.DB_PASSWORD"]
    code, text, _ = check_text(repo, {})
    assert code == 0
    assert "warn build.args.DB_PASSWORD: " in text
    assert text.rstrip().endswith("all checks passed, 1 warning(s)")
