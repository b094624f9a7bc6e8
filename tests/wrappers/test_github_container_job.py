"""action.yml in a `container:` job, run by nektos/act: the job's steps run in an image
built offline (tests/support/job_image.py), `uses: ./` is the action from the checkout,
and the action installs Dockyard in there and pushes through the engine's socket to a
loopback registry with auth.

What act does as GitHub's runner does: it mounts the engine's socket into the job
container (so the workflow must not: a second `-v /var/run/docker.sock:...` is a
"Duplicate mount point"), copies the checkout in, and runs the action's steps inside.
Where it differs: its job containers share the host's network (`--network host`, said
here explicitly), so 127.0.0.1 in the job is the loopback registry; GitHub's runner puts
them on a network of its own and refuses `--network` in `options:`. And act resolves
`${{ github.action_path }}` to the container's path, so a run cannot tell the expression
from `$GITHUB_ACTION_PATH`; GitHub's runner gives the host's, hence the last test here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml
from ci_harness import REPO
from ci_tools import checkout_copy, commit_all, git, run, tool, tool_env, unique, write_event

from support.availability import is_ci
from support.job_image import build_job_image
from support.registry import Registry

IN_CI = is_ci()

WORKFLOW = """\
on: push
jobs:
  image:
    runs-on: ubuntu-latest
    container:
      image: {image}
      volumes: ["{outputs}:{outputs}"]
    steps:
      - uses: actions/checkout@v4  # act copies the working tree into the container
      - id: dockyard
        uses: ./
        with:
          images: {auth}/{name}
          tags: |
            type=semver,pattern={{{{version}}}}
            type=sha
          context: app
          push: "true"
          registries: |
            {auth}: {{username: {username}, password: "${{REGISTRY_PASSWORD}}"}}
        env:
          REGISTRY_PASSWORD: ${{{{ secrets.REGISTRY_PASSWORD }}}}
      - env:
          DIGEST: ${{{{ steps.dockyard.outputs.digest }}}}
          TAGS: ${{{{ steps.dockyard.outputs.tags }}}}
          PUSHED: ${{{{ steps.dockyard.outputs.pushed }}}}
          RECORD: ${{{{ steps.dockyard.outputs.json }}}}
        run: >-
          python3 -c 'import json, os, sys; json.dump({{k: os.environ.get(k) for k in
          ("DIGEST", "TAGS", "PUSHED", "RECORD", "PIP_FIND_LINKS")}}, open(sys.argv[1], "w"))'
          {outputs}/outputs.json
"""


@pytest.fixture(scope="module")
def job_image(docker_engine: docker.DockerClient,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tag = build_job_image(docker_engine, tmp_path_factory.mktemp("job-image"), ci=IN_CI)
    yield tag
    docker_engine.images.remove(tag, force=True)


@pytest.mark.integration
def test_the_action_in_a_container_job_pushes_through_the_mounted_socket(
    job_image: str, auth_registry: Registry, built: list[str], tmp_path: Path,
) -> None:
    name = f"acme/{unique('container')}"
    built.append(f"{auth_registry.host}/{name}")
    repo = checkout_copy(tmp_path / "repo", with_examples=False)  # action.yml at its root
    (repo / "app").mkdir()
    (repo / "app" / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (repo / "app" / "hello.txt").write_text("hi\n")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "container.yml").write_text(WORKFLOW.format(
        image=job_image, outputs=outputs, auth=auth_registry.host, name=name,
        username=auth_registry.username))
    git(repo, "remote", "add", "origin", f"https://github.com/{name}.git")
    sha = commit_all(repo, "an image built in a container job")
    git(repo, "tag", "v2.0.1")
    password = auth_registry.password
    assert password is not None
    (tmp_path / "secrets").write_text(f"REGISTRY_PASSWORD={password}\n")
    event = {"ref": "refs/tags/v2.0.1", "head_commit": {"timestamp": "2024-05-06T07:08:09Z"},
             "repository": {"full_name": name, "default_branch": "main",
                            "html_url": f"https://github.com/{name}"}}
    done = run([tool("act"), "push", "-W", ".github/workflows/container.yml",
                # the job's image is given by `container:`; nothing is pulled
                "-P", f"ubuntu-latest={job_image}", "--pull=false", "--network", "host",
                "-e", str(write_event(tmp_path / "event.json", event)),
                "--secret-file", str(tmp_path / "secrets"),
                "--env", "GITHUB_API_URL=http://127.0.0.1:9/api/v3"],  # a closed port
               repo, tool_env())
    log = done.log
    assert done.code == 0, log
    seen = json.loads((outputs / "outputs.json").read_text())
    assert seen["PIP_FIND_LINKS"] == "/wheelhouse"  # the steps ran in the job's image

    expected = {"2.0.1", "latest", f"sha-{sha[:7]}"}
    assert set(auth_registry.tags(name)) == expected
    digest = seen["DIGEST"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    for tag in expected:
        assert auth_registry.manifest_digest(name, tag) == digest
    references = {f"{auth_registry.host}/{name}:{tag}" for tag in expected}
    assert set(seen["TAGS"].splitlines()) == references
    assert seen["TAGS"].splitlines()[0] == f"{auth_registry.host}/{name}:2.0.1"
    assert set(seen["PUSHED"].splitlines()) == references
    record = json.loads(seen["RECORD"])
    assert record["status"] == "success" and record["digest"] == digest
    assert record["context"]["provider"] == "github"
    assert record["backend"]["buildx_found"] is False
    assert record["backend"]["name"] == "docker-py"  # no docker CLI, no buildx: the socket
    assert password not in log and password not in (outputs / "outputs.json").read_text()


def test_the_action_names_its_own_path_by_the_variable_never_the_expression() -> None:
    """In a `container:` job GitHub's runner gives `${{ github.action_path }}` as the host's
    path, which the container does not have; `$GITHUB_ACTION_PATH` is the container's.
    act gives the container's path for both, so no run above can catch the expression."""
    steps = yaml.safe_load((REPO / "action.yml").read_text())["runs"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert any("$GITHUB_ACTION_PATH" in script for script in scripts)
    expression = re.compile(r"\$\{\{[^}]*\bgithub\.action_path\b")
    assert not [script for script in scripts if expression.search(script)]
