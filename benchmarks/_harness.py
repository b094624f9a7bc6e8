"""Shared pieces of the benchmarks: loopback registries, a counting proxy, a git repo with
an image to build, and process measurement (wall time, peak RSS).

Not a test module: the benchmarks are run by hand (see benchmarks/run_all.py).
Everything started here is stopped by the owner (`Registries.close()`, `Proxies.close()`),
and every temporary directory is removed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH = 1_700_000_000
MB = 1024 * 1024


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table_row(label: str, values: Sequence[float]) -> str:
    """A Markdown row: what, the median and every run, in seconds."""
    return f"| {label} | {median(values):.2f} | {', '.join(f'{x:.2f}' for x in values)} |"


# ------------------------------------------------------------------------ registries


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Registry:
    process: subprocess.Popen[bytes]
    host: str  # 127.0.0.1:PORT
    home: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


class Registries:
    """Starts `docker-registry serve` processes (CNCF distribution) on loopback ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Registry] = []
        self._count = 0

    def start(self, *, htpasswd: tuple[str, str] | None = None) -> Registry:
        self._count += 1
        home = self.workdir / f"registry-{self._count}"
        home.mkdir(parents=True)
        port = free_port()
        lines = ["version: 0.1", "log: {level: error}",
                 "storage:", f"  filesystem: {{rootdirectory: {home / 'storage'}}}",
                 "  delete: {enabled: true}",
                 "http:", f"  addr: 127.0.0.1:{port}", "  secret: dockyard-bench"]
        if htpasswd is not None:
            users = subprocess.run(["htpasswd", "-Bbn", *htpasswd], check=True,
                                   capture_output=True).stdout
            (home / "htpasswd").write_bytes(users)
            lines += ["auth:", "  htpasswd:", "    realm: dockyard-bench",
                      f"    path: {home / 'htpasswd'}"]
        (home / "config.yml").write_text("\n".join(lines) + "\n")
        with (home / "registry.log").open("ab") as out:
            process = subprocess.Popen(["docker-registry", "serve", str(home / "config.yml")],
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)
        registry = Registry(process, f"127.0.0.1:{port}", home)
        self.started.append(registry)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=2).close()
                return registry
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return registry
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"registry on {registry.host} did not start: "
                           f"{(home / 'registry.log').read_text()[-1000:]}")

    def stop(self, registry: Registry) -> None:
        registry.stop()
        if registry in self.started:
            self.started.remove(registry)

    def close(self) -> None:
        for registry in list(self.started):
            self.stop(registry)


def registry_tags(host: str, name: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/{name}/tags/list", timeout=10) as r:
            return sorted(json.load(r).get("tags") or [])
    except urllib.error.HTTPError:
        return []


# ------------------------------------------------------------------------ a git repo + image


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "JENKINS", "DOCKYARD_"))
           and k not in ("CI", "BRANCH_NAME", "TAG_NAME", "GIT_COMMIT", "CHANGE_ID")}
    env.update({"HOME": str(home), "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull, "SOURCE_DATE_EPOCH": str(EPOCH),
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@dockyard.invalid",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@dockyard.invalid",
                "GIT_AUTHOR_DATE": f"@{EPOCH} +0000", "GIT_COMMITTER_DATE": f"@{EPOCH} +0000"})
    return env


def make_project(path: Path, layer_mb: Sequence[int], env: dict[str, str], *,
                 seed: int = 8, tag: str = "v1.2.3") -> None:
    """A git repo whose Dockerfile is FROM scratch with one COPY per random file (layer)."""
    path.mkdir(parents=True)
    rng = random.Random(seed)  # noqa: S311 -- reproducible filler bytes, not secrets
    dockerfile = ["FROM scratch"]
    for index, size in enumerate(layer_mb):
        name = f"layer{index}.bin"
        with (path / name).open("wb") as out:
            left = size * MB
            while left:
                step = min(left, 4 * MB)
                out.write(rng.randbytes(step))
                left -= step
        dockerfile.append(f"COPY {name} /data/{name}")
    (path / "Dockerfile").write_text("\n".join(dockerfile) + "\n")
    (path / ".dockerignore").write_text(".git\ndockyard.yml\n*.json\n")
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "Dockerfile",
                 ".dockerignore", *(f"layer{i}.bin" for i in range(len(layer_mb)))],
                 ["commit", "--quiet", "-m", "bench image"], ["tag", tag]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)


def write_config(path: Path, images: Sequence[str], tags: Sequence[str],
                 registries: dict[str, tuple[str, str]] | None = None) -> None:
    lines = ["images:", *(f"  - {image}" for image in images), "tags:",
             *(f"  - {rule}" for rule in tags)]
    if registries:
        lines.append("registries:")
        for host, (user, password) in registries.items():
            lines += [f"  '{host}':", f"    username: {user}", f"    password: {password}"]
    (path / "dockyard.yml").write_text("\n".join(lines) + "\n")


# 6 tags on a commit tagged v1.2.3: 1.2.3, v1.2.3 and sha-... are release tags (pushed
# first), 1.2, 1 and latest are floating (moved last).
SIX_TAGS = ("type=semver,pattern={{version}}", "type=ref,event=tag", "type=sha",
            "type=semver,pattern={{major}}.{{minor}}", "type=semver,pattern={{major}}")


def dockyard_command() -> list[str]:
    """Dockyard as this checkout runs it (the editable install, or `python -m dockyard`)."""
    found = shutil.which("dockyard")
    return [found] if found else [sys.executable, "-m", "dockyard"]


def installed_dockyard(workdir: Path) -> list[str]:
    """Dockyard installed from this checkout the way action.yml installs it, in a venv.

    What a user's job runs: a non-editable `pip install`, which byte-compiles every module
    once, at install. The editable checkout differs where PYTHONDONTWRITEBYTECODE is set
    (it is on the benchmark machines): every start then compiles each of Dockyard's modules
    from source again, some 0.2 s that no installed copy pays. The venv sees this
    interpreter's packages (`--system-site-packages`, as in action.yml), so nothing is
    downloaded; only Dockyard itself is installed into it.
    """
    venv = workdir / "installed-venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", str(ROOT)],
                   check=True, env={**os.environ, "PIP_NO_INDEX": "1"})
    where = subprocess.run([str(python), "-c", "import dockyard; print(dockyard.__file__)"],
                           check=True, capture_output=True, text=True, cwd=workdir).stdout
    if not where.startswith(str(venv)):
        raise RuntimeError(f"the venv imports Dockyard from {where.strip()}, not its own copy")
    return [str(venv / "bin" / "dockyard")]


def untag(references: Sequence[str]) -> None:
    """Remove tags from the engine (the image itself stays while another tag holds it)."""
    for start in range(0, len(references), 50):
        subprocess.run(["docker", "image", "rm", *references[start:start + 50]],
                       capture_output=True)


def engine_refs(prefixes: Sequence[str]) -> list[str]:
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                         capture_output=True, text=True, check=True).stdout.split()
    return [ref for ref in out if ref.startswith(tuple(prefixes))]


# ------------------------------------------------------------------------ measuring


@dataclass
class Measured:
    seconds: float
    returncode: int
    max_rss_kb: int
    stdout: str
    stderr: str


def measure(command: Sequence[str], *, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Measured:
    """Run one process; wall time, exit code and its peak RSS (ru_maxrss from wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    # Read the pipes on threads so a chatty child never blocks; then reap it with wait4.
    import threading

    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    readers = [threading.Thread(target=drain, args=(n, s))
               for n, s in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, process.returncode, int(usage.ru_maxrss),
                    chunks.get("out", b"").decode(errors="replace"),
                    chunks.get("err", b"").decode(errors="replace"))


def machine() -> dict[str, str]:
    def sh(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    mem_kb = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    registry_version = sh("docker-registry", "--version").split("\n")[0]
    return {
        "nproc": sh("nproc"),
        "cpu": cpu,
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB",
        "engine": sh("docker", "version", "--format",
                     "{{.Server.Version}} (API {{.Server.APIVersion}}, "
                     "{{.Server.Os}}/{{.Server.Arch}})"),
        "storage driver": sh("docker", "info", "--format", "{{.Driver}}"),
        "registry": registry_version,
        "python": sys.version.split()[0],
        "os": next((line.split("=", 1)[1].strip('"') for line in
                    Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), "?"),
        "kernel": sh("uname", "-r"),
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
