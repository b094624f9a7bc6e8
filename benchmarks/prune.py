"""Prune benchmark (issue 18): how long `dockyard prune` takes over a long tag list.

Not a test: run it by hand (or through benchmarks/run_all.py).

    python3 benchmarks/prune.py [--images 500] [--runs 3]

One CNCF distribution registry on loopback with deletes enabled. IMAGES tiny images
written straight through the registry API, each with a `sha-…` tag and a `pr-N` tag
(so twice as many tags), and a `1.0.0` release. The policy keeps the newest 50 sha tags
and the open pull request tags (a tenth of them). Measured: the dry run (the listing:
every tag's digest, every image's manifest and config), then `--apply` once, then a
second `--apply` (nothing left to delete).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Registries, dockyard_command, log, measure, median, registry_tags

CONFIG = """\
images: [{host}/bench/app]
tags: ["type=semver,pattern={{{{version}}}}", "type=ref,event=pr", type=sha]
retention:
  sha: {{keep_last: 50}}
  pull_requests: open
"""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(http: requests.Session, base: str, number: int, tags: Sequence[str],
         version: str, created: datetime) -> None:
    labels = {"org.opencontainers.image.version": version,
              "org.opencontainers.image.created": created.isoformat()}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer {number}".encode()
    for blob in (config, layer):
        started = http.post(f"{base}/blobs/uploads/", timeout=10)
        location = started.headers["Location"]
        location = location if location.startswith("http") else base.split("/v2/")[0] + location
        http.put(location, params={"digest": _digest(blob)}, data=blob,
                 timeout=10).raise_for_status()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": len(config), "digest": _digest(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": len(layer), "digest": _digest(layer)}]}).encode()
    for tag in tags:
        http.put(f"{base}/manifests/{tag}", data=manifest, timeout=10, headers={
            "Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="dry runs to take the median of")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-prune-") as tmp:
        work = Path(tmp)
        registries = Registries(work)
        try:
            registry = registries.start()
            base = f"http://{registry.host}/v2/bench/app"
            http = requests.Session()
            http.trust_env = False
            now = datetime.now(timezone.utc)
            start = time.perf_counter()
            push(http, base, 0, ["1.0.0"], "1.0.0", now - timedelta(days=400))
            for n in range(1, args.images + 1):
                push(http, base, n, [f"sha-{n:07x}", f"pr-{n}"], f"pr-{n}",
                     now - timedelta(hours=n))
            log(f"pushed {args.images + 1} images in {time.perf_counter() - start:.1f} s")
            project = work / "project"
            project.mkdir()
            (project / "dockyard.yml").write_text(CONFIG.format(host=registry.host))
            open_prs = ",".join(str(n) for n in range(1, args.images + 1, 10))
            command = [*dockyard_command(), "prune", "--open-prs", open_prs,
                       "--format", "json"]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
            tags = len(registry_tags(registry.host, "bench/app"))
            dry = [measure(command, cwd=project, env=env) for _ in range(args.runs)]
            for run in dry:
                assert run.returncode == 0, run.stderr[-2000:]
            going = len(json.loads(dry[0].stdout)["repositories"][0]["delete"])
            applied = measure([*command, "--apply"], cwd=project, env=env)
            assert applied.returncode == 0, applied.stderr[-2000:]
            again = measure([*command, "--apply"], cwd=project, env=env)
            deleted_again = len(json.loads(again.stdout)["repositories"][0]["deleted"])
            left = len(registry_tags(registry.host, "bench/app"))
        finally:
            registries.close()
    seconds = median([run.seconds for run in dry])
    print("| what | measured |\n| --- | --- |")
    print(f"| tags listed | {tags} ({args.images + 1} images) |")
    print(f"| dry run (median of {args.runs}) | {seconds:.2f} s, "
          f"{tags / seconds:.0f} tags/s; {going} to delete |")
    print(f"| `--apply` | {applied.seconds:.2f} s; {tags - left} tags deleted, {left} left |")
    print(f"| second `--apply` | {again.seconds:.2f} s; {deleted_again} deleted |")
    print(f"| peak RSS, dry run | {max(run.max_rss_kb for run in dry) / 1024:.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
