"""Run every benchmark of issue #8 in one go and write the raw results as Markdown.

Not a test: run it by hand, as root on a machine with a running Docker engine,
`docker-registry`, `htpasswd` and git (see docs/benchmarks.md):

    python3 benchmarks/run_all.py [--output benchmarks/results.md] [--publish-runs 5]
        [--plan-runs 15] [--failfast-runs 5] [--memory-sizes 100,500]

Each part is a script of its own, run here as a separate process, one after the other
(never in parallel: they share the engine and the CPUs). Every registry they start is on
127.0.0.1, in a temporary directory, and stopped at the end; the images they build are
removed. A full run takes about 7 to 9 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import log, machine  # noqa: E402


def part(title: str, command: Sequence[str]) -> tuple[str, float]:
    log(f"{title}: {' '.join(command)}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    sys.stderr.write(done.stderr[-4000:])
    body = done.stdout.strip()
    if done.returncode != 0:
        body += f"\n\n**FAILED** (exit {done.returncode}):\n\n```\n{done.stderr[-3000:]}\n```"
    return f"## {title}\n\n`python3 {' '.join(command)}` ({seconds:.0f} s)\n\n{body}\n", seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--publish-runs", type=int, default=5)
    parser.add_argument("--throttled-runs", type=int, default=3,
                        help="repetitions of the network-bound publish (0: skip it)")
    parser.add_argument("--plan-runs", type=int, default=15)
    parser.add_argument("--failfast-runs", type=int, default=5)
    parser.add_argument("--memory-sizes", default="100,500")
    parser.add_argument("--layers", default="16,12,8,4")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    facts = machine()
    b = "benchmarks"
    parts = [
        ("1-2. Publish: one image, 6 tags, 3 registries; requests per registry",
         [f"{b}/publish.py", "--runs", str(args.publish_runs), "--layers", args.layers]),
        ("1b. Publish, network-bound: each registry behind a 100 Mbit/s relay",
         [f"{b}/publish.py", "--runs", str(args.throttled_runs), "--layers", args.layers,
          "--no-count", "--throttle-mbit", "100"]),
        ("1c. Publish, network-bound: one 100 Mbit/s link shared by all registries",
         [f"{b}/publish.py", "--runs", str(args.throttled_runs), "--layers", args.layers,
          "--no-count", "--throttle-mbit", "100", "--shared-link"]),
        ("3. Plan latency", [f"{b}/plan_latency.py", "--runs", str(args.plan_runs)]),
        ("3b. Start-up and imports of `dockyard plan`",
         [f"{b}/import_profile.py", "--runs", "10"]),
        ("4. Memory: peak RSS of run and promote",
         [f"{b}/memory.py", "--sizes", args.memory_sizes]),
        ("5. Fail fast: a wrong password",
         [f"{b}/fail_fast.py", "--runs", str(args.failfast_runs)]),
        ("6. Prune: 1,001 tags on 501 images", [f"{b}/prune.py", "--images", "500"]),
    ]
    sections = []
    total = 0.0
    if args.throttled_runs <= 0:
        parts = [p for p in parts if "--throttle-mbit" not in p[1]]
    for title, command in parts:
        text, seconds = part(title, [str(HERE.parent / c) if c.startswith(b) else c
                                     for c in command])
        sections.append(text.replace(str(HERE.parent) + "/", ""))
        total += seconds
    facts["load average at end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    head = [f"# Benchmark results, {started}", "",
            f"Raw output of `python3 benchmarks/run_all.py` ({total / 60:.1f} min). "
            "Read docs/benchmarks.md for what they mean.", "",
            "| machine | |", "| --- | --- |"]
    head += [f"| {k} | {v} |" for k, v in facts.items()]
    args.output.write_text("\n".join(head) + "\n\n" + "\n".join(sections))
    print(args.output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
