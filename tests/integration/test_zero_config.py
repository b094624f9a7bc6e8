"""Zero-config: a repo with a Dockerfile and no dockyard.yml builds locally, pushes nothing."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import docker

from dockyard.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "hello"


def test_zero_config_run_builds_and_tags_locally(
    git_repo: Callable[..., Path], docker_engine: docker.DockerClient, tmp_path: Path,
) -> None:
    repo = git_repo({"Dockerfile": (EXAMPLE / "Dockerfile").read_text(),
                     "hello.txt": (EXAMPLE / "hello.txt").read_text()}, branch="main")
    named = tmp_path / "Zero Config_App"
    shutil.move(repo, named)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(named), "run", "--format", "json"], env={}, stdout=stdout,
                stderr=stderr)
    assert code == 0, stderr.getvalue()
    result = json.loads(stdout.getvalue())
    assert result["tags"][0] == "zero-config-app:main"
    (entry,) = result["registries"]
    assert (entry["name"], entry["status"]) == ("zero-config-app", "not pushed")
    assert entry["pushed"] == []
    assert [s["tag"] for s in entry["skipped"]] == [t.split(":")[1] for t in result["tags"]]
    image = docker_engine.images.get("zero-config-app:main")
    assert image.id == result["image_id"]
    assert "building" in stderr.getvalue() and "To push, write a dockyard.yml" in stderr.getvalue()
