"""Which builder builds: docker-py (the classic API, needs only an engine) or buildx.

`choose` is pure: the build's BuildKit keys, its Dockerfile's text, the machine's
platform and whether buildx is there decide it. `auto` takes buildx when the build asks
for something only BuildKit does; each such thing is a reason, named by its key or its
Dockerfile line, which `plan` prints.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.buildkit import BuildKit
from dockyard.errors import InputError

DOCKER_PY, BUILDX = "docker-py", "buildx"
_MOUNT = re.compile(r"^\s*RUN\b[^\n]*?--mount\b", re.IGNORECASE)
_SYNTAX = re.compile(r"^#\s*syntax\s*=", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^#\s*\w+\s*=")
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
             "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# Where the docker CLI looks for plugins (docs.docker.com/engine/extend/cli_plugins)
_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
INSTALL_HINT = ("install buildx: Debian/Ubuntu `apt-get install docker-buildx` (or "
                "docker-buildx-plugin from Docker's repository), or put the docker-buildx "
                "binary from github.com/docker/buildx/releases in ~/.docker/cli-plugins/; "
                "on GitHub runners it is there already (docker/setup-buildx-action sets up "
                "a builder)")


@dataclass(frozen=True)
class Choice:
    backend: str  # DOCKER_PY or BUILDX
    reasons: tuple[str, ...]  # why buildx: what asked for BuildKit (empty: nothing did)
    configured: str = "auto"  # build.backend as set
    buildx_found: bool = True  # docker buildx is installed here

    @property
    def available(self) -> bool:
        """Whether this backend can build here: buildx is found, or not needed."""
        return self.backend != BUILDX or self.buildx_found

    def explain(self) -> str:
        if self.configured != "auto":
            why = f"build.backend: {self.configured}"
        elif self.reasons:
            why = "BuildKit is needed for " + "; ".join(self.reasons)
        else:
            why = "nothing in this build needs BuildKit"
        return f"{self.backend} ({why})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.backend, "why": self.explain(), "configured": self.configured,
                "reasons": list(self.reasons), "buildx_found": self.buildx_found}


def host_platform(machine: str | None = None) -> str:
    """The machine's own platform, as buildx names it (linux/amd64)."""
    arch = (machine or platform.machine()).lower()
    return f"linux/{_MACHINES.get(arch, arch)}"


def dockerfile_reasons(text: str, name: str = "Dockerfile") -> list[str]:
    """What in a Dockerfile only BuildKit reads: a `# syntax=` directive, `RUN --mount`."""
    reasons = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not _DIRECTIVE.match(line):
            break  # parser directives come first, before any other line
        if _SYNTAX.match(line):
            reasons.append(f"{name} line {number}: a `# syntax=` directive")
    for number, line in enumerate(lines, 1):
        if _MOUNT.match(line):
            reasons.append(f"{name} line {number}: RUN --mount")
            break
    return reasons


def needs(kit: BuildKit, dockerfile: str, *, host: str, name: str = "Dockerfile") -> list[str]:
    """What in this build asks for BuildKit, one reason each."""
    reasons = []
    if kit.secrets:
        reasons.append("build.secrets")
    if kit.secret_files:
        reasons.append("build.secret_files")
    if kit.ssh:
        reasons.append("build.ssh")
    if len(kit.platforms) > 1:
        reasons.append(f"build.platforms ({len(kit.platforms)} platforms)")
    elif kit.platforms and kit.platforms[0] != host:
        reasons.append(f"build.platforms ({kit.platforms[0]} on a {host} machine)")
    for key in ("cache_from", "cache_to"):
        if getattr(kit, key):
            reasons.append(f"build.{key}")
    for key in ("provenance", "sbom"):
        if getattr(kit, key) not in (None, "false"):
            reasons.append(f"build.{key}")
    if kit.builder:
        reasons.append("build.builder")
    return reasons + dockerfile_reasons(dockerfile, name)


def choose(kit: BuildKit, dockerfile: str, *, host: str, buildx_found: bool,
           name: str = "Dockerfile") -> Choice:
    """The backend for this build. Pure; `require` turns a choice that cannot run into
    the error that says why."""
    reasons = tuple(needs(kit, dockerfile, host=host, name=name))
    if kit.backend == BUILDX:
        return Choice(BUILDX, reasons, BUILDX, buildx_found)
    if kit.backend == DOCKER_PY:
        return Choice(DOCKER_PY, reasons, DOCKER_PY, buildx_found)
    if reasons:
        return Choice(BUILDX, reasons, "auto", buildx_found)
    return Choice(DOCKER_PY, (), "auto", buildx_found)


def require(choice: Choice) -> None:
    """Raise (exit 2) when the choice cannot build: buildx missing, or docker-py asked to
    do what only BuildKit does."""
    if choice.backend == BUILDX and not choice.available:
        asked = ("build.backend: buildx" if choice.configured == BUILDX
                 else "; ".join(choice.reasons))
        raise InputError(f"this build needs docker buildx ({asked}), and it is not installed "
                         "here", hint=INSTALL_HINT)
    # A `# syntax=` line alone is a comment to the classic builder: no reason to refuse.
    blocking = [reason for reason in choice.reasons if "# syntax=" not in reason]
    if choice.backend == DOCKER_PY and blocking:
        raise InputError(f"build.backend is docker-py, but {'; '.join(blocking)} "
                         "needs BuildKit (docker-py builds with the classic builder)",
                         hint="set build.backend: auto (or buildx), or drop what needs "
                              "BuildKit")


def find_buildx(env: Mapping[str, str]) -> Path | None:
    """The docker-buildx binary: on PATH (standalone), else where the docker CLI finds
    its plugins ($DOCKER_CONFIG/cli-plugins, ~/.docker/cli-plugins, the system dirs)."""
    for folder in env.get("PATH", "").split(os.pathsep):
        candidate = Path(folder or ".") / "docker-buildx"
        if _executable(candidate):
            return candidate
    config = env.get("DOCKER_CONFIG") or (
        str(Path(env["HOME"]) / ".docker") if env.get("HOME") else None)
    folders = ([str(Path(config) / "cli-plugins")] if config else []) + list(_PLUGIN_DIRS)
    for folder in folders:
        candidate = Path(folder) / "docker-buildx"
        if _executable(candidate):
            return candidate
    return None


def _executable(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except OSError:
        return False


def read_dockerfile(path: Path) -> str:
    """The Dockerfile's text for `choose` (empty when it cannot be read: settings has
    reported that already)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.read(1024 * 1024)
    except OSError:
        return ""


def choice_for(kit: BuildKit, dockerfile: Path, env: Mapping[str, str]) -> Choice:
    """`choose` for this machine: its platform, its buildx, the Dockerfile on disk."""
    return choose(kit, read_dockerfile(dockerfile), host=host_platform(),
                  buildx_found=find_buildx(env) is not None, name=dockerfile.name)
