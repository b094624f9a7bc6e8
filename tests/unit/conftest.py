"""Real git repositories for the context tests, made with the git command line.

Every git call gets an explicit environment (fixed identity and dates, no user or system
config), so shas are the same on every machine. Dockyard's own git calls (dockyard.git)
inherit the process environment; the fixture cuts them off from user and system config
too.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXED_DATE = "2024-05-06T07:08:09+00:00"


@dataclass(frozen=True)
class Repos:
    """Makes and changes repositories under `root`."""

    root: Path
    env: dict[str, str]

    def git(self, repo: Path, *args: str, date: str = FIXED_DATE) -> str:
        """Run git in `repo` with fixed dates; return its stripped stdout."""
        env = {**self.env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        result = subprocess.run(
            ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
        )
        return result.stdout.strip()

    def init(self, name: str = "repo", *, branch: str = "main") -> Path:
        """An empty repository (no commits) on `branch`."""
        path = self.root / name
        path.mkdir(parents=True)
        self.git(path, "init", "--quiet", f"--initial-branch={branch}")
        return path

    def commit(self, repo: Path, content: str = "hello\n", *, date: str = FIXED_DATE) -> str:
        """Write `content` to file.txt, commit it and return the new sha."""
        (repo / "file.txt").write_text(content)
        self.git(repo, "add", "--all")
        self.git(repo, "commit", "--quiet", "--message", f"write {content.strip()}", date=date)
        return self.git(repo, "rev-parse", "HEAD")

    def make(self, name: str = "repo", *, branch: str = "main") -> Path:
        """A repository with one commit on `branch`."""
        path = self.init(name, branch=branch)
        self.commit(path)
        return path


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repos:
    home = tmp_path / "home"
    home.mkdir()
    isolation = {"HOME": str(home), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for name, value in isolation.items():
        monkeypatch.setenv(name, value)  # for dockyard.git's git calls
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # set inside git hooks
        monkeypatch.delenv(name, raising=False)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "Dockyard Test",
        "GIT_AUTHOR_EMAIL": "test@dockyard.invalid",
        "GIT_COMMITTER_NAME": "Dockyard Test",
        "GIT_COMMITTER_EMAIL": "test@dockyard.invalid",
        **isolation,
    }
    root = tmp_path / "repos"
    root.mkdir()
    return Repos(root, env)
