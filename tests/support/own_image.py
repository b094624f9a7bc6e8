"""Dockyard's own image (the top-level Dockerfile), built offline on the classic engine.

scripts/setup prepares what the build needs and cannot fetch in a test: a Debian bookworm
root with python3 and git, made by mmdebstrap from Debian's archive and `docker import`ed
as OFFLINE_BASE, and WHEELHOUSE, the wheels of Dockyard's dependencies. The Dockerfile
takes them through its build arguments (BASE, PIP_NO_INDEX, PIP_FIND_LINKS).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from .availability import unavailable

OFFLINE_BASE = "dockyard-test/debian-python3:bookworm"
WHEELHOUSE = Path("/var/cache/dockyard/wheelhouse")
REPO = Path(__file__).resolve().parents[2]
SETUP_HINT = "run `bash scripts/setup` as root: it makes the offline base and the wheelhouse"
# The base has git (APT_PACKAGES' default), so apt-get is not run.
BUILD_ARGS = {"BASE": OFFLINE_BASE, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/src/wheelhouse"}


def require_offline_inputs(client: docker.DockerClient, *, ci: bool) -> None:
    """Fail (in CI) or skip unless scripts/setup has prepared the base and the wheelhouse."""
    try:
        client.images.get(OFFLINE_BASE)
    except ImageNotFound:
        unavailable(f"the offline base image {OFFLINE_BASE} is missing: {SETUP_HINT}", ci=ci)
    if not any(WHEELHOUSE.glob("*.whl")):
        unavailable(f"the wheelhouse {WHEELHOUSE} is empty: {SETUP_HINT}", ci=ci)


def build_context(target: Path) -> Path:
    """This checkout's files (tracked, and new ones not ignored) plus the wheelhouse: what
    a clone of the repository holds, and the wheels an offline build installs from."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    shutil.copytree(WHEELHOUSE, target / "wheelhouse",
                    ignore=shutil.ignore_patterns("dockyard-*"))
    return target
