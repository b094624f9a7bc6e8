"""The real Docker engine the integration tests build with, and the offline base image.

No image can be pulled on the build machines, so the base image is made from Debian's
static busybox: a shell and the usual tools in a single file.
"""

from __future__ import annotations

import gc
import shutil
import warnings
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from .availability import unavailable

BASE_IMAGE = "dockyard-test/busybox:latest"
BUSYBOX = Path("/bin/busybox")
START_HINT = (
    "start one as root with: pgrep -x dockerd >/dev/null || rm -f /var/run/docker.pid; "
    "dockerd >/tmp/dockerd.log 2>&1 &  (or run `bash .ci/run`, which also installs it)"
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
