"""`dockyard` as real OS processes, several at once, for races a thread cannot show.

Each process gets the environment run_cli gives the in-process runner (the hermetic one
of the test, plus PATH, HOME...) and the PYTHONPATH that finds the dockyard under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dockyard

from .cli import Outcome

_PASSED_THROUGH = ("PATH", "HOME", "DOCKER_HOST", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")
TIMEOUT = 120.0


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASSED_THROUGH}
    env["PYTHONPATH"] = str(Path(dockyard.__file__).resolve().parents[1])
    return env


def run_together(commands: Sequence[tuple[Path, Sequence[str]]]) -> list[Outcome]:
    """Start `dockyard -C DIR ARGS...` for every (DIR, ARGS) at once, then wait for all."""
    env = environment()
    started = [
        subprocess.Popen([sys.executable, "-m", "dockyard", "-C", str(repo), *args],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for repo, args in commands
    ]
    outcomes = []
    try:
        for process in started:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            outcomes.append(Outcome(process.returncode, stdout, stderr))
    finally:
        for process in started:  # only after a timeout: never leave one running
            if process.poll() is None:
                process.kill()
                process.wait()
    return outcomes


def record(outcome: Outcome) -> dict[str, Any]:
    """The JSON record a process printed, with its stderr in the error when it printed none."""
    try:
        data: dict[str, Any] = json.loads(outcome.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON record (exit {outcome.code}):\n{outcome.stderr}") from exc
    return data


@dataclass(frozen=True)
class Measured:
    outcome: Outcome
    seconds: float  # wall clock, start to exit
    peak_mib: float  # the process's peak resident memory


def run_measured(repo: Path, args: Sequence[str], *, timeout: float = TIMEOUT) -> Measured:
    """`dockyard -C repo ARGS` as a process of its own: its outcome, how long it took and
    its peak RSS (from wait4's rusage of that child alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "dockyard", "-C", str(repo), *args],
                                   env=environment(), stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err, text=True)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9  # reaped here, so Popen must not wait for it
                raise AssertionError(f"dockyard {' '.join(args)} ran past {timeout:g}s")
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        outcome = Outcome(process.returncode, out.read(), err.read())
    return Measured(outcome, seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
