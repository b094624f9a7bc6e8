"""The environment every test runs in: no CI variables, no real $HOME, no git config.

Dockyard reads CI variables to find its context, so one leaking in from the machine that
runs the tests (CI=true, GITHUB_REF...) would change what a test sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

SCRUBBED_PREFIXES = ("GITHUB_", "GITLAB_", "CI_", "JENKINS_", "RUNNER_", "DOCKYARD_",
                     "DOCKER_METADATA_")  # metadata-action's variables, read as it reads them
SCRUBBED_NAMES = frozenset(
    {
        "GIT_COMMIT",
        "GIT_BRANCH",
        "GIT_URL",
        "BRANCH_NAME",
        "TAG_NAME",
        "CHANGE_ID",
        "CHANGE_TARGET",
        "CHANGE_BRANCH",
        "BUILD_URL",
        "BUILD_NUMBER",
        "BUILD_ID",
        "SOURCE_DATE_EPOCH",
        "CI",
        "GITLAB_CI",
        "GITHUB_ACTIONS",
        "DOCKER_CONFIG",
        # Set when pytest runs from a git hook; they would point git at the wrong repository.
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    }
)

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Dockyard Test",
    "GIT_AUTHOR_EMAIL": "test@dockyard.invalid",
    "GIT_COMMITTER_NAME": "Dockyard Test",
    "GIT_COMMITTER_EMAIL": "test@dockyard.invalid",
}


def scrubbed(names: Iterable[str]) -> list[str]:
    """The variables among `names` that a test must not see. DOCKER_HOST is kept on purpose."""
    return sorted(n for n in names if n in SCRUBBED_NAMES or n.startswith(SCRUBBED_PREFIXES))


def make_hermetic(monkeypatch: pytest.MonkeyPatch, environ: Iterable[str], home: Path) -> None:
    """Scrub CI variables, point HOME at `home` and cut git off from any system or user config."""
    for name in scrubbed(environ):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
