"""jenkins/vars/dockyard.groovy, run by Debian's groovy under a harness standing in for
`sh`, `withEnv`, `withCredentials`, `readJSON` and `env`; its `sh` really runs the CLI
against the real engine and a loopback registry with auth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ci_harness import REPO, machine_env

from support.availability import is_ci, unavailable
from support.registry import Registry

pytestmark = pytest.mark.integration
HARNESS = Path(__file__).with_name("jenkins_harness.groovy")
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"  # groovy's default path does not exist here
IN_CI = is_ci()  # read at collection, before the hermetic fixture scrubs CI


def run_step(snippet: str, workspace: Path, credentials: dict[str, Any],
             env: dict[str, str], scratch: Path) -> tuple[dict[str, Any], str]:
    if shutil.which("groovy") is None:
        unavailable("groovy is missing: apt-get install -y groovy", ci=IN_CI)
    (scratch / "snippet.groovy").write_text(textwrap.dedent(snippet))
    (scratch / "credentials.json").write_text(json.dumps(credentials))
    transcript = scratch / "transcript.json"
    done = subprocess.run(
        ["groovy", str(HARNESS), str(REPO / "jenkins" / "vars"), str(scratch / "snippet.groovy"),
         str(scratch / "credentials.json"), str(transcript)],
        cwd=workspace, env={**env, "JAVA_HOME": JAVA_HOME}, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(transcript.read_text())
    return result, done.stdout + done.stderr


def test_the_step_pushes_with_bound_credentials_and_returns_the_record(
    git_repo: Callable[..., Path], auth_registry: Registry, tmp_path: Path,
) -> None:
    name = f"acme/jk-{uuid.uuid4().hex[:8]}"
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": "hi\n",
                     "dockyard.yml": f"images: [{auth_registry.host}/{name}]\n"
                                     "tags:\n  - type=ref,event=branch\n  - type=sha\n"},
                    branch="release")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    password = auth_registry.password
    env = {**machine_env(), "JENKINS_URL": "https://jenkins.example.com/",
           "BUILD_URL": "https://jenkins.example.com/job/app/17/", "BUILD_NUMBER": "17",
           "GIT_COMMIT": sha, "GIT_BRANCH": "origin/release",
           "GIT_URL": "https://git.example.com/acme/app.git", "WORKSPACE": str(repo),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    host = auth_registry.host
    # A misspelt argument fails the step before anything runs; then the real call.
    snippet = """\
        String misspelt = null
        try {
            dockyard(imgaes: ['x/y'])
        } catch (RuntimeException exc) {
            misspelt = exc.message
        }
        def record = dockyard(
            config: 'dockyard.yml',
            credentials: [usernamePassword(credentialsId: 'registry',
                                           usernameVariable: 'REG_USER',
                                           passwordVariable: 'REG_PASSWORD')],
            registries: 'HOST: {username: "${REG_USER}", password: "${REG_PASSWORD}"}',
            labels: ['org.example.team': 'payments'],
        )
        [record: record, misspelt: misspelt]
        """.replace("HOST", host)
    result, log = run_step(snippet, repo,
                           {"registry": {"username": auth_registry.username,
                                         "password": password}}, env, tmp_path)

    assert result["error"] is None, log
    [call] = result["calls"]
    assert call["script"] == 'dockyard run --output "$DOCKYARD_RECORD"'
    assert password not in call["script"]
    assert call["variables"] == ["DOCKYARD_CONFIG", "DOCKYARD_LABELS", "DOCKYARD_RECORD",
                                 "DOCKYARD_REGISTRIES", "REG_PASSWORD", "REG_USER"]
    assert "unknown argument(s) [imgaes]" in result["result"]["misspelt"]
    record = result["result"]["record"]
    assert record["status"] == "success"
    assert record["context"]["provider"] == "jenkins"
    assert record["context"]["branch"] == "release"  # origin/ stripped from GIT_BRANCH
    assert record["labels"]["org.example.team"] == "payments"
    assert set(auth_registry.tags(name)) == {"release", f"sha-{sha[:7]}"}
    assert record["digest"] == auth_registry.manifest_digest(name, "release")
    assert password not in log
    assert password not in (repo / "dockyard-release.json").read_text()
