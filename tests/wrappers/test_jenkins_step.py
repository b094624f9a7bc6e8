"""jenkins/vars/dockyard.groovy, compiled by groovyc and run by Debian's groovy under a
home-made harness (tests/wrappers/jenkins_harness.groovy): no Jenkins runs offline, so the
harness stands in for `sh`, `withEnv`, `withCredentials`, `fileExists` and `env`, while
`readJSON` and `writeJSON` are json-lib's JSONSerializer (Debian's libjson-java, the
library Pipeline Utility Steps uses), JSONNull included. Its `sh` really runs the CLI
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
from support.gitrepo import DEFAULT_FILES
from support.receiver import WebhookReceiver
from support.registry import Registry

pytestmark = pytest.mark.integration
HARNESS = Path(__file__).with_name("jenkins_harness.groovy")
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"  # groovy's default path does not exist here
STEP = REPO / "jenkins" / "vars" / "dockyard.groovy"
# json-lib 2.4 (Debian's libjson-java) and what it needs, as Pipeline Utility Steps has them.
JSON_LIB = [Path("/usr/share/java") / jar for jar in (
    "json-lib.jar", "ezmorph.jar", "commons-lang.jar", "commons-beanutils.jar",
    "commons-collections3.jar", "commons-logging.jar")]
IN_CI = is_ci()  # read at collection, before the hermetic fixture scrubs CI


def require_groovy() -> None:
    if shutil.which("groovy") is None or shutil.which("groovyc") is None:
        unavailable("groovy is missing: apt-get install -y groovy", ci=IN_CI)
    if not all(jar.is_file() for jar in JSON_LIB):
        unavailable("json-lib is missing: apt-get install -y libjson-java", ci=IN_CI)


def jenkins_env(repo: Path, sha: str) -> dict[str, str]:
    return {**machine_env(), "JENKINS_URL": "https://jenkins.example.com/",
            "BUILD_URL": "https://jenkins.example.com/job/app/17/", "BUILD_NUMBER": "17",
            "GIT_COMMIT": sha, "GIT_BRANCH": "origin/release",
            "GIT_URL": "https://git.example.com/acme/app.git", "WORKSPACE": str(repo),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def run_step(snippet: str, workspace: Path, credentials: dict[str, Any],
             env: dict[str, str], scratch: Path) -> tuple[dict[str, Any], str]:
    require_groovy()
    (scratch / "snippet.groovy").write_text(textwrap.dedent(snippet))
    (scratch / "credentials.json").write_text(json.dumps(credentials))
    transcript = scratch / "transcript.json"
    done = subprocess.run(
        ["groovy", "-cp", ":".join(map(str, JSON_LIB)), str(HARNESS), str(STEP.parent),
         str(scratch / "snippet.groovy"), str(scratch / "credentials.json"), str(transcript)],
        cwd=workspace, env={**env, "JAVA_HOME": JAVA_HOME}, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(transcript.read_text())
    return result, done.stdout + done.stderr


def test_the_step_pushes_with_bound_credentials_and_returns_the_record(
    git_repo: Callable[..., Path], auth_registry: Registry, built: list[str], tmp_path: Path,
) -> None:
    name = f"acme/jk-{uuid.uuid4().hex[:8]}"
    built.append(f"{auth_registry.host}/{name}")
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": "hi\n",
                     "dockyard.yml": f"images: [{auth_registry.host}/{name}]\n"
                                     "tags:\n  - type=ref,event=branch\n  - type=sha\n"},
                    branch="release")
    sha = head(repo)
    password = auth_registry.password
    env = jenkins_env(repo, sha)
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
    assert call["script"] == \
        'rm -f "$DOCKYARD_RECORD" && dockyard "$DOCKYARD_COMMAND" --output "$DOCKYARD_RECORD"'
    assert call["label"] == "dockyard run"
    assert password not in call["script"]
    assert call["variables"] == ["DOCKYARD_COMMAND", "DOCKYARD_CONFIG", "DOCKYARD_LABELS",
                                 "DOCKYARD_RECORD", "DOCKYARD_REGISTRIES", "REG_PASSWORD",
                                 "REG_USER"]
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


def test_the_step_compiles_with_groovyc_and_calls_no_class_the_sandbox_rejects(
    tmp_path: Path,
) -> None:
    require_groovy()
    done = subprocess.run(["groovyc", "-d", str(tmp_path), str(STEP)],
                          env={**machine_env(), "JAVA_HOME": JAVA_HOME}, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dockyard.class").is_file()
    # An untrusted library runs in the script-security sandbox: no imports (JsonOutput's
    # toJson(Object) is rejected there), only pipeline steps.
    code = [line for line in STEP.read_text().splitlines()
            if not line.lstrip().startswith("//")]
    assert not [line for line in code if line.startswith("import ")]
    assert "JsonOutput" not in "\n".join(code)


def test_a_failed_run_keeps_its_record_and_a_null_digest_is_falsy(
    git_repo: Callable[..., Path], webhook_receiver: WebhookReceiver, built: list[str],
    tmp_path: Path,
) -> None:
    """An unpushed build's record says digest null, and readJSON's returnPojo makes it a
    real null (json-lib's JSONNull is truthy). A run that fails (a tag rule Dockyard
    refuses: exit 2) still hands its record over: with `propagate: false` as the return
    value; by default in the error, and in the file."""
    image = f"127.0.0.1:9/acme/{uuid.uuid4().hex[:8]}"  # built, never pushed
    built.append(image)
    repo = git_repo({**DEFAULT_FILES, "dockyard.yml": f"images: [{image}]\n"},
                    branch="release")
    snippet = """\
        def built = dockyard(push: false, webhooks: [[url: 'URL']])
        def raw = readJSON(file: 'dockyard-release.json')
        def kept = dockyard(propagate: false, tags: 'type=nonsense')
        String failure = null
        try {
            dockyard(tags: ['type=nonsense'])
        } catch (RuntimeException exc) {
            failure = exc.message
        }
        [built: built, pushed: built.digest ? 'yes' : 'no', kept: kept, failure: failure,
         rawNullIsTruthy: raw.digest ? true : false]
        """.replace("URL", webhook_receiver.url)
    result, log = run_step(snippet, repo, {}, jenkins_env(repo, head(repo)), tmp_path)

    assert result["error"] is None, log
    outcome = result["result"]
    assert outcome["built"]["status"] == "success", outcome["built"]
    assert outcome["built"]["digest"] is None and outcome["pushed"] == "no"
    assert outcome["rawNullIsTruthy"] is True  # why the step asks for returnPojo
    # The webhooks list went through writeJSON, as JSON text that Dockyard read as YAML.
    [delivery] = webhook_receiver.requests
    assert json.loads(delivery.body)["status"] == "success"

    kept = outcome["kept"]
    assert kept["status"] == "failed" and kept["exit_code"] == 2, kept
    assert "unknown type 'nonsense'" in kept["error"]
    failure = outcome["failure"]
    assert "dockyard run failed with exit code 2: " in failure and "DOCKYARD_TAGS" in failure
    assert "(record: dockyard-release.json)" in failure
    assert json.loads((repo / "dockyard-release.json").read_text())["exit_code"] == 2


def test_the_step_prunes_a_dry_run_then_applies_and_returns_prunes_record(
    git_repo: Callable[..., Path], auth_registry: Registry, tmp_path: Path,
) -> None:
    """`dockyard(command: 'prune', ...)`: the record of what goes, with readJSON's real
    nulls (a repository's `error`), `apply: true` deleting, an unknown command refused
    before anything runs; openPrs and branches as lists."""
    from support.images import push_image

    name = f"acme/jk-prune-{uuid.uuid4().hex[:8]}"
    for tag in ("1.0.0", "main", "feature-gone", "pr-3", "pr-4"):
        push_image(auth_registry, name, tag, labels={"org.opencontainers.image.version": tag})
    before = set(auth_registry.tags(name))
    repo = git_repo({**DEFAULT_FILES, "dockyard.yml":
                     f"images: [{auth_registry.host}/{name}]\n"
                     "tags:\n  - type=semver,pattern={{version}}\n  - type=ref,event=branch\n"
                     "  - type=ref,event=pr\n"
                     "retention: {branches: existing, pull_requests: open}\n"},
                    branch="main")
    snippet = """\
        Map options = [command: 'prune', openPrs: [4], branches: ['main'],
                       credentials: [usernamePassword(credentialsId: 'registry',
                                                      usernameVariable: 'REG_USER',
                                                      passwordVariable: 'REG_PASSWORD')],
                       registries: 'HOST: {username: "${REG_USER}", password: "${REG_PASSWORD}"}']
        String unknown = null
        try {
            dockyard(command: 'prun')
        } catch (RuntimeException exc) {
            unknown = exc.message
        }
        def dry = dockyard(options)
        def repository = dry.repositories[0]
        def applied = dockyard(options + [apply: true, output: 'prune.json'])
        [dry: dry, going: repository.delete.collect { it.tag }.sort(),
         errorIsFalsy: repository.error ? false : true, applied: applied, unknown: unknown]
        """.replace("HOST", auth_registry.host)
    result, log = run_step(snippet, repo, {"registry": {"username": auth_registry.username,
                                                        "password": auth_registry.password}},
                           jenkins_env(repo, head(repo)), tmp_path)

    assert result["error"] is None, log
    outcome = result["result"]
    assert outcome["unknown"] == "dockyard: command 'prun' is not one of [run, plan, prune]"
    calls = result["calls"]
    assert [c["label"] for c in calls] == ["dockyard prune", "dockyard prune"]  # prun: none
    assert "DOCKYARD_APPLY" not in calls[0]["variables"] and \
        "DOCKYARD_APPLY" in calls[1]["variables"]
    dry = outcome["dry"]
    assert dry["command"] == "prune" and dry["applied"] is False
    assert outcome["going"] == ["feature-gone", "pr-3"]
    assert outcome["errorIsFalsy"] is True  # a real null, not json-lib's truthy JSONNull
    applied = outcome["applied"]
    assert applied["applied"] is True and applied["status"] == "success"
    deleted = {tag for d in applied["repositories"][0]["deleted"] for tag in d["tags"]}
    assert deleted == {"feature-gone", "pr-3"}
    assert set(auth_registry.tags(name)) == before - deleted
    assert json.loads((repo / "prune.json").read_text())["applied"] is True
    password = auth_registry.password
    assert password is not None and password not in log
