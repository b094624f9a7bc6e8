"""The real Docker engines the integration tests build with, and the offline base image.

Two engines: the classic one at DOCKER_HOST (by default the machine's docker.io, 20.10),
and the modern one scripts/setup starts beside it (Docker 26 with the containerd image
store, and buildx). No image can be pulled on the build machines, so the base image is
made from Debian's static busybox: a shell and the usual tools in a single file.
"""

from __future__ import annotations

import gc
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from .availability import unavailable

BASE_IMAGE = "dockyard-test/busybox:latest"
BUSYBOX = Path("/bin/busybox")
START_HINT = (
    "start one as root with: rm -f /var/run/docker.pid (if no dockerd holds it); "
    "dockerd >/tmp/dockerd.log 2>&1 &  (or run `bash scripts/setup`, which also installs it)"
)
CLASSIC_HOST = "unix:///var/run/docker.sock"
MODERN_HOST = "unix:///run/dockyard-modern/docker.sock"
MODERN_ENV_FILE = Path("/run/dockyard-modern/env")
MODERN_HINT = (
    "run `bash scripts/setup` as root: it installs and starts the modern engine beside the "
    "classic one (see the README)"
)
BASE_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
"""


def connect(*, ci: bool) -> docker.DockerClient:
    """A client for the engine at DOCKER_HOST (default: the local socket) that has answered."""
    with warnings.catch_warnings():
        # docker-py leaks the socket of a failed unix-socket connect; let it go quietly here
        # rather than as an unraisable ResourceWarning (an error under filterwarnings) later.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env()
        except DockerException as exc:
            problem = str(exc)
        else:
            return client
        gc.collect()
    unavailable(f"no Docker engine answers ({problem}); {START_HINT}", ci=ci)


def connect_modern() -> docker.DockerClient:
    """A client for the modern engine, which has answered.

    Its absence fails the test, in CI or not: a skip would hide that the tests meant to
    cover Docker 26 and the containerd image store never ran.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # as in connect()
        try:
            client = docker.DockerClient(base_url=MODERN_HOST)  # asks for /version
        except DockerException as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            if uses_containerd_store(client):
                return client
            client.close()
            problem = "it answers, but without the containerd image store"
        gc.collect()
    pytest.fail(f"the modern Docker engine does not answer at {MODERN_HOST} ({problem}); "
                f"{MODERN_HINT}", pytrace=False)


def uses_containerd_store(client: docker.DockerClient) -> bool:
    """Whether the engine keeps images in containerd (`containerd-snapshotter`): then an
    image's id is its manifest (or index) digest and a push sends an OCI manifest (or an
    index), where the classic store has config digests and Docker v2 manifests."""
    status = client.info().get("DriverStatus") or []
    return ["driver-type", "io.containerd.snapshotter.v1"] in status


def modern_env() -> dict[str, str]:
    """What /run/dockyard-modern/env sets (DOCKER_HOST, and PATH with its docker first)."""
    if not MODERN_ENV_FILE.is_file():
        pytest.fail(f"{MODERN_ENV_FILE} is missing; {MODERN_HINT}", pytrace=False)
    lines = MODERN_ENV_FILE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@dataclass(frozen=True)
class EngineUnderTest:
    """One of the engines a test runs on, with the base image built there."""

    name: str  # "classic" (the 20.10 one at DOCKER_HOST) or "modern" (26, containerd store)
    host: str  # its DOCKER_HOST
    client: docker.DockerClient
    base_image: str
    containerd_store: bool  # as the engine says: see uses_containerd_store


def classic_host() -> str:
    """DOCKER_HOST as the tests found it, else the engine's default socket."""
    return os.environ.get("DOCKER_HOST") or CLASSIC_HOST


def ensure_base_image(client: docker.DockerClient, workdir: Path, *, ci: bool) -> str:
    """Build BASE_IMAGE once per machine; an image already there is reused as it is."""
    try:
        client.images.get(BASE_IMAGE)
    except ImageNotFound:
        pass
    else:
        return BASE_IMAGE
    if not BUSYBOX.is_file():
        unavailable(f"{BUSYBOX} is missing: apt-get install -y busybox-static", ci=ci)
    shutil.copy2(BUSYBOX, workdir / "busybox")
    (workdir / "Dockerfile").write_text(BASE_DOCKERFILE)
    # images.build reads the whole stream and raises BuildError on an "error" item.
    client.images.build(path=str(workdir), tag=BASE_IMAGE, rm=True, forcerm=True)
    return BASE_IMAGE
