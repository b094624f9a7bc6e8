"""Fail-fast benchmark (issue #8, item 5): a wrong password is reported before the build.

Not a test: run it by hand (or through benchmarks/run_all.py).

    python3 benchmarks/fail_fast.py [--runs 5]

One htpasswd registry (CNCF distribution, basic auth); `dockyard run` with the right
user and a wrong password under `registries:`, on a project whose build would take
seconds (a 64 MB context). Each run uses a new image name, and afterwards the engine
must not know that name (nothing was built or tagged), the record must have no image id
and no build timing, and the error must say the credentials were refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    SIX_TAGS,
    Registries,
    dockyard_command,
    git_env,
    log,
    make_project,
    measure,
    median,
    untag,
    write_config,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--context-mb", type=int, default=64)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-failfast-"))
    registries = Registries(workdir / "registries")
    rows = []
    refs: list[str] = []
    try:
        env = git_env(workdir / "home")
        (workdir / "home").mkdir()
        project = workdir / "project"
        make_project(project, [args.context_mb], env, seed=5)
        registry = registries.start(htpasswd=("bench", "right-password"))
        for number in range(args.runs):
            image = f"{registry.host}/failfast{number}/app"
            refs += [f"{image}:{t}" for t in ("1.2.3", "v1.2.3", "1.2", "1", "latest")]
            write_config(project, [image], SIX_TAGS,
                         registries={registry.host: ("bench", "wrong-password")})
            (project / "record.json").unlink(missing_ok=True)
            done = measure([*dockyard_command(), "run", "--format", "json", "--output",
                            "record.json"], cwd=project, env=env)
            record = json.loads((project / "record.json").read_text())
            built = subprocess.run(["docker", "image", "inspect", f"{image}:1.2.3"],
                                   capture_output=True).returncode == 0
            row = {"seconds": done.seconds, "exit": done.returncode,
                   "image_id": record.get("image_id"),
                   "build_timed": "build_seconds" in record.get("timings", {}),
                   "engine_has_image": built,
                   "credentials_named": "credentials" in (record.get("error") or ""),
                   "error": (record.get("error") or "").splitlines()[:2]}
            rows.append(row)
            log(f"run {number + 1}: {row}")
    finally:
        registries.close()
        untag(refs)
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = [r["seconds"] for r in rows]
    no_build = all(r["image_id"] is None and not r["build_timed"] and not r["engine_has_image"]
                   for r in rows)
    print(f"| `dockyard run` with a wrong password | median {median(seconds):.2f} s | "
          f"max {max(seconds):.2f} s | runs {', '.join(f'{s:.2f}' for s in seconds)} |")
    print("| --- | --- | --- | --- |")
    print(f"| exit codes {sorted({r['exit'] for r in rows})} | nothing built: "
          f"{'yes' if no_build else 'NO'} | error names the credentials: "
          f"{'yes' if all(r['credentials_named'] for r in rows) else 'NO'} | "
          f"target <= 2 s: {'met' if max(seconds) <= 2 else 'MISSED'} |")
    print(f"\nThe error, as reported: `{' / '.join(rows[0]['error'])}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
