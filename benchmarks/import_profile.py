"""What `dockyard plan` spends before it does anything: interpreter start-up and imports.

Not a test: run it by hand (or through benchmarks/run_all.py).

    python3 benchmarks/import_profile.py [--runs 10] [--top 12]

Runs `python -X importtime -m dockyard plan --format json` in a small tagged git repo
--runs times and prints, per top-level import, the median cumulative import time, beside
`python -c pass` (the interpreter's own start-up, site and .pth files included) and
`python -I -S -c pass` (the bare interpreter).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import git_env, make_project, median, write_config

LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def wall(command: Sequence[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-imports-"))
    try:
        env = git_env(workdir / "home")
        # Time imports from cached bytecode, as an installed package has it: a source file
        # changed since its .pyc was written would otherwise be compiled on every run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        (workdir / "home").mkdir()
        project = workdir / "project"
        make_project(project, [0], env)
        write_config(project, ["ghcr.io/acme/app"],
                     ["type=semver,pattern={{version}}", "type=sha"])
        py = sys.executable
        cumulative: dict[str, list[int]] = defaultdict(list)
        selfs: dict[str, list[int]] = defaultdict(list)
        totals = []
        plan = [py, "-m", "dockyard", "plan", "--format", "json"]
        subprocess.run(plan, cwd=project, env=env, capture_output=True, check=True)  # warm-up
        for _ in range(args.runs):
            err = subprocess.run([py, "-X", "importtime", *plan[1:]], cwd=project, env=env,
                                 capture_output=True, text=True, check=True).stderr
            total = 0
            for line in err.splitlines():
                match = LINE.match(line)
                if not match:
                    continue
                own, cum, indent, name = match.groups()
                top = name.split(".")[0]
                selfs[top].append(int(own))
                if len(indent) == 1:  # imported by the command itself, not by a module
                    cumulative[name].append(int(cum))
                    total += int(cum)
            totals.append(total)
        rows = [
            ("python -I -S -c pass (bare interpreter)",
             wall([py, "-I", "-S", "-c", "pass"], project, env, args.runs)),
            ("python -c pass (with site and .pth files)",
             wall([py, "-c", "pass"], project, env, args.runs)),
            ("python -c 'import dockyard.cli'",
             wall([py, "-c", "import dockyard.cli"], project, env, args.runs)),
            ("python -m dockyard plan --format json",
             wall([py, "-m", "dockyard", "plan", "--format", "json"], project, env,
                  args.runs)),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("| process | median ms |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| `{name}` | {seconds * 1000:.0f} |")
    print(f"\nImports of `dockyard plan` (-X importtime, median of {args.runs}): "
          f"{median(totals) / 1000:.0f} ms in all. Top-level imports by cumulative time:\n")
    print("| top-level import | cumulative ms |\n| --- | ---: |")
    ranked = sorted(cumulative.items(), key=lambda kv: -median(kv[1]))
    for name, values in ranked[:args.top]:
        print(f"| `{name}` | {median(values) / 1000:.1f} |")
    print("\nSelf time by package (all nesting levels), the largest:\n")
    print("| package | self ms |\n| --- | ---: |")
    per_run = {k: sum(v) / args.runs for k, v in selfs.items()}
    for name, micros in sorted(per_run.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"| `{name}` | {micros / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
