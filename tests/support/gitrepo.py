"""Real git repositories with fixed dates, so commits (and their shas) are the same every run.

Identity and config come from the hermetic environment (see hermetic.py); only the dates
are set here, per commit.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

FIXED_DATE = "2024-05-06T07:08:09+00:00"
DEFAULT_FILES: Mapping[str, str] = {
    "Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
    "hello.txt": "hello from dockyard tests\n",
}


def git(repo: Path, *args: str, date: str = FIXED_DATE) -> str:
    """Run git in `repo` with fixed author and committer dates; return its stripped stdout."""
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    result = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def commit(
    repo: Path,
    files: Mapping[str, str | bytes],
    message: str = "change",
    date: str = FIXED_DATE,
) -> str:
    """Write `files` (paths relative to `repo`), commit them all, and return the new sha."""
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message, date=date)
    return git(repo, "rev-parse", "HEAD")


def make_repo(
    path: Path,
    files: Mapping[str, str | bytes] | None = None,
    *,
    tags: Sequence[str] = (),
    branch: str = "main",
    annotated: bool = False,
    date: str = FIXED_DATE,
) -> Path:
    """A repository at `path` with one commit of `files` on `branch`, tagged with `tags`."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", f"--initial-branch={branch}")
    commit(path, DEFAULT_FILES if files is None else files, "initial commit", date)
    for tag in tags:
        if annotated:
            git(path, "tag", "--annotate", "--message", f"release {tag}", tag, date=date)
        else:
            git(path, "tag", tag)
    return path
