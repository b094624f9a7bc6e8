"""Memory benchmark (issue #8, item 4): peak RSS of `dockyard run` and `dockyard promote`.

Not a test: run it by hand (or through benchmarks/run_all.py).

    python3 benchmarks/memory.py [--sizes 100,500] [--layer-mb 100]

For each image size (random, incompressible layers of at most --layer-mb MB, FROM scratch):
`dockyard run` builds it and pushes it to registries A, B and C (one tag): the engine
pushes to A, and Dockyard streams every blob from A to B and C at once. Then
`dockyard promote A/...:1.2.3 D/...:1.2.3` copies it to registry D: a cross-registry
promote streams every blob from A to D through Dockyard. Peak RSS is the child's
ru_maxrss (wait4), i.e. the kernel's VmHWM of that process. Flat in image size, under
150 MB, is the target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Registries,
    dockyard_command,
    git_env,
    log,
    make_project,
    measure,
    registry_tags,
    untag,
    write_config,
)

TAGS = ("type=semver,pattern={{version}}",)


def digest(host: str, path: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{host}/v2/{path}/manifests/{tag}", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- loopback
        return str(response.headers["Docker-Content-Digest"])


def one_size(workdir: Path, registries: Registries, size: int, layer_mb: int) -> dict:
    env = git_env(workdir / "home")
    (workdir / "home").mkdir(parents=True, exist_ok=True)
    layers = [layer_mb] * (size // layer_mb) + ([size % layer_mb] if size % layer_mb else [])
    project = workdir / f"project-{size}"
    make_project(project, layers, env, seed=size)
    source, target = registries.start(), registries.start()
    copies = [registries.start(), registries.start()]
    image = f"{source.host}/mem{size}/app"
    images = [image, *(f"{copy.host}/mem{size}/app" for copy in copies)]
    refs = [f"{name}:{tag}" for name in images for tag in ("1.2.3", "latest")]  # latest=auto
    try:
        write_config(project, images, TAGS)
        log(f"{size} MB: dockyard run (build + push to {', '.join(images)})")
        run = measure([*dockyard_command(), "run", "--format", "json", "--output",
                       "record.json"], cwd=project, env=env)
        if run.returncode != 0:
            raise RuntimeError(f"run failed: {run.stderr[-2000:]}")
        record = json.loads((project / "record.json").read_text())
        if len({entry["digest"] for entry in record["registries"]}) != 1:
            raise RuntimeError("run did not land the same digest on every registry")
        log(f"{size} MB: dockyard promote to {target.host}")
        promote = measure([*dockyard_command(), "promote", f"{image}:1.2.3",
                           f"{target.host}/mem{size}/app:1.2.3"], cwd=workdir, env=env)
        if promote.returncode != 0:
            raise RuntimeError(f"promote failed: {promote.stderr[-2000:]}")
        same = digest(source.host, f"mem{size}/app", "1.2.3") == \
            digest(target.host, f"mem{size}/app", "1.2.3")
        if registry_tags(target.host, f"mem{size}/app") != ["1.2.3"] or not same:
            raise RuntimeError("promote did not land the same digest on the target")
        stored = sum(f.stat().st_size for f in (target.home / "storage").rglob("*")
                     if f.is_file())
        return {"size_mb": size, "layers_mb": layers,
                "run_rss_mb": run.max_rss_kb / 1024, "run_seconds": run.seconds,
                "run_push_seconds": record["timings"].get("push_seconds"),
                "promote_rss_mb": promote.max_rss_kb / 1024,
                "promote_seconds": promote.seconds, "target_stored_mb": stored / 1e6}
    finally:
        for registry in (source, target, *copies):
            registries.stop(registry)
        untag(refs)
        shutil.rmtree(project, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500", help="image sizes in MB")
    parser.add_argument("--layer-mb", type=int, default=100, help="largest layer, MB")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-memory-"))
    registries = Registries(workdir / "registries")
    rows = []
    try:
        for size in (int(x) for x in args.sizes.split(",")):
            rows.append(one_size(workdir, registries, size, args.layer_mb))
            log(f"{rows[-1]}")
        baseline = measure([*dockyard_command(), "--help"])
    finally:
        registries.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    out = ["| image | `dockyard run` (3 registries) peak RSS | run wall s (build + push) | "
           "`dockyard promote` peak RSS | promote wall s | bytes stored on target |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        out.append(f"| {row['size_mb']} MB ({len(row['layers_mb'])} layers) | "
                   f"{row['run_rss_mb']:.0f} MB | {row['run_seconds']:.1f} | "
                   f"{row['promote_rss_mb']:.0f} MB | {row['promote_seconds']:.1f} | "
                   f"{row['target_stored_mb']:.0f} MB |")
    out.append(f"| (baseline: `dockyard --help`) | {baseline.max_rss_kb / 1024:.0f} MB | | | | |")
    worst = max(max(r["run_rss_mb"], r["promote_rss_mb"]) for r in rows)
    growth = [(rows[-1][k] - rows[0][k]) for k in ("run_rss_mb", "promote_rss_mb")]
    out += ["", f"- largest peak RSS: {worst:.0f} MB (target < 150 MB: "
            f"{'met' if worst < 150 else 'MISSED'})",
            f"- growth from {rows[0]['size_mb']} MB to {rows[-1]['size_mb']} MB: run "
            f"{growth[0]:+.1f} MB, promote {growth[1]:+.1f} MB"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
