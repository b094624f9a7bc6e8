"""Whole-run benchmark (issue 17): all of `dockyard run` beside the plain script.

Not a test: run it by hand and read the table.

    python3 benchmarks/whole_run.py [--runs 5] [--layers 16,12,8,4] [--profile PATH]

The image of benchmarks/publish.py (a FROM-scratch image of random layers, 6 tags, 3
registries), built once before the repetitions so that every build is cached. Each
repetition runs, in a rotating order, against 3 fresh `docker-registry serve` processes:

- script:   what users write without Dockyard: a cached `docker build -q` of the same
            project, then benchmarks/naive_publish.sh (`docker tag` + `docker push` per
            tag per registry, one after another);
- dockyard: the whole `dockyard run` process, start-up to exit: context, plan,
            preflight, the cached build, publishing and the release record; Dockyard
            installed into a venv as action.yml installs it (`--editable`: this checkout).

With `--other PYTHON`, a third method runs `PYTHON -m dockyard run` the same way, to compare
two versions of Dockyard side by side (PYTHON of another checkout's venv).

With `--profile PATH`, one more `dockyard run` (not timed) runs under cProfile; PATH gets
the statistics, and the report lists where its wall time went.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import log, machine, measure, median, table_row, write_config
from publish import SCRIPT, SIX_TAGS, Bench

METHODS = ("script", "dockyard")


class WholeRun(Bench):
    other: str | None = None  # the interpreter of the `other` method
    use_other = False

    def run_script(self, names: list[str]) -> tuple[float, dict]:
        start = time.perf_counter()
        built = measure(["docker", "build", "-q", "-t", f"{names[0]}:{self.tags[0]}",
                         str(self.project)], env=self.env)
        if built.returncode != 0:
            raise RuntimeError(f"docker build failed:\n{built.stderr[-3000:]}")
        image_id = built.stdout.strip()
        pushed = measure(["sh", str(SCRIPT), image_id, *names, "--", *self.tags], env=self.env)
        if pushed.returncode != 0:
            raise RuntimeError(f"naive_publish.sh failed:\n{pushed.stderr[-3000:]}")
        seconds = time.perf_counter() - start
        return seconds, {"wall": seconds, "build": built.seconds, "push": pushed.seconds}

    def run_dockyard(self, names: list[str]) -> tuple[float, dict]:
        _, extra = super().run_dockyard(names)
        return extra["wall"], extra

    def command(self) -> list[str]:
        return [self.other, "-m", "dockyard"] if self.use_other and self.other else \
            super().command()

    def once(self, method: str, repetition: int, *, counting: bool = False
             ) -> tuple[float, dict, list, list]:
        # publish.Bench checks that every tag landed for its "script" and "dockyard"
        self.use_other = method == "other"
        try:
            return super().once("dockyard" if self.use_other else method, repetition,
                                counting=counting)
        finally:
            self.use_other = False

    def profile(self, path: Path, names: list[str]) -> None:
        """One `dockyard run` under cProfile, its statistics written to `path`."""
        write_config(self.project, names, SIX_TAGS)
        done = measure([self.python, "-m", "cProfile", "-o", str(path), "-m", "dockyard",
                        "run", "--format", "json"], cwd=self.project, env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"profiled dockyard run failed:\n{done.stderr[-3000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions per method")
    parser.add_argument("--layers", default="16,12,8,4",
                        help="sizes in MB of the image's layers (random, incompressible)")
    parser.add_argument("--profile", type=Path, help="also profile one run; stats to PATH")
    parser.add_argument("--other", metavar="PYTHON",
                        help="also time `PYTHON -m dockyard run` (another checkout's venv)")
    parser.add_argument("--editable", action="store_true",
                        help="time this checkout as it runs here (with PYTHONDONTWRITEBYTECODE "
                             "set, compiled from source at every start), not an installed copy")
    args = parser.parse_args(argv)
    layers = [int(x) for x in args.layers.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-whole-"))
    methods = (*METHODS, "other") if args.other else METHODS
    times: dict[str, list[float]] = {m: [] for m in methods}
    extra: dict[str, list[dict]] = {m: [] for m in methods}
    loads = [os.getloadavg()[0]]
    bench = None
    try:
        bench = WholeRun(workdir, layers, editable=args.editable)
        bench.other = args.other
        log(f"image {bench.image_id[:19]}, tags {bench.tags}")
        for repetition in range(args.runs):
            shift = repetition % len(methods)
            order = methods[shift:] + methods[:shift]
            for method in order:
                seconds, more, _, _ = bench.once(method, repetition)
                times[method].append(seconds)
                extra[method].append(more)
                log(f"run {repetition + 1}/{args.runs} {method}: {seconds:.2f} s {more}")
            loads.append(os.getloadavg()[0])
        if args.profile:
            names = [f"{bench.registries.start().host}/profile/app" for _ in range(3)]
            bench.prefixes += [f"{name}:" for name in names]
            bench.profile(args.profile, names)
    finally:
        if bench is not None:
            bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(times, extra, loads, args.runs))
    if args.profile:
        print(profile_report(args.profile))
    return 0


def report(times: dict[str, list[float]], extra: dict[str, list[dict]], loads: list[float],
           runs: int) -> str:
    methods = tuple(times)
    t = {m: median(times[m]) for m in methods}
    info = machine()
    lines = [f"median of {runs} repetitions; load average (1 min) "
             f"{min(loads):.2f}-{max(loads):.2f} over the run; "
             + ", ".join(f"{k} {v}" for k, v in info.items()), "",
             "| method | median s | runs (s) |", "| --- | ---: | --- |"]
    names = {"script": "script: cached `docker build -q` + 18 sequential `docker tag`/`push`",
             "dockyard": "whole `dockyard run` process",
             "other": "whole `dockyard run` process, the `--other` version"}
    lines += [table_row(names[method], times[method]) for method in methods]
    lines += [table_row(label, [e[key] for e in extra["script"]])
              for key, label in (("build", "script: of which `docker build -q`"),
                                 ("push", "script: of which the pushes"))]
    lines += [table_row(f"{method}: {label}", [e[key] for e in extra[method]])
              for method in methods[1:]
              for key, label in (("build", "`timings.build_seconds` (preflight + build)"),
                                 ("push", "`timings.push_seconds` (publish)"),
                                 ("total", "`timings.total_seconds` (the pipeline)"))]
    ratio = t["dockyard"] / t["script"]
    # The machine is shared: each repetition's own ratio cancels what the load did to it.
    each = median([d / s for d, s in zip(times["dockyard"], times["script"], strict=True)])
    lines += ["", f"- whole `dockyard run` / script = {ratio:.2f}x (medians); the median of "
              f"each repetition's ratio {each:.2f}x "
              f"(target <= 0.6x: {'met' if max(ratio, each) <= 0.6 else 'MISSED'})"]
    if "other" in t:
        other = median([o / s for o, s in zip(times["other"], times["script"], strict=True)])
        lines.append(f"- the `--other` version / script = {t['other'] / t['script']:.2f}x "
                     f"(medians); per repetition {other:.2f}x")
    return "\n".join(lines)


def profile_report(path: Path) -> str:
    """The profiled run's wall time by the functions that matter, cumulative."""
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(cumulative for _, _, _, cumulative, _ in entries.values())
    wanted = ("dockyard/", "docker/api/build", "docker/utils/build")
    rows = []
    for (filename, line, function), (_, calls, _, cumulative, _) in entries.items():
        if any(part in filename for part in wanted) and cumulative >= 0.02:
            rows.append((cumulative, calls, f"{filename.split('site-packages/')[-1]}:{line}"
                         f"({function})"))
    rows.sort(reverse=True)
    lines = ["", f"profile of one run: {total:.2f} s in all (cProfile's own overhead included)",
             "", "| cumulative s | calls | function |", "| ---: | ---: | --- |"]
    lines += [f"| {seconds:.3f} | {calls} | `{name}` |" for seconds, calls, name in rows[:40]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
