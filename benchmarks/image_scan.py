"""What the pre-push secret scan costs (issue 14), on a realistic image.

Not a test: run it by hand, as root on a machine with the Docker engines running.

    python3 benchmarks/image_scan.py [--runs 3] [--engine classic|modern|both]

The image: busybox, plus three layers like an application image's: the Python 3.11
standard library (54 MB, ~7,000 small files), the largest shared libraries of
/usr/lib/x86_64-linux-gnu (about 80 MB of binaries) and 20 MB of random data (one
file): about 160 MB of layers. Measured per engine, median of --runs:

- `save only`: reading the engine's `docker save` stream to the end (what the scan
  cannot avoid on the docker-py path);
- `scan, N secrets`: `imagescan.scan_archive` over the same stream, with 0 (nothing is
  read), 1, 3 and 10 registered secrets;
- `scan of an OCI layout`: the image saved and unpacked into a directory first,
  `imagescan.scan_layout` alone (what the buildx path pays);
- the peak RSS of a new process that scans it with 3 secrets, beside one that only
  imports what the scan needs (`--child`).

Wall times on a shared machine move with its load; the CPU seconds (this process, both
threads) move much less, and are what the scan costs.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import secrets as random_secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from dockyard import imagescan, secrets  # noqa: E402
from dockyard.engine import Engine  # noqa: E402

HOSTS = {"classic": "unix:///var/run/docker.sock",
         "modern": "unix:///run/dockyard-modern/docker.sock"}
BASE = "dockyard-test/busybox:latest"
TAG = "dockyard-bench/imagescan:latest"
MB = 1_000_000


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def make_context(path: Path) -> int:
    """The build context; returns the bytes of its files."""
    shutil.copytree("/usr/lib/python3.11", path / "stdlib", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    libs = sorted((p for p in Path("/usr/lib/x86_64-linux-gnu").glob("*.so*")
                   if p.is_file() and not p.is_symlink()),
                  key=lambda p: p.stat().st_size, reverse=True)
    (path / "libs").mkdir()
    total = 0
    for lib in libs:
        if total > 80 * MB:
            break
        shutil.copy2(lib, path / "libs" / lib.name)
        total += lib.stat().st_size
    (path / "data.bin").write_bytes(os.urandom(20 * MB))
    (path / "Dockerfile").write_text(f"FROM {BASE}\nCOPY stdlib /usr/lib/python3.11\n"
                                     "COPY libs /usr/lib/app/\nCOPY data.bin /srv/\n")
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(action: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of `action`, and its last result."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = action()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), result


def high_water_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over an exec from the
    parent, whose build of a 177 MB context would show instead."""
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def child(host: str, image_id: str, count: int) -> int:
    """Scan in this fresh process; print the peak RSS (MB) before and after."""
    register(count)
    found = imagescan.needles()
    engine = Engine.connect({"DOCKER_HOST": host})
    before = high_water_mb()
    report = imagescan.scan_archive(engine.image_archive(image_id), found)
    after = high_water_mb()
    engine.close()
    print(f"{before:.0f} {after:.0f} {report.bytes_scanned / MB:.0f}")
    return 0


def peak_rss(host: str, image_id: str) -> str:
    done = subprocess.run([sys.executable, __file__, "--child", host, image_id],
                          capture_output=True, text=True, check=True)
    before, after, scanned = done.stdout.split()
    return f"{after} MB peak RSS ({before} MB before the scan), {scanned} MB read"


def register(count: int) -> None:
    secrets._known.clear()  # the benchmark sets the registry as a run would have it
    secrets._forms.clear()
    secrets._pattern = None
    for _ in range(count):
        secrets.register(random_secrets.token_urlsafe(24))


def bench(name: str, runs: int, workdir: Path) -> list[str]:
    client = docker.DockerClient(base_url=HOSTS[name])
    client.images.get(BASE)  # built by the tests' fixtures or scripts/setup
    log(f"{name}: building {TAG}")
    client.images.build(path=str(workdir), tag=TAG, rm=True, forcerm=True)
    image_id = client.images.get(TAG).id
    engine = Engine.connect({"DOCKER_HOST": HOSTS[name]})
    rows = []
    try:
        def drain() -> int:
            return sum(len(chunk) for chunk in engine.image_archive(image_id))

        save_seconds, save_cpu, size = timed(drain, runs)
        assert isinstance(size, int)
        rows.append(f"| {name} | save only ({size / MB:.0f} MB tar) | {save_seconds:.2f} s | "
                    f"{save_cpu:.2f} s | |")
        for count in (0, 1, 3, 10):
            register(count)
            found = imagescan.needles()
            seconds, cpu, report = timed(
                lambda found=found: imagescan.scan_archive(engine.image_archive(image_id),
                                                           found), runs)
            assert isinstance(report, imagescan.ScanReport) and not report.findings
            rate = report.bytes_scanned / MB / cpu if report.bytes_scanned else 0
            rows.append(f"| {name} | save + scan, {count} secret{'s' if count != 1 else ''} "
                        f"({len(found.forms)} needles) | {seconds:.2f} s | {cpu:.2f} s | "
                        f"{report.bytes_scanned / MB:.0f} MB read, {rate:.0f} MB per CPU s |")
        rows.append(f"| {name} | memory, 3 secrets | | | {peak_rss(HOSTS[name], image_id)} |")
        layout = Path(tempfile.mkdtemp(prefix="imagescan-layout-"))
        try:
            archive = b"".join(engine.image_archive(image_id))
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(layout, filter="data")
            if (layout / "index.json").is_file():
                register(3)
                found = imagescan.needles()
                seconds, cpu, report = timed(lambda: imagescan.scan_layout(layout, found), runs)
                assert isinstance(report, imagescan.ScanReport)
                rows.append(f"| {name} | scan of an OCI layout, 3 secrets | {seconds:.2f} s | "
                            f"{cpu:.2f} s | {report.bytes_scanned / MB:.0f} MB read |")
        finally:
            shutil.rmtree(layout)
    finally:
        engine.close()
        client.images.remove(TAG, force=True)
        client.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=("classic", "modern", "both"), default="both")
    parser.add_argument("--child", nargs=2, metavar=("HOST", "IMAGE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(*options.child, count=3)
    workdir = Path(tempfile.mkdtemp(prefix="imagescan-bench-"))
    try:
        size = make_context(workdir)
        log(f"context: {size / MB:.0f} MB")
        rows = ["| engine | what | wall (median) | CPU | notes |",
                "| --- | --- | --- | --- | --- |"]
        for name in ("classic", "modern") if options.engine == "both" else (options.engine,):
            rows += bench(name, options.runs, workdir)
    finally:
        shutil.rmtree(workdir)
    print(f"Image: busybox + {size / MB:.0f} MB of files in 3 layers; {options.runs} runs; "
          f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
