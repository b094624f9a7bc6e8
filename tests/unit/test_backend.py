"""Which builder builds (build.backend), and why: pure logic, and `plan` saying so."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.backend import (
    BUILDX,
    DOCKER_PY,
    choose,
    dockerfile_reasons,
    find_buildx,
    host_platform,
    require,
)
from dockyard.buildkit import BuildKit
from dockyard.cli import main
from dockyard.errors import InputError
from dockyard.secrets import Secret

PLAIN = "FROM scratch\nCOPY app /app\n"
AMD64 = "linux/amd64"


def pick(kit: BuildKit, dockerfile: str = PLAIN, *, found: bool = True) -> tuple[str, list[str]]:
    choice = choose(kit, dockerfile, host=AMD64, buildx_found=found)
    return choice.backend, list(choice.reasons)


def test_auto_keeps_docker_py_when_nothing_needs_buildkit() -> None:
    assert pick(BuildKit()) == (DOCKER_PY, [])
    assert pick(BuildKit(platforms=(AMD64,))) == (DOCKER_PY, [])  # the machine's own
    assert pick(BuildKit(provenance="false")) == (DOCKER_PY, [])
    # docker-py needs no buildx: a machine without one builds as before
    assert pick(BuildKit(), found=False) == (DOCKER_PY, [])


@pytest.mark.parametrize(("kit", "reason"), [
    (BuildKit(secrets={"npm": Secret("x" * 8)}), "build.secrets"),
    (BuildKit(secret_files={"npm": Path("/f")}), "build.secret_files"),
    (BuildKit(ssh=("default",)), "build.ssh"),
    (BuildKit(platforms=(AMD64, "linux/arm64")), "build.platforms (2 platforms)"),
    (BuildKit(platforms=("linux/arm64",)), "build.platforms (linux/arm64 on a linux/amd64 "
                                           "machine)"),
    (BuildKit(cache_from=("type=gha",)), "build.cache_from"),
    (BuildKit(cache_to=("type=inline",)), "build.cache_to"),
    (BuildKit(provenance="mode=max"), "build.provenance"),
    (BuildKit(sbom="true"), "build.sbom"),
    (BuildKit(builder="remote-arm"), "build.builder"),
])
def test_auto_takes_buildx_for_what_only_buildkit_does(kit: BuildKit, reason: str) -> None:
    assert pick(kit) == (BUILDX, [reason])


def test_the_dockerfile_asks_for_buildkit_by_its_mounts_and_syntax_line() -> None:
    text = "# syntax=docker/dockerfile:1.7\n# escape=\\\nFROM scratch\n" \
           "RUN --mount=type=cache,target=/root/.cache pip install .\n"
    assert dockerfile_reasons(text) == ["Dockerfile line 1: a `# syntax=` directive",
                                        "Dockerfile line 4: RUN --mount"]
    # a directive after the first instruction is a comment; a mount in a comment is none
    assert dockerfile_reasons("FROM scratch\n# syntax=x\n# RUN --mount=type=cache\n") == []
    assert dockerfile_reasons("FROM a\nrun  --network=host --mount=type=ssh git pull\n") == \
        ["Dockerfile line 2: RUN --mount"]
    assert pick(BuildKit(), text)[0] == BUILDX


def test_an_explicit_backend_wins_and_says_so() -> None:
    choice = choose(BuildKit(backend=BUILDX), PLAIN, host=AMD64, buildx_found=True)
    assert (choice.backend, choice.explain()) == (BUILDX, "buildx (build.backend: buildx)")
    choice = choose(BuildKit(backend=DOCKER_PY), PLAIN, host=AMD64, buildx_found=False)
    assert choice.backend == DOCKER_PY
    require(choice)  # nothing needs BuildKit: fine without buildx
    # and the record says what is there, not what is needed
    assert choice.available and choice.to_dict()["buildx_found"] is False
    auto = choose(BuildKit(), PLAIN, host=AMD64, buildx_found=False)
    assert auto.backend == DOCKER_PY and auto.to_dict()["buildx_found"] is False


def test_buildx_needed_but_missing_is_bad_input_naming_what_asked() -> None:
    choice = choose(BuildKit(cache_to=("type=inline",)), "FROM a\nRUN --mount=type=cache x\n",
                    host=AMD64, buildx_found=False)
    with pytest.raises(InputError) as caught:
        require(choice)
    assert caught.value.exit_code == 2
    assert "needs docker buildx (build.cache_to; Dockerfile line 2: RUN --mount)" in str(
        caught.value)
    assert "apt-get install docker-buildx" in str(caught.value)


def test_docker_py_forced_with_a_buildkit_key_is_refused_but_a_syntax_line_is_not() -> None:
    forced = BuildKit(backend=DOCKER_PY, secrets={"t": Secret("y" * 8)})
    with pytest.raises(InputError, match=r"build\.backend is docker-py, but build\.secrets"):
        require(choose(forced, PLAIN, host=AMD64, buildx_found=True))
    require(choose(BuildKit(backend=DOCKER_PY), "# syntax=docker/dockerfile:1\nFROM a\n",
                   host=AMD64, buildx_found=True))


def test_host_platform_names_machines_as_buildx_does() -> None:
    assert host_platform("x86_64") == "linux/amd64"
    assert host_platform("aarch64") == "linux/arm64"


def test_buildx_is_found_on_path_or_among_the_cli_plugins(tmp_path: Path) -> None:
    def executable(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    plugin = executable(tmp_path / ".docker" / "cli-plugins" / "docker-buildx")
    assert find_buildx({"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)}) == plugin
    standalone = executable(tmp_path / "bin" / "docker-buildx")
    assert find_buildx({"PATH": os.pathsep.join([str(tmp_path / "bin")]),
                        "HOME": str(tmp_path)}) == standalone


def test_plan_says_which_backend_and_why(git_repo: Callable[..., Path], tmp_path: Path) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nRUN --mount=type=cache,target=/c true\n"},
                    tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(
        "images: [127.0.0.1:5000/acme/app]\n"
        "build:\n  secrets: {npm: '${NPM_TOKEN}'}\n  platforms: linux/amd64,linux/arm64\n")
    env = {"NPM_TOKEN": "npm_secret_value_1", "PATH": str(tmp_path), "HOME": str(tmp_path)}
    stdout, stderr = io.StringIO(), io.StringIO()
    assert main(["-C", str(repo), "plan", "--format", "json"], env=env, stdout=stdout,
                stderr=stderr) == 0, stderr.getvalue()
    backend = json.loads(stdout.getvalue())["backend"]
    assert backend == {
        "name": "buildx", "configured": "auto", "buildx_found": False,
        "why": "buildx (BuildKit is needed for build.secrets; build.platforms (2 platforms); "
               "Dockerfile line 2: RUN --mount)",
        "reasons": ["build.secrets", "build.platforms (2 platforms)",
                    "Dockerfile line 2: RUN --mount"]}
    stdout = io.StringIO()
    assert main(["-C", str(repo), "plan"], env=env, stdout=stdout, stderr=stderr) == 0
    assert ("backend: buildx (BuildKit is needed for build.secrets; build.platforms "
            "(2 platforms); Dockerfile line 2: RUN --mount) -- docker buildx is not installed "
            "here") in stdout.getvalue()
    assert "npm_secret_value_1" not in stdout.getvalue() + stderr.getvalue()
