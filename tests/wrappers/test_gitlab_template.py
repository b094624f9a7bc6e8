""".gitlab-ci-template.yml, the example pipeline and docs/ci.md's snippet, run by
gitlab-ci-local (npm, 4.73.0) with its shell executor for branch, tag and merge-request
pipelines, against the real engine and a loopback registry with auth; and their `needs`
checked by `--validate-dependency-chain` in every pipeline, a branch with an open merge
request included. The remote include is read from this checkout (`include: local`), and
the jobs take the template's `.dockyard-docker-socket` switch, as on a shell runner:
gitlab-ci-local would otherwise pull the docker:dind service, and nothing can be pulled."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ci_tools import checkout_copy, commit_all, git, run, tool, tool_env, unique

from support.images import push_image
from support.registry import Registry
from support.standin import Answer, StandIn

pytestmark = pytest.mark.integration
REMOTE = "  - remote: https://raw.githubusercontent.com/dockyard-ci/dockyard/v0.1.0/" \
         ".gitlab-ci-template.yml\n"
LOCAL = "  - local: /.gitlab-ci-template.yml\n"
REPOSITORY_TOKEN = "glcbt-repository-url-token-31337"
EXAMPLE = "examples/gitlab/.gitlab-ci.yml"
DOC_SNIPPET = "docs-snippet.gitlab-ci.yml"
COMPONENT = "component.gitlab-ci.yml"
OWN = ".gitlab-ci.yml"  # Dockyard's own release pipeline
# The catalog component, included as a project's pipeline would, with its inputs.
COMPONENT_PIPELINE = """\
include:
  - local: /templates/dockyard.yml
    inputs:
      docker: {docker}
      job-name: image-build
      config: examples/gitlab/dockyard.yml
deploy:
  stage: deploy
  needs: [image-build]
  rules: !reference [.dockyard, rules]
  script:
    - echo "deploying $DOCKYARD_TAG ($DOCKYARD_DIGEST)"
"""
# What each kind of pipeline sets beyond what gitlab-ci-local reads from git.
PIPELINES: dict[str, tuple[list[str], list[str]]] = {  # (variables, unset)
    "branch": ([], []),
    "branch-with-open-mr": (["CI_OPEN_MERGE_REQUESTS=group/proj!7"], []),
    "tag": (["CI_COMMIT_TAG=v1.2.3", "CI_COMMIT_REF_NAME=v1.2.3", "CI_COMMIT_REF_SLUG=v1-2-3"],
            ["CI_COMMIT_BRANCH"]),
    "merge-request": (["CI_PIPELINE_SOURCE=merge_request_event", "CI_MERGE_REQUEST_IID=7",
                       "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=main",
                       "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=release",
                       "CI_OPEN_MERGE_REQUESTS=group/proj!7"], ["CI_COMMIT_BRANCH"]),
    "schedule": (["CI_PIPELINE_SOURCE=schedule"], []),
}
PREDEFINED = "GITLAB_CI,CI_REGISTRY,CI_REGISTRY_IMAGE,CI_REGISTRY_USER,CI_REGISTRY_PASSWORD," \
             "CI_REPOSITORY_URL,CI_COMMIT_TAG,CI_COMMIT_REF_NAME,CI_COMMIT_REF_SLUG," \
             "CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_IID,CI_OPEN_MERGE_REQUESTS,CI_API_V4_URL," \
             "CI_PROJECT_ID"


def docs_snippet(job: str = "deploy:") -> str:
    doc = (Path(__file__).parents[2] / "docs" / "ci.md").read_text(encoding="utf-8")
    [snippet] = [b for b in re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)
                 if "- remote:" in b and job in b]
    return snippet


def project(scratch: Path, project_path: str) -> tuple[Path, str]:
    """This checkout as a GitLab project: the example pipeline and the docs snippet with
    the template included from the checkout and the engine switched to the socket."""
    repo = checkout_copy(scratch / "repo")
    example = repo / EXAMPLE
    text = example.read_text()
    assert REMOTE in text and "  extends: .dockyard\n" in text
    example.write_text(text.replace(REMOTE, LOCAL).replace(
        "  extends: .dockyard\n", "  extends: [.dockyard, .dockyard-docker-socket]\n"))
    snippet = docs_snippet()
    assert REMOTE in snippet
    socket = "\ndockyard:\n  extends: [.dockyard, .dockyard-docker-socket]\n"
    (repo / DOC_SNIPPET).write_text(snippet.replace(REMOTE, LOCAL) + socket)
    (repo / COMPONENT).write_text(COMPONENT_PIPELINE.format(docker="socket"))
    git(repo, "remote", "add", "origin", f"https://gitlab.example.com/{project_path}.git")
    sha = commit_all(repo, "the pipelines include the checkout's template")
    # gitlab-ci-local reads the default branch from origin/HEAD
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return repo, sha


def gitlab_ci_local(repo: Path, pipeline_file: str, pipeline: str, *args: str,
                    variables: dict[str, str] | None = None) -> tuple[int, str]:
    extra, unset = PIPELINES[pipeline]
    command = [tool("gitlab-ci-local"), "--file", pipeline_file, "--force-shell-executor",
               "--no-color", "--ignore-predefined-vars", PREDEFINED,
               "--variable", "GITLAB_CI=true", *args]
    for item in [*extra, *(f"{k}={v}" for k, v in (variables or {}).items())]:
        command += ["--variable", item]
    for name in unset:
        command += ["--unset-variable", name]
    done = run(command, repo, tool_env())
    return done.code, done.log


def registry_variables(registry: Registry, project_path: str) -> dict[str, str]:
    assert registry.username is not None and registry.password is not None
    return {"CI_REGISTRY": registry.host, "CI_REGISTRY_IMAGE": f"{registry.host}/{project_path}",
            "CI_REGISTRY_USER": registry.username, "CI_REGISTRY_PASSWORD": registry.password,
            "CI_REPOSITORY_URL": f"https://gitlab-ci-token:{REPOSITORY_TOKEN}@gitlab.example"
                                 f".com/{project_path}.git",
            "PIP_NO_INDEX": "1"}


@pytest.mark.parametrize(("pipeline", "pipeline_file"), [
    ("branch", EXAMPLE), ("tag", EXAMPLE), ("merge-request", EXAMPLE),
    ("branch", COMPONENT), ("tag", COMPONENT)])
def test_the_example_pipeline_pushes_and_hands_the_dotenv_report_to_deploy(
    pipeline: str, pipeline_file: str, auth_registry: Registry, built: list[str],
    tmp_path: Path,
) -> None:
    project_path = f"group/{unique('gl')}"
    image = f"{auth_registry.host}/{project_path}"
    built.append(image)
    repo, sha = project(tmp_path, project_path)
    code, log = gitlab_ci_local(repo, pipeline_file, pipeline,
                                variables=registry_variables(auth_registry, project_path))
    assert code == 0, log

    expected = {"branch": {"main", f"sha-{sha[:7]}"},
                "tag": {"1.2.3", "1.2", "latest", f"sha-{sha[:7]}"},
                "merge-request": {"pr-7", f"sha-{sha[:7]}"}}[pipeline]
    assert set(auth_registry.tags(project_path)) == expected
    digest = auth_registry.manifest_digest(project_path, f"sha-{sha[:7]}")
    first = {"branch": "main", "tag": "1.2.3", "merge-request": "pr-7"}[pipeline]
    assert f"deploying {image}:{first} ({digest})" in log  # deploy got the dotenv report
    record = json.loads((repo / "dockyard-release.json").read_text())
    assert record["status"] == "success" and record["context"]["provider"] == "gitlab"
    password = auth_registry.password
    assert password is not None and password not in log


def test_the_ready_job_of_the_docs_snippet_pushes_ci_registry_image(
    auth_registry: Registry, built: list[str], tmp_path: Path,
) -> None:
    """No dockyard.yml: the template's defaults push $CI_REGISTRY_IMAGE with the job's
    registry credentials, which reach Dockyard by reference only."""
    project_path = f"group/{unique('gl')}"
    image = f"{auth_registry.host}/{project_path}"
    built.append(image)
    repo, _ = project(tmp_path, project_path)
    code, log = gitlab_ci_local(repo, DOC_SNIPPET, "tag",
                                variables={**registry_variables(auth_registry, project_path),
                                           "DOCKYARD_CONTEXT": "examples/hello"})
    assert code == 0, log

    assert set(auth_registry.tags(project_path)) == {"v1.2.3", "latest"}
    digest = auth_registry.manifest_digest(project_path, "v1.2.3")
    assert f"deploying {image}:v1.2.3 ({digest})" in log
    dotenv_path = repo / "dockyard.env"
    dotenv = dict(line.split("=", 1) for line in dotenv_path.read_text().splitlines())
    assert dotenv["DOCKYARD_DIGEST"] == digest and dotenv["DOCKYARD_VERSION"] == "v1.2.3"
    assert len(dotenv_path.read_bytes()) <= 5120 and len(dotenv) <= 50
    record_text = (repo / "dockyard-release.json").read_text()
    assert json.loads(record_text)["context"]["repo_url"] == \
        f"https://gitlab.example.com/{project_path}"
    password = auth_registry.password
    assert password is not None
    for text in (log, dotenv_path.read_text(), record_text):
        assert password not in text
        assert REPOSITORY_TOKEN not in text


@pytest.mark.parametrize("pipeline", [p for p in PIPELINES if p != "schedule"])
def test_needs_hold_in_every_pipeline(pipeline: str, tmp_path: Path) -> None:
    repo, _ = project(tmp_path, "group/proj")
    for pipeline_file in (EXAMPLE, DOC_SNIPPET, COMPONENT, OWN):
        code, log = gitlab_ci_local(repo, pipeline_file, pipeline,
                                    "--validate-dependency-chain")
        assert code == 0, f"{pipeline_file}: {log}"
        assert "All job dependencies are valid" in log
    code, log = gitlab_ci_local(repo, EXAMPLE, pipeline, "--list")
    assert code == 0, log
    jobs = {line.split()[0] for line in log.splitlines()
            if line.startswith(("image-build ", "deploy "))}
    assert jobs == (set() if pipeline == "branch-with-open-mr" else {"image-build", "deploy"})


def test_the_dependency_check_refuses_a_job_needing_a_job_left_out(tmp_path: Path) -> None:
    """The check is not vacuous: the example as it was before issue 16 (deploy without the
    image job's rules) fails in a branch pipeline with an open merge request."""
    repo, _ = project(tmp_path, "group/proj")
    example = repo / EXAMPLE
    example.write_text(example.read_text().replace("  rules: !reference [.dockyard, rules]\n",
                                                   ""))
    commit_all(repo, "deploy without rules")
    code, log = gitlab_ci_local(repo, EXAMPLE, "branch-with-open-mr",
                                "--validate-dependency-chain")
    assert code != 0
    assert "image-build is when:never, but its needed by deploy" in log


def test_the_component_refuses_an_engine_it_does_not_know(tmp_path: Path) -> None:
    repo, _ = project(tmp_path, "group/proj")
    (repo / COMPONENT).write_text(COMPONENT_PIPELINE.format(docker="podman"))
    commit_all(repo, "an unknown engine")
    code, log = gitlab_ci_local(repo, COMPONENT, "branch", "--list")
    assert code != 0
    assert "`docker` input: `podman` cannot be used" in log, log


@pytest.mark.parametrize("pipeline", ["branch", "tag"])
def test_the_projects_own_pipeline_releases_on_tags_only(pipeline: str, tmp_path: Path) -> None:
    repo, _ = project(tmp_path, "dockyard-ci/dockyard")
    code, log = gitlab_ci_local(repo, OWN, pipeline, "--list")
    assert code == 0, log
    jobs = {line.split()[0] for line in log.splitlines()
            if line.startswith(("image-release ", "pypi "))}
    assert jobs == ({"image-release", "pypi"} if pipeline == "tag" else set())


PRUNE_CONFIG = """\
images: ["${CI_REGISTRY_IMAGE}"]
tags:
  - type=semver,pattern={{version}}
  - type=ref,event=branch
  - type=ref,event=pr
retention: {branches: existing, pull_requests: open}
"""
PRUNE_COMPONENT = """\
include:
  - local: /templates/dockyard.yml
    inputs:
      job-name: prune-images
      command: prune
      docker: none
      open-prs: "4"
      branches: main
prune-images:  # the component's job, given a schedule's rules
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
report:
  stage: deploy
  needs: [prune-images]
  rules: !reference [prune-images, rules]
  script:
    - echo "applied $DOCKYARD_PRUNE_APPLIED, would delete $DOCKYARD_PRUNE_DELETE"
"""


class MergeRequests(StandIn):
    """GitLab's merge request API on loopback: merge request !4 is open, on two pages."""

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        page = path.rsplit("page=", 1)[-1]
        listed = [{"iid": 4}] if page == "1" else []
        return 200, {"X-Next-Page": "2" if page == "1" else ""}, json.dumps(listed).encode()


def prune_project(tmp_path: Path, registry: Registry) -> tuple[Path, str, set[str]]:
    """A project whose registry holds a release, the default branch's tag, a deleted
    branch's and two merge requests' (!4 open)."""
    project_path = f"group/{unique('glprune')}"
    for tag in ("1.0.0", "main", "feature-gone", "pr-3", "pr-4"):
        push_image(registry, project_path, tag,
                   labels={"org.opencontainers.image.version": tag})
    repo, _ = project(tmp_path, project_path)
    (repo / "dockyard.yml").write_text(PRUNE_CONFIG)
    (repo / "prune.gitlab-ci.yml").write_text(
        docs_snippet("prune-images:").replace(REMOTE, LOCAL))
    (repo / "prune-component.gitlab-ci.yml").write_text(PRUNE_COMPONENT)
    commit_all(repo, "a retention policy and the prune pipelines")
    return repo, project_path, set(registry.tags(project_path))


def test_the_docs_scheduled_prune_job_asks_for_open_merge_requests_and_deletes(
    auth_registry: Registry, tmp_path: Path,
) -> None:
    repo, project_path, before = prune_project(tmp_path, auth_registry)
    api = MergeRequests(auth_registry)
    try:
        code, log = gitlab_ci_local(repo, "prune.gitlab-ci.yml", "schedule", variables={
            **registry_variables(auth_registry, project_path),
            "CI_API_V4_URL": f"{api.url}/api/v4", "CI_PROJECT_ID": "31",
            "GITLAB_API_TOKEN": "glpat-api-token-31337", "DOCKYARD_BRANCHES": "main"})
    finally:
        api.close()
    assert code == 0, log

    assert ("GET", "/api/v4/projects/31/merge_requests") in api.requests
    assert set(auth_registry.tags(project_path)) == before - {"feature-gone", "pr-3"}
    record = json.loads((repo / "dockyard-release.json").read_text())
    assert record["command"] == "prune" and record["applied"] is True
    deleted = {tag for d in record["repositories"][0]["deleted"] for tag in d["tags"]}
    assert deleted == {"feature-gone", "pr-3"}
    dotenv = dict(line.split("=", 1) for line in (repo / "dockyard.env").read_text().splitlines())
    assert dotenv["DOCKYARD_PRUNE_APPLIED"] == "true"
    image = f"{auth_registry.host}/{project_path}"
    assert set(dotenv["DOCKYARD_PRUNE_DELETED"].split(" ")) == {f"{image}:feature-gone",
                                                                f"{image}:pr-3"}
    password = auth_registry.password
    assert password is not None and password not in log
    assert "glpat-api-token-31337" not in log

    # Outside a schedule, the job is not in the pipeline.
    code, log = gitlab_ci_local(repo, "prune.gitlab-ci.yml", "branch", "--list")
    assert code == 0, log
    assert "prune-images" not in log


def test_the_components_prune_job_is_a_dry_run_that_hands_on_what_would_go(
    auth_registry: Registry, tmp_path: Path,
) -> None:
    repo, project_path, before = prune_project(tmp_path, auth_registry)
    code, log = gitlab_ci_local(repo, "prune-component.gitlab-ci.yml", "schedule",
                                variables=registry_variables(auth_registry, project_path))
    assert code == 0, log

    assert set(auth_registry.tags(project_path)) == before  # a dry run
    image = f"{auth_registry.host}/{project_path}"
    line = next(line for line in log.splitlines() if "would delete " in line
                and "applied " in line and "echo" not in line)
    assert "applied false," in line
    assert set(line.split("would delete ", 1)[1].split()) == {f"{image}:feature-gone",
                                                             f"{image}:pr-3"}
    record = json.loads((repo / "dockyard-release.json").read_text())
    assert record["repositories"][0]["status"] == "planned"

    code, log = gitlab_ci_local(repo, "prune-component.gitlab-ci.yml", "branch", "--list")
    assert code == 0, log
    assert "prune-images" not in log and "report" not in log


def test_the_template_refuses_a_command_it_does_not_run(
    auth_registry: Registry, tmp_path: Path,
) -> None:
    repo, project_path, before = prune_project(tmp_path, auth_registry)
    code, log = gitlab_ci_local(repo, "prune.gitlab-ci.yml", "schedule", variables={
        **registry_variables(auth_registry, project_path), "DOCKYARD_COMMAND": "init"})
    assert code != 0
    assert "DOCKYARD_COMMAND is 'init': use run, plan or prune" in log
    assert set(auth_registry.tags(project_path)) == before
