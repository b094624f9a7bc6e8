""".gitlab-ci-template.yml, run: the `.dockyard` job's scripts executed with bash in a
GitLab-like environment against the real engine and a loopback registry with auth."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from ci_harness import REPO, copy_checkout, gitlab_job_env, load_gitlab, machine_env

from support.registry import Registry

pytestmark = pytest.mark.integration
REPOSITORY_TOKEN = "glcbt-repository-url-token-31337"


def test_the_job_pushes_ci_registry_image_and_writes_the_dotenv_report(
    git_repo: Callable[..., Path], auth_registry: Registry, tmp_path: Path,
) -> None:
    template = load_gitlab(REPO / ".gitlab-ci-template.yml")
    job = template[".dockyard"]
    assert template["dockyard"]["extends"] == ".dockyard"
    # No dockyard.yml: the template's defaults push $CI_REGISTRY_IMAGE.
    repo = git_repo(tags=("v2.0.1",))
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    project = f"group/gl-{uuid.uuid4().hex[:8]}"
    password = auth_registry.password
    assert auth_registry.username is not None and password is not None
    predefined = {
        **machine_env(),
        "CI": "true", "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(repo), "CI_PROJECT_PATH": project,
        "CI_PROJECT_URL": f"https://gitlab.example.com/{project}",
        "CI_REPOSITORY_URL": f"https://gitlab-ci-token:{REPOSITORY_TOKEN}@gitlab.example.com/"
                             f"{project}.git",
        "CI_REGISTRY": auth_registry.host,
        "CI_REGISTRY_IMAGE": f"{auth_registry.host}/{project}",
        "CI_REGISTRY_USER": auth_registry.username,
        "CI_REGISTRY_PASSWORD": password,
        "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": sha, "CI_COMMIT_TAG": "v2.0.1",
        "CI_COMMIT_REF_NAME": "v2.0.1", "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_TIMESTAMP": "2024-05-06T07:08:09+00:00",
        "CI_PIPELINE_ID": "99", "CI_PIPELINE_IID": "12",
        "CI_PIPELINE_URL": f"https://gitlab.example.com/{project}/-/pipelines/99",
        "CI_JOB_URL": f"https://gitlab.example.com/{project}/-/jobs/1234",
    }
    # As project variables would: the local engine instead of the dind service, and the
    # checkout under test instead of the pinned release (pip is offline in tests).
    venv = tmp_path / "job-python"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    overrides = {
        "DOCKER_HOST": predefined.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
        "DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": "",
        "DOCKYARD_PACKAGE": str(copy_checkout(tmp_path / "checkout")),
        "PATH": f"{venv / 'bin'}:{predefined['PATH']}",
    }
    env = gitlab_job_env(job, predefined, overrides)
    # The runner runs before_script and script in one shell, stopping at the first failure.
    script = "\n".join(["set -eo pipefail", *job["before_script"], *job["script"]])
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=repo, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout

    image = f"{auth_registry.host}/{project}"
    assert set(auth_registry.tags(project)) == {"v2.0.1", "latest"}
    dotenv_path = repo / job["artifacts"]["reports"]["dotenv"]
    dotenv = dict(line.split("=", 1) for line in dotenv_path.read_text().splitlines())
    digest = auth_registry.manifest_digest(project, "v2.0.1")
    assert dotenv["DOCKYARD_DIGEST"] == digest
    assert dotenv["DOCKYARD_VERSION"] == "v2.0.1"
    assert dotenv["DOCKYARD_TAG"] == f"{image}:v2.0.1"
    assert len(dotenv_path.read_bytes()) <= 5120 and len(dotenv) <= 50

    [record_path] = job["artifacts"]["paths"]
    record = json.loads((repo / record_path).read_text())
    assert record["status"] == "success" and record["digest"] == digest
    assert record["context"]["provider"] == "gitlab"
    assert record["context"]["repo_url"] == f"https://gitlab.example.com/{project}"
    assert "\x1b[0Ksection_start:" in done.stdout and "\x1b[0Ksection_end:" in done.stdout

    for text in (done.stdout, dotenv_path.read_text(), (repo / record_path).read_text()):
        assert password not in text
        assert REPOSITORY_TOKEN not in text
    scripts = "\n".join([*job["before_script"], *job["script"]])
    assert "CI_REPOSITORY_URL" not in (REPO / ".gitlab-ci-template.yml").read_text()
    assert "PASSWORD" not in scripts  # no password on a command line
