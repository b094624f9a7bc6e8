"""Running the CLI in-process, as a test sees it: exit code, stdout, stderr."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.cli import main

# What a test run passes through from the (already hermetic) process environment.
_PASSED_THROUGH = ("PATH", "HOME", "DOCKER_HOST", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def entry(self, image: str) -> dict[str, Any]:
        """The result's registry entry for `image`."""
        found: dict[str, Any] = next(e for e in self.json["registries"] if e["name"] == image)
        return found

    def skipped(self, image: str) -> dict[str, str]:
        return {s["tag"]: s["reason"] for s in self.entry(image)["skipped"]}


def run_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """`dockyard -C repo ARGS` with only the environment given (plus PATH, HOME...)."""
    environment = {k: v for k, v in os.environ.items() if k in _PASSED_THROUGH}
    environment.update(env or {})
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), *args], env=environment, stdout=stdout, stderr=stderr)
    return Outcome(code, stdout.getvalue(), stderr.getvalue())
