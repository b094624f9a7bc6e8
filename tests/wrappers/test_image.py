"""Dockyard's own image (the top-level Dockerfile), built on the classic engine from an
offline Debian base (BASE build argument; see tests/support/own_image.py), then run:
non-root, `dockyard` as its entrypoint, `promote` against a loopback registry, and `run`
on a mounted checkout with the engine's socket, pushing real tags."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from dockyard import __version__
from support.availability import is_ci
from support.images import push_image
from support.own_image import BUILD_ARGS, build_context, require_offline_inputs
from support.registry import Registry

pytestmark = pytest.mark.integration
IN_CI = is_ci()
SOCKET = "/var/run/docker.sock"


@pytest.fixture(scope="session")
def own_image(docker_engine: docker.DockerClient,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image, built once per session under a unique tag, removed afterwards."""
    require_offline_inputs(docker_engine, ci=IN_CI)
    context = build_context(tmp_path_factory.mktemp("own-image"))
    tag = f"dockyard-test/dockyard:{uuid.uuid4().hex[:12]}"
    args = [f"--build-arg={k}={v}" for k, v in BUILD_ARGS.items()]
    done = subprocess.run(["docker", "build", "-q", *args, "-t", tag, str(context)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    yield tag
    docker_engine.images.remove(tag, force=True)


def docker_run(image: str, *args: str,
               options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", "--network", "host", *options, image,
                           *args], capture_output=True, text=True, timeout=600, check=False)


def test_the_image_runs_dockyard_as_a_user_that_is_not_root(
    own_image: str, docker_engine: docker.DockerClient,
) -> None:
    config = docker_engine.images.get(own_image).attrs["Config"]
    assert config["User"] == "dockyard"
    assert config["Entrypoint"] == ["dockyard"]
    done = docker_run(own_image, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"dockyard {__version__}"
    who = docker_run(own_image, "-c", "id -u && git --version && ! command -v pip",
                     options=("--entrypoint", "sh"))
    assert who.returncode == 0, who.stderr
    assert who.stdout.splitlines()[0] != "0"


def test_promote_in_the_image_tags_an_image_in_a_registry(
    own_image: str, registry: Registry,
) -> None:
    name = f"acme/promote-{uuid.uuid4().hex[:8]}"
    digest = push_image(registry, name, "1.0.0")
    done = docker_run(own_image, "promote", "--format", "json",
                      f"{registry.host}/{name}:1.0.0", f"{registry.host}/{name}:stable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert registry.manifest_digest(name, "stable") == digest
    json.loads(done.stdout)  # one JSON object on stdout


def test_run_in_the_image_builds_a_mounted_checkout_and_pushes(
    own_image: str, git_repo: Callable[..., Path], registry: Registry,
    docker_engine: docker.DockerClient,
) -> None:
    name = f"acme/in-image-{uuid.uuid4().hex[:8]}"
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": "hi\n", "dockyard.yml": f"images: [{registry.host}/{name}]\n"},
                    tags=("v3.1.4",))
    socket_group = str(Path(SOCKET).stat().st_gid)  # the image's user may use the engine
    done = docker_run(own_image, "run", "--format", "json",
                      options=("-v", f"{repo}:/work", "-v", f"{SOCKET}:{SOCKET}",
                               "--group-add", socket_group))
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(registry.tags(name)) == {"v3.1.4", "latest"}  # metadata-action's defaults
        record = json.loads(done.stdout)
        assert record["status"] == "success" and record["version"] == "v3.1.4"
        assert record["context"]["tag"] == "v3.1.4"  # read from the checkout by git
        assert record["digest"] == registry.manifest_digest(name, "v3.1.4")
    finally:
        for image in docker_engine.images.list(name=f"{registry.host}/{name}"):
            docker_engine.images.remove(image.id, force=True)
