"""Emptying the modern engine's build cache of one build, and only of that build.

The buildx `docker` driver has one BuildKit cache per engine, shared with everyone
else's builds on the machine; a fresh `docker-container` builder would be the clean way
to start from an empty cache, but privileged containers cannot run on these machines.
So a test or benchmark gives its build a marker (unique text in its step lines, which
BuildKit keeps as each cache record's description) and removes afterwards what it made:
its images first (an image in the store holds its build's records), then the records
whose description holds the marker, children before parents, until none is left.
No pytest here: the benchmarks use it too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


def forget_build(marker: str, images: Sequence[str], env: Mapping[str, str]) -> int:
    """Remove `images` (every tag of each name) and the build-cache records whose
    description holds `marker`; how many records went."""

    def docker(*args: str) -> str:
        return subprocess.run(["docker", *args], env=dict(env), capture_output=True,
                              text=True, timeout=120, check=True).stdout

    for image in images:
        tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}", image).split()
        if tags:
            docker("rmi", *tags)
    removed = 0
    ids: list[str] = []
    for _ in range(10):
        ids = []
        for record in docker("buildx", "du", "--verbose").split("\n\n"):
            fields = dict(line.split(":", 1) for line in record.splitlines() if ":" in line)
            if marker in fields.get("Description", ""):
                ids.append(fields["ID"].strip())
        if not ids:
            return removed
        for record_id in ids:
            docker("buildx", "prune", "--force", "--filter", f"id={record_id}")
        removed += len(ids)
    raise RuntimeError(f"the build cache keeps records of {marker}: {ids}")
