"""Publish benchmark (issue #8, items 1 and 2): one image, 6 tags, 3 registries.

Not a test: run it by hand (or through benchmarks/run_all.py) and read the tables.

    python3 benchmarks/publish.py [--runs 5] [--layers 16,12,8,4] [--json out.json]

Three ways to publish the same image, side by side in one run, each repetition in a
rotating order, each against 3 *fresh* `docker-registry serve` processes (new ports, empty
storage, unique repository names, so no blob is already there and the engine cannot mount
one from an earlier repetition):

- script:   benchmarks/naive_publish.sh: `docker tag` + `docker push` per tag per
            registry, sequentially (18 pushes), what users write today;
- dockyard: `dockyard run` in a git repo tagged v1.2.3 whose build is cached (the image
            was built once before the repetitions). Its publish phase is the record's
            `timings.push_seconds`; the whole process (start-up, context, cached build,
            preflight) is reported beside it;
- ideal:    one upload per registry, all in parallel: `docker push` of one tag to each of
            the 3 registries at once (wall time of the slowest).

Then one more repetition of each method through a counting proxy per registry
(tests/support/proxy.py) gives the HTTP requests and request-body bytes each registry
received, by method and kind of path; and one of Dockyard with the first tag only
(`onetag`), so that what the 5 extra tags cost is measured as a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    ROOT,
    SIX_TAGS,
    Registries,
    dockyard_command,
    engine_refs,
    git_env,
    installed_dockyard,
    log,
    make_project,
    measure,
    median,
    registry_tags,
    table_row,
    untag,
    write_config,
)

sys.path.insert(0, str(ROOT / "tests"))
from throttle import Link, Throttle

from support.proxy import FaultProxy

SCRIPT = Path(__file__).resolve().parent / "naive_publish.sh"
METHODS = ("script", "dockyard", "ideal")
REGISTRIES = 3
HOLD = "dockyard-bench/publish:image"


class Bench:
    def __init__(self, workdir: Path, layers: Sequence[int],
                 throttle_mbit: float | None = None, shared_link: bool = False, *,
                 editable: bool = False) -> None:
        self.workdir = workdir
        # What is timed is what users run: an installed copy, unless asked for the checkout.
        self.started_as = dockyard_command() if editable else installed_dockyard(workdir)
        # The interpreter of that copy, for `python -m ...` around it (cProfile)
        self.python = sys.executable if editable else \
            str(Path(self.started_as[0]).with_name("python"))
        self.throttle_mbit = throttle_mbit
        self.shared_link = shared_link
        self.registries = Registries(workdir / "registries")
        self.env = git_env(workdir / "home")
        (workdir / "home").mkdir(parents=True, exist_ok=True)
        self.project = workdir / "project"
        make_project(self.project, layers, self.env)
        self.prefixes: list[str] = []
        # Build once (not timed): every measured `dockyard run` then hits the build cache.
        write_config(self.project, ["bench/app"], SIX_TAGS)
        first = self.dockyard(["run", "--no-push"])
        self.image_id = first["image_id"]
        plan = json.loads(subprocess.run([*self.started_as, "plan", "--format", "json"],
                                         cwd=self.project, env=self.env, check=True,
                                         capture_output=True, text=True).stdout)
        self.tags = [(t["name"] if isinstance(t, dict) else t).rsplit(":", 1)[1]
                     for t in plan["tags"]]
        size = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}",
                               self.image_id], capture_output=True, text=True,
                              check=True).stdout.strip()
        self.image_bytes = int(size)
        # A tag of our own keeps the image while the per-run tags come and go.
        subprocess.run(["docker", "tag", self.image_id, HOLD], check=True)
        untag(["bench/app:" + t for t in self.tags])

    def command(self) -> list[str]:
        """How Dockyard is started."""
        return self.started_as

    def dockyard(self, args: list[str]) -> dict:
        record = self.project / "record.json"
        record.unlink(missing_ok=True)
        done = measure([*self.command(), *args, "--format", "json", "--output",
                        str(record)], cwd=self.project, env=self.env)
        if not record.exists():
            raise RuntimeError(f"dockyard {' '.join(args)} wrote no record:\n{done.stderr}")
        data = json.loads(record.read_text())
        data["_wall_seconds"] = done.seconds
        data["_returncode"] = done.returncode
        data["_max_rss_kb"] = done.max_rss_kb
        if done.returncode != 0:
            raise RuntimeError(f"dockyard {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return data

    # -- the three methods; each returns (seconds compared, extra numbers)

    def run_script(self, names: list[str]) -> tuple[float, dict]:
        done = measure(["sh", str(SCRIPT), self.image_id, *names, "--", *self.tags],
                       env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"naive_publish.sh failed:\n{done.stderr[-3000:]}")
        return done.seconds, {"wall": done.seconds}

    def run_dockyard(self, names: list[str]) -> tuple[float, dict]:
        write_config(self.project, names, SIX_TAGS)
        record = self.dockyard(["run"])
        timings = record["timings"]
        if record["image_id"] != self.image_id:
            log(f"note: dockyard built {record['image_id']}, not the cached {self.image_id}")
        return float(timings["push_seconds"]), {
            "wall": record["_wall_seconds"], "push": float(timings["push_seconds"]),
            "build": float(timings.get("build_seconds", 0.0)),
            "total": float(timings["total_seconds"]), "max_rss_kb": record["_max_rss_kb"]}

    def run_onetag(self, names: list[str]) -> tuple[float, dict]:
        """Dockyard with the first tag only: what the 5 extra tags add is the difference."""
        write_config(self.project, names, SIX_TAGS[:1])
        with (self.project / "dockyard.yml").open("a") as config:
            config.write("flavor: [latest=false]\n")
        record = self.dockyard(["run"])
        return float(record["timings"]["push_seconds"]), {"wall": record["_wall_seconds"]}

    def run_ideal(self, names: list[str]) -> tuple[float, dict]:
        first = self.tags[0]
        for name in names:  # not timed: the ideal is the uploads alone
            subprocess.run(["docker", "tag", self.image_id, f"{name}:{first}"], check=True)
        start = time.perf_counter()
        pushes = [subprocess.Popen(["docker", "push", "--quiet", f"{name}:{first}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                  for name in names]
        errors = [p.communicate()[1] for p in pushes]
        seconds = time.perf_counter() - start
        if any(p.returncode for p in pushes):
            raise RuntimeError(f"ideal push failed: {errors}")
        return seconds, {"wall": seconds}

    def run_single(self, names: list[str]) -> tuple[float, dict]:
        """Reference: one `docker push` to one registry, nothing else running beside it."""
        return self.run_ideal(names[:1])

    def once(self, method: str, repetition: int, *, counting: bool = False
             ) -> tuple[float, dict, list[Counter], list[Counter]]:
        """One repetition of `method` against 3 fresh registries (behind proxies when
        counting); returns seconds, extras, and per registry request and byte counters."""
        registries = [self.registries.start() for _ in range(REGISTRIES)]
        proxies = [FaultProxy(r.host) for r in registries] if counting else []
        link = Link(self.throttle_mbit) if self.throttle_mbit and self.shared_link else None
        relays = [Throttle(r.host, self.throttle_mbit, link) for r in registries] \
            if self.throttle_mbit and not counting else []
        hosts = [p.host for p in proxies or relays] or [r.host for r in registries]
        suffix = uuid.uuid4().hex[:8]
        # The same last component everywhere: it is the title label, so the build stays cached.
        names = [f"{host}/{method}-{repetition}-{suffix}/app" for host in hosts]
        self.prefixes += [f"{name}:" for name in names]
        runner: Callable[[list[str]], tuple[float, dict]] = getattr(self, f"run_{method}")
        try:
            seconds, extra = runner(names)
            want = self.tags if method in ("script", "dockyard") else self.tags[:1]
            checked = zip(registries[:1] if method == "single" else registries, names, strict=False)
            for registry, name in checked:
                path = name.split("/", 1)[1]
                landed = registry_tags(registry.host, path)
                if sorted(landed) != sorted(want):
                    raise RuntimeError(f"{method}: {name} holds {landed}, expected {want}")
            requests_seen, bytes_seen = [], []
            for proxy in proxies:
                counts: Counter = Counter()
                sizes: Counter = Counter()
                for seen in proxy.seen:
                    key = f"{seen.method} {kind(seen.path)}"
                    counts[key] += 1
                    sizes[key] += seen.body_bytes
                requests_seen.append(counts)
                bytes_seen.append(sizes)
        finally:
            for proxy in proxies:
                proxy.close()
            for relay in relays:
                relay.close()
            for registry in registries:
                self.registries.stop(registry)
            untag([f"{name}:{tag}" for name in names for tag in self.tags])
            # What this method wrote (and what stopping its registries deleted) reaches the
            # disk now, not during the next method: on these VMs (ext4, online discard) a
            # writeback or discard that lands mid-run adds 1-3 s to whichever runs next.
            os.sync()
        return seconds, extra, requests_seen, bytes_seen

    def close(self) -> None:
        self.registries.close()
        untag(engine_refs(self.prefixes))
        untag([HOLD])  # the image goes with its last tag


def kind(path: str) -> str:
    if path == "/v2/":
        return "/v2/ (ping)"
    match = re.match(r"^/v2/.+?/(manifests|blobs/uploads|blobs|tags)/?(.*)$", path)
    if match is None:
        return path
    what, rest = match.groups()
    if what == "manifests":
        return "manifests/<digest>" if rest.startswith("sha256:") else "manifests/<tag>"
    return {"blobs/uploads": "blobs/uploads", "blobs": "blobs/<digest>",
            "tags": "tags/list"}[what]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions per method")
    parser.add_argument("--layers", default="16,12,8,4",
                        help="sizes in MB of the image's layers (random, incompressible)")
    parser.add_argument("--no-count", action="store_true",
                        help="skip the counting-proxy repetition (item 2)")
    parser.add_argument("--throttle-mbit", type=float, default=None,
                        help="put a relay limited to this many Mbit/s (each way) in front "
                             "of each registry: uploads become network-bound, as to real "
                             "registries")
    parser.add_argument("--shared-link", action="store_true",
                        help="with --throttle-mbit: one link for all registries (the runner's "
                             "uplink), instead of one per registry")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--editable", action="store_true",
                        help="time this checkout as it runs here, not an installed copy")
    args = parser.parse_args(argv)
    layers = [int(x) for x in args.layers.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-publish-"))
    bench = None
    every = (*METHODS, "single")
    results: dict = {"runs": args.runs, "throttle_mbit": args.throttle_mbit,
                     "shared_link": args.shared_link,
                     "layers_mb": layers, "times": {m: [] for m in every},
                     "extra": {m: [] for m in every}}
    try:
        started = time.perf_counter()
        bench = Bench(workdir, layers, args.throttle_mbit, args.shared_link,
                      editable=args.editable)
        results.update(image_id=bench.image_id, tags=bench.tags, image_bytes=bench.image_bytes)
        log(f"image {bench.image_id[:19]} ({bench.image_bytes / 1e6:.1f} MB, layers "
            f"{layers} MB), tags {bench.tags}")
        for repetition in range(args.runs):
            order = METHODS[repetition % 3:] + METHODS[:repetition % 3]
            for method in (*order, "single"):
                seconds, extra, _, _ = bench.once(method, repetition)
                results["times"][method].append(seconds)
                results["extra"][method].append(extra)
                log(f"run {repetition + 1}/{args.runs} {method}: {seconds:.2f} s {extra}")
        if not args.no_count:
            results["requests"], results["bytes"] = {}, {}
            for method in (*METHODS, "onetag"):
                _, _, counts, sizes = bench.once(method, 99, counting=True)
                results["requests"][method] = [dict(c) for c in counts]
                results["bytes"][method] = [dict(s) for s in sizes]
                log(f"counted {method}: {dict(counts[0])}")
        results["elapsed_seconds"] = time.perf_counter() - started
    finally:
        if bench is not None:
            bench.close()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(report(results))
    return 0


def report(r: dict) -> str:
    t = {m: median(r["times"][m]) for m in METHODS}
    dy = r["extra"]["dockyard"]
    wall = median([e["wall"] for e in dy])
    build = median([e["build"] for e in dy])
    out = [f"Image: {r['image_bytes'] / 1e6:.1f} MB uncompressed, layers {r['layers_mb']} MB "
           f"of random bytes; tags {', '.join(r['tags'])}; {REGISTRIES} registries; "
           f"median of {r['runs']} repetitions"
           + (f"; all registries behind one link of {r['throttle_mbit']:g} Mbit/s each way "
              "(the runner's uplink, shared)." if r.get("throttle_mbit") and r.get("shared_link")
              else f"; each registry behind a relay limited to {r['throttle_mbit']:g} Mbit/s "
              "each way (network-bound uploads)." if r.get("throttle_mbit") else
              "; plain loopback (CPU-bound uploads)."), "",
           "| method | median s | runs (s) |", "| --- | ---: | --- |"]
    names = {"script": "script (`naive_publish.sh`, 18 sequential `docker push`)",
             "dockyard": "dockyard run: publish phase (`timings.push_seconds`)",
             "ideal": "ideal (3 parallel `docker push`, one tag each)"}
    out += [table_row(names[method], r["times"][method]) for method in METHODS]
    out.append(f"| reference: one `docker push` to one registry, alone | "
               f"{median(r['times']['single']):.2f} | "
               f"{', '.join(format(x, '.2f') for x in r['times']['single'])} |")
    out.append(f"| dockyard run: whole process (start-up, cached build of the context, "
               f"preflight, publish) | {wall:.2f} | "
               f"{', '.join(format(e['wall'], '.2f') for e in dy)} |")
    out.append(f"| dockyard run: of which the cached build (`timings.build_seconds`) | "
               f"{build:.2f} | {', '.join(format(e['build'], '.2f') for e in dy)} |")
    out += ["", f"- dockyard publish / script = {t['dockyard'] / t['script']:.2f}x "
            f"(target <= 0.5x: {'met' if t['dockyard'] <= 0.5 * t['script'] else 'MISSED'})",
            f"- dockyard publish / ideal = {t['dockyard'] / t['ideal']:.2f}x "
            f"(target <= 1.2x: {'met' if t['dockyard'] <= 1.2 * t['ideal'] else 'MISSED'})",
            f"- whole `dockyard run` process / script = {wall / t['script']:.2f}x; "
            f"/ ideal = {wall / t['ideal']:.2f}x",
            f"- peak RSS of `dockyard run`: "
            f"{median([e['max_rss_kb'] for e in dy]) / 1024:.0f} MB (median)"]
    if "requests" in r:
        out += ["", "Requests each registry received (one counted repetition per method "
                "through tests/support/proxy.py; the same on all 3 registries unless shown "
                "as a/b/c), and request-body bytes:", ""]
        keys = sorted({k for m in METHODS for c in r["requests"][m] for k in c},
                      key=lambda k: (k.split(" ", 1)[1], k))
        out += ["| request | script | dockyard | ideal |", "| --- | ---: | ---: | ---: |"]

        def cell(method: str, key: str, table: str) -> str:
            values = [c.get(key, 0) for c in r[table][method]]
            if table == "bytes":
                values = [round(v / 1e6, 2) if v >= 100_000 else v for v in values]
            return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))

        for key in keys:
            out.append(f"| `{key}` | {cell('script', key, 'requests')} | "
                       f"{cell('dockyard', key, 'requests')} | {cell('ideal', key, 'requests')} |")
        totals = {m: [sum(c.values()) for c in r["requests"][m]] for m in METHODS}
        sizes = {m: [sum(c.values()) for c in r["bytes"][m]] for m in METHODS}
        out.append("| **all requests** | " + " | ".join(
            "/".join(map(str, sorted(set(totals[m])))) for m in METHODS) + " |")
        out.append("| **request-body bytes** | " + " | ".join(
            "/".join(f"{v / 1e6:.2f} MB" for v in sorted(set(sizes[m]))) for m in METHODS)
            + " |")
        out += ["", "Request-body bytes by kind (MB when >= 0.1 MB, else bytes):", "",
                "| request | script | dockyard | ideal |", "| --- | ---: | ---: | ---: |"]
        for key in keys:
            if any(c.get(key, 0) for m in METHODS for c in r["bytes"][m]):
                out.append(f"| `{key}` | {cell('script', key, 'bytes')} | "
                           f"{cell('dockyard', key, 'bytes')} | {cell('ideal', key, 'bytes')} |")
        tags_extra = len(r["tags"]) - 1
        out += ["", f"What the {tags_extra} extra tags cost: Dockyard with 6 tags minus Dockyard "
                "with the first tag only (`onetag`, counted the same way), per registry:", ""]
        out += ["| registry | extra requests | of which | extra request-body bytes |",
                "| --- | ---: | --- | ---: |"]
        marginal_ok = True
        for i in range(REGISTRIES):
            six, one = r["requests"]["dockyard"][i], r["requests"]["onetag"][i]
            diff = {k: six.get(k, 0) - one.get(k, 0) for k in set(six) | set(one)}
            diff = {k: v for k, v in diff.items() if v}
            extra_bytes = sum(r["bytes"]["dockyard"][i].values()) - sum(
                r["bytes"]["onetag"][i].values())
            # Each extra tag: its write, and a read just before it (what it points at now,
            # the guard against concurrent runs); a release tag written by reference is read
            # once more after the writes; the version lines add one listing, to derive them
            # again from what the registry holds. Nothing else, no blob request.
            heads = diff.get("HEAD manifests/<tag>", 0)
            marginal_ok &= (set(diff) == {"PUT manifests/<tag>", "HEAD manifests/<tag>",
                                          "GET tags/list"}
                            and diff["PUT manifests/<tag>"] == tags_extra
                            and tags_extra <= heads <= 2 * tags_extra
                            and diff["GET tags/list"] == 1)
            out.append(f"| {'abc'[i]} | {sum(diff.values())} | "
                       f"{', '.join(f'{v} `{k}`' for k, v in sorted(diff.items()))} | "
                       f"{extra_bytes} |")
        out += ["", f"- each extra tag costs one manifest PUT and one HEAD before it (a release "
                f"tag written by reference one more HEAD after), the version lines one tag "
                f"listing; no blob request (issue 8's target was one small manifest request "
                f"each; the reads are issue 12's guards against concurrent runs): "
                f"{'met' if marginal_ok else 'MISSED'}"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
