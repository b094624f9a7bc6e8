"""How long `dockyard plan` takes in a big repository, beside `git describe --tags`.

Not a test: run it by hand and read the table.

    python3 benchmarks/plan_latency.py [--runs 15] [--commits 5000] [--tags 1000]

It builds a throwaway repository with `git fast-import` (5,000 commits and 1,000
semver tags by default, HEAD tagged as the newest release), writes a dockyard.yml with
metadata-action's usual rules, then times, as separate processes, each the median of
`--runs` runs after one warm-up:

- `python -c pass`: the interpreter's start-up, the floor for any Python CLI;
- `python -c "import dockyard.cli"`: what importing the CLI costs;
- `dockyard plan --format json`: the whole command;
- `git describe --tags`: what a shell script would run to find the version.

and, in this process, `resolve_context` (git reads) and `make_plan` (the pure part).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CONFIG = """\
images: [ghcr.io/acme/app]
tags:
  - type=schedule
  - type=semver,pattern={{version}}
  - type=semver,pattern={{major}}.{{minor}}
  - type=semver,pattern={{major}}
  - type=ref,event=branch
  - type=ref,event=pr
  - type=sha
"""
EPOCH = 1_700_000_000


def make_repository(path: Path, commits: int, tags: int, env: dict[str, str]) -> None:
    """`commits` commits on main, a tag every commits/tags commits ending at HEAD."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True,
                   env=env)
    every = max(1, commits // tags)
    stream: list[bytes] = []
    for number in range(1, commits + 1):
        message = f"commit {number}\n".encode()
        content = f"{number}\n".encode()
        stream += [
            b"commit refs/heads/main\n",
            f"mark :{number}\n".encode(),
            f"committer Bench <bench@dockyard.invalid> {EPOCH + number * 60} +0000\n".encode(),
            f"data {len(message)}\n".encode(), message,
            *([f"from :{number - 1}\n".encode()] if number > 1 else []),
            f"M 100644 inline version.txt\ndata {len(content)}\n".encode(), content, b"\n",
        ]
    tagged = list(range(commits, 0, -every))[:tags]
    for index, mark in enumerate(sorted(tagged)):
        name = f"v{index // 100}.{index // 10 % 10}.{index % 10}"
        stream.append(f"reset refs/tags/{name}\nfrom :{mark}\n\n".encode())
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(stream), cwd=path,
                   check=True, env=env)
    for args in (["reset", "--quiet", "--hard", "main"],
                 ["remote", "add", "origin", "https://github.com/acme/app.git"],
                 ["update-ref", "refs/remotes/origin/main", "main"],
                 ["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)
    (path / "dockyard.yml").write_text(CONFIG)
    (path / "Dockerfile").write_text("FROM scratch\n")


def median_seconds(command: Sequence[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_in_process(call: Callable[[], object], runs: int) -> float:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--tags", type=int, default=1000)
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LC_ALL": "C",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "SOURCE_DATE_EPOCH": str(EPOCH)}
    repo = home / "repo"
    try:
        start = time.perf_counter()
        make_repository(repo, args.commits, args.tags, env)
        built = time.perf_counter() - start
        described = subprocess.run(["git", "describe", "--tags"], cwd=repo, env=env,
                                   check=True, capture_output=True, text=True).stdout.strip()
        dockyard = [sys.executable, "-m", "dockyard"]
        rows = [
            ("python -c pass", median_seconds([sys.executable, "-c", "pass"], repo, env,
                                              args.runs)),
            ("python -c 'import dockyard.cli'", median_seconds(
                [sys.executable, "-c", "import dockyard.cli"], repo, env, args.runs)),
            ("dockyard plan --format json", median_seconds(
                [*dockyard, "plan", "--format", "json"], repo, env, args.runs)),
            ("git describe --tags", median_seconds(["git", "describe", "--tags"], repo, env,
                                                   args.runs)),
        ]
        rows += in_process_rows(repo, env, args.runs)
        print(f"repository: {args.commits} commits, {args.tags} tags, built in {built:.1f} s "
              f"with git fast-import; HEAD describes as {described}")
        print(f"median of {args.runs} runs after one warm-up, {sys.executable} "
              f"{sys.version.split()[0]}\n")
        width = max(len(name) for name, _ in rows)
        print(f"{'what':<{width}}  {'median ms':>9}")
        for name, seconds in rows:
            print(f"{name:<{width}}  {seconds * 1000:>9.1f}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def in_process_rows(repo: Path, env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """The parts of `plan`, in this process (imports already paid for)."""
    from dockyard.context import resolve_context
    from dockyard.plan import make_plan
    from dockyard.settings import load_settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # dockyard.git's git calls inherit the process environment
    try:
        context = resolve_context(env, repo)
        settings = load_settings(repo / "dockyard.yml", env)
        return [
            ("  in process: resolve_context", median_in_process(
                lambda: resolve_context(env, repo), runs)),
            ("  in process: load_settings", median_in_process(
                lambda: load_settings(repo / "dockyard.yml", env), runs)),
            ("  in process: make_plan", median_in_process(
                lambda: make_plan(settings, context), runs)),
        ]
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    sys.exit(main())
