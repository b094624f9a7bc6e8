"""The release workflow (.github/workflows/release.yml) run by nektos/act for a release tag,
as far as it goes here: Dockyard's own image built offline and pushed by Dockyard (`uses:
./`) to a loopback registry standing in for ghcr.io, then the sdist and wheel built and
checked by twine. The publish step does not run under act (`if: !env.ACT`): PyPI's
trusted publishing needs GitHub's OIDC token. act still fetches every action of a job
before it starts, so the publish action is a stand-in that fails if it ever runs
(`--local-repository`): nothing leaves the machine."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from ci_tools import checkout_copy, git, remove_images, run, tool, tool_env, write_event

from dockyard import __version__
from support.availability import is_ci
from support.own_image import BUILD_ARGS, WHEELHOUSE, require_offline_inputs
from support.registry import Registry

pytestmark = pytest.mark.integration
IN_CI = is_ci()
NAME = "dockyard-ci/dockyard"
PUBLISH = "pypa/gh-action-pypi-publish@76f52bc884231f62b9a034ebfe128415bbaabdfc"
NEVER_RUN = """\
name: stand-in for pypa/gh-action-pypi-publish
description: The release workflow's publish step must not run under act.
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "the publish step ran under act" && exit 1
"""


@pytest.fixture
def released(docker_engine: docker.DockerClient, registry: Registry) -> Iterator[str]:
    """The image's repository on the loopback registry; the engine's copies removed after."""
    require_offline_inputs(docker_engine, ci=IN_CI)
    repository = f"{registry.host}/{NAME}"
    yield repository
    remove_images(docker_engine, [repository])


def test_a_release_tag_pushes_dockyards_image_with_dockyard_and_checks_the_dists(
    released: str, registry: Registry, tmp_path: Path,
) -> None:
    repo = checkout_copy(tmp_path / "repo")
    git(repo, "remote", "add", "origin", f"https://github.com/{NAME}.git")
    tag = f"v{__version__}"
    git(repo, "tag", tag)
    sha = git(repo, "rev-parse", "HEAD")
    # The offline image build installs from a wheelhouse in its context (act copies it).
    shutil.copytree(WHEELHOUSE, repo / "wheelhouse", ignore=shutil.ignore_patterns("dockyard-*"))
    event = write_event(tmp_path / "event.json", {
        "ref": f"refs/tags/{tag}",
        "repository": {"full_name": NAME, "default_branch": "main",
                       "html_url": f"https://github.com/{NAME}"},
        "head_commit": {"timestamp": "2024-05-06T07:08:09Z"}})
    env = tool_env(PIP_FIND_LINKS=str(WHEELHOUSE))  # `build`'s isolated env finds setuptools
    passed = {
        "DOCKYARD_RELEASE_REGISTRY": registry.host,
        "DOCKYARD_RELEASE_BASE": BUILD_ARGS["BASE"],
        "DOCKYARD_RELEASE_PIP_NO_INDEX": BUILD_ARGS["PIP_NO_INDEX"],
        "DOCKYARD_RELEASE_PIP_FIND_LINKS": BUILD_ARGS["PIP_FIND_LINKS"],
        **{k: env[k] for k in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_NO_BUILD_ISOLATION")},
    }
    if "DOCKER_HOST" in env:
        passed["DOCKER_HOST"] = env["DOCKER_HOST"]
    # with a token the action asks the GitHub API for repository labels: keep it on loopback
    passed["GITHUB_API_URL"] = "http://127.0.0.1:9/api/v3"
    publish = tmp_path / "publish"
    publish.mkdir()
    (publish / "action.yml").write_text(NEVER_RUN)
    command = [tool("act"), "push", "-W", ".github/workflows/release.yml",
               "-P", "ubuntu-latest=-self-hosted", "-e", str(event),
               "--local-repository", f"{PUBLISH}={publish}",
               "-s", "GITHUB_TOKEN=unused-here", *(f"--env={k}={v}" for k, v in passed.items())]
    done = run(command, repo, env)
    assert done.code == 0, done.log

    major_minor = ".".join(__version__.split(".")[:2])
    assert set(registry.tags(NAME)) == {__version__, major_minor, f"sha-{sha[:7]}"}
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.log)  # twine colours its verdicts
    for dist in (f"dockyard-{__version__}-py3-none-any.whl", f"dockyard-{__version__}.tar.gz"):
        assert f"Checking dist/{dist}: PASSED" in plain
    assert "the publish step ran under act" not in done.log
    version = subprocess.run(["docker", "run", "--rm", f"{released}:{__version__}",
                              "--version"], capture_output=True, text=True, timeout=300,
                             check=False)
    assert version.stdout.strip() == f"dockyard {__version__}", version.stderr
