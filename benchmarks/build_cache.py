"""Build-cache benchmark (issue 14): a CI rebuild after a one-line change, on a runner
whose local cache is empty, with and without buildx's registry cache; docker-py on the
classic engine beside buildx on the modern one, the same Dockerfile.

Not a test: run it by hand (as root, after `bash scripts/setup`, from a venv where this
checkout is installed):

    python3 benchmarks/build_cache.py [--runs 3] [--deps-mb 400]

The project's Dockerfile has an expensive dependency step (`RUN` hashing --deps-mb MB and
writing 16 MB of dependencies: seconds of work) between `COPY requirements.txt` and
`COPY src/`. Each repetition gets a new marker in its step lines (nothing comes from an
earlier repetition's cache) and a fresh registry, then measures `dockyard run` (build
and push, as in CI; the build phase is the record's timings.build_seconds):

buildx (modern engine, cache_from + cache_to type=registry,mode=max):
- cold: nothing cached anywhere; exports the cache to the registry;
- registry cache: one line of src/ changed, the engine's local cache emptied of this
  build (a fresh runner), the cache imported from the registry;
- no cache: the same change on an empty local cache, without cache_from (a fresh
  runner without a registry cache);
- local cache: the same change with the local cache kept (a long-lived runner).

docker-py (classic engine 20.10, legacy builder, which has no cache export):
- cold, and local cache (a long-lived runner); a fresh runner is cold.

The local cache is emptied as the integration tests do (tests/support/buildcache.py):
this build's images and records only, never anyone else's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _harness import Registries, git_env, log, machine, measure, median

from support.buildcache import forget_build

BASE = "dockyard-bench/busybox:latest"
MODERN_ENV_FILE = Path("/run/dockyard-modern/env")
CLASSIC_HOST = "unix:///var/run/docker.sock"


def modern_env(base: dict[str, str]) -> dict[str, str]:
    lines = MODERN_ENV_FILE.read_text().splitlines()
    return {**base, **dict(line.split("=", 1) for line in lines if "=" in line)}


def ensure_base(env: dict[str, str], workdir: Path) -> None:
    """BASE (a shell from Debian's static busybox) in the engine `env` points at."""
    if subprocess.run(["docker", "image", "inspect", BASE], env=env,
                      capture_output=True).returncode == 0:
        return
    context = Path(tempfile.mkdtemp(prefix="base-", dir=workdir))
    shutil.copy2("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", '
        '"/bin"]\n')
    subprocess.run(["docker", "build", "-q", "-t", BASE, str(context)], env=env, check=True,
                   capture_output=True)


def dockerfile(marker: str, deps_mb: int) -> str:
    return (f"FROM {BASE}\n"
            f"COPY requirements-{marker}.txt /app/requirements.txt\n"
            f"RUN echo 'installing {marker}' && mkdir -p /opt/deps"
            f" && dd if=/dev/zero bs=1M count={deps_mb} 2>/dev/null | sha256sum > /opt/deps/sum"
            f" && dd if=/dev/urandom of=/opt/deps/lib.bin bs=1M count=16 2>/dev/null\n"
            f"COPY src-{marker}/ /app/src/\n"
            f"RUN echo 'compiling {marker}' && sha256sum /app/src/* > /app/built.txt\n")


def make_repo(path: Path, marker: str, deps_mb: int, image: str, build: str,
              env: dict[str, str]) -> Path:
    (path / f"src-{marker}").mkdir(parents=True)
    (path / f"requirements-{marker}.txt").write_text("left-pad==1.3.0\n")
    (path / f"src-{marker}" / "app.py").write_text("print('hello')\n")
    (path / "Dockerfile").write_text(dockerfile(marker, deps_mb))
    (path / "dockyard.yml").write_text(
        f"images: [{image}]\ntags: [type=sha]\nbuild:\n{build}")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "app"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def change_a_line(repo: Path, marker: str, count: int, env: dict[str, str]) -> None:
    (repo / f"src-{marker}" / "app.py").write_text(f"print('hello {count}')\n")
    subprocess.run(["git", "commit", "-q", "-am", f"change {count}"], cwd=repo, env=env,
                   check=True)


def timed_run(repo: Path, env: dict[str, str], what: str) -> tuple[float, float]:
    """`dockyard run` (build and push, as in CI): its build phase and its wall time."""
    result = measure([sys.executable, "-m", "dockyard", "run", "--format", "json"],
                     cwd=repo, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{what}: exit {result.returncode}\n{result.stderr[-3000:]}")
    build = float(json.loads(result.stdout)["timings"]["build_seconds"])
    log(f"{what}: build {build:.2f} s, run {result.seconds:.2f} s")
    return build, result.seconds


def one_repetition(work: Path, registries: Registries, deps_mb: int, base_env: dict[str, str],
                   ) -> dict[str, tuple[float, float]]:
    times: dict[str, tuple[float, float]] = {}
    registry = registries.start()
    marker = uuid.uuid4().hex[:12]
    modern = modern_env(base_env)
    image = f"{registry.host}/bench/cache-{marker}"
    cache = f"{registry.host}/bench/cache-{marker}:buildcache"
    with_cache = (f'  backend: buildx\n  cache_from: ["type=registry,ref={cache}"]\n'
                  f'  cache_to: ["type=registry,ref={cache},mode=max"]\n')
    repo = make_repo(work / f"buildx-{marker}", marker, deps_mb, image, with_cache, modern)
    try:
        times["buildx cold"] = timed_run(repo, modern, "buildx cold (cache exported)")
        forget_build(marker, [image], modern)
        change_a_line(repo, marker, 1, modern)
        times["buildx registry cache"] = timed_run(repo, modern,
                                                   "buildx, empty local cache, registry cache")
        forget_build(marker, [image], modern)
        change_a_line(repo, marker, 2, modern)
        config = (repo / "dockyard.yml").read_text()
        (repo / "dockyard.yml").write_text(config.replace(with_cache, "  backend: buildx\n"))
        times["buildx no cache"] = timed_run(repo, modern, "buildx, empty local cache, no cache")
        change_a_line(repo, marker, 3, modern)
        times["buildx local cache"] = timed_run(repo, modern, "buildx, local cache kept")
    finally:
        forget_build(marker, [image], modern)

    classic = {**base_env, "DOCKER_HOST": CLASSIC_HOST}
    other = uuid.uuid4().hex[:12]
    classic_image = f"{registry.host}/bench/classic-{other}"
    repo = make_repo(work / f"classic-{other}", other, deps_mb, classic_image,
                     "  backend: docker-py\n", classic)
    try:
        times["docker-py cold"] = timed_run(repo, classic, "docker-py cold")
        change_a_line(repo, other, 1, classic)
        times["docker-py local cache"] = timed_run(repo, classic, "docker-py, local cache kept")
    finally:
        tags = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                               classic_image], env=classic, capture_output=True,
                              text=True).stdout.split()
        if tags:
            subprocess.run(["docker", "rmi", *tags], env=classic, capture_output=True)
        subprocess.run(["docker", "image", "prune", "-f", "--filter",
                        f"label=org.opencontainers.image.title=classic-{other}"],
                       env=classic, capture_output=True)
    registries.stop(registry)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deps-mb", type=int, default=400,
                        help="MB the dependency step hashes (its seconds of work)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-cache-"))
    base_env = git_env(work / "home")
    registries = Registries(work)
    runs: list[dict[str, tuple[float, float]]] = []
    try:
        ensure_base(modern_env(base_env), work)
        ensure_base({**base_env, "DOCKER_HOST": CLASSIC_HOST}, work)
        for number in range(args.runs):
            log(f"repetition {number + 1} of {args.runs}")
            runs.append(one_repetition(work, registries, args.deps_mb, base_env))
    finally:
        registries.close()
        shutil.rmtree(work, ignore_errors=True)
    names = list(runs[0])
    builds = {name: median([run[name][0] for run in runs]) for name in names}
    walls = {name: median([run[name][1] for run in runs]) for name in names}
    cold = builds["buildx cold"]
    print(f"machine: {json.dumps(machine())}")
    print(f"{args.runs} repetitions, dependency step hashing {args.deps_mb} MB; medians of "
          "`dockyard run` (build phase, and the whole run with its push)")
    print("| build | build phase (s) | each run | x buildx cold | whole run (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        each = ", ".join(f"{run[name][0]:.2f}" for run in runs)
        print(f"| {name} | {builds[name]:.2f} | {each} | {builds[name] / cold:.2f}x "
              f"| {walls[name]:.2f} |")
    ratio = builds["buildx registry cache"] / cold
    print(f"rebuild with registry cache on an empty local cache: {ratio:.2f}x the cold build "
          f"(target <= 0.30x): {'met' if ratio <= 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
