"""What people see: live bars under a terminal, timestamped plain lines in CI logs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect

from support.registry import Registry

LAYER_BYTES = 24 * 1024 * 1024  # big enough that the engine reports upload progress


def big_repo(git_repo: Callable[..., Path], registry: Registry, name: str) -> Path:
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY big.bin /big.bin\n",
                     "big.bin": os.urandom(LAYER_BYTES)}, tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(f"images: [{registry.host}/acme/{name}]\n")
    return repo


def test_terminal_shows_live_upload_bars(git_repo: Callable[..., Path],
                                         registry: Registry) -> None:
    repo = big_repo(git_repo, registry, "tty")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    child = pexpect.spawn(sys.executable, ["-m", "dockyard", "run"], cwd=str(repo), env=env,
                          timeout=240, dimensions=(40, 120))
    try:
        child.expect(pexpect.EOF)
        screen = child.before.decode(errors="replace")
    finally:
        child.close()
    assert child.exitstatus == 0, screen
    assert "== Build" in screen
    assert re.search(r"layer [0-9a-f]{12}", screen)  # a bar per uploaded layer
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? MB", screen)  # rich's download column
    assert "\x1b[" in screen  # drawn live, with terminal control sequences
    assert registry.tags("acme/tty") == ["latest", "v1.0.0"]


def test_ci_log_gets_timestamped_lines_and_no_redrawing(git_repo: Callable[..., Path],
                                                        registry: Registry) -> None:
    repo = big_repo(git_repo, registry, "plainlog")
    env = {**os.environ, "CI": "true"}
    done = subprocess.run([sys.executable, "-m", "dockyard", "run"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\[\d\d:\d\d:\d\d\] == Build ", done.stderr, re.MULTILINE)
    assert re.search(r"^\[\d\d:\d\d:\d\d\] == Push to ", done.stderr, re.MULTILINE)
    assert "\x1b[" not in done.stderr and "\r" not in done.stderr
