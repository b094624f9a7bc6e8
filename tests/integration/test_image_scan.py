"""No secret in an image (issue 14), through the real `dockyard run` on both engines and
real registries: a registered secret in build args or labels is refused before the build
(exit 2), one baked into the image by the Dockerfile is caught by the pre-push scan
(exit 1) and the registries are left holding nothing of it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import docker
import requests

from support.cli import Outcome, run_cli
from support.engine import EngineUnderTest
from support.registry import Registry, RegistryFactory

USER = "scan-bot"
PASSWORD = "img+Scan/Pw==q8R"  # + / = change under every encoding
HOOK_SECRET = "whsec-image-scan-4471"


def configure(repo: Path, registry: Registry, name: str, extra: str = "") -> None:
    (repo / "dockyard.yml").write_text(textwrap.dedent(f"""\
        images: [{registry.host}/{name}]
        tags: ["type=semver,pattern={{{{version}}}}", type=sha]
        registries:
          {registry.host}: {{username: {USER}, password: "${{REGISTRY_PASSWORD}}"}}
        """) + extra)


def project(git_repo: Callable[..., Path], registry: Registry, name: str, dockerfile: str,
            extra: str = "", files: dict[str, str] | None = None) -> Path:
    """A repository tagged v1.0.0 with `dockerfile` (and `files`), configured to push
    `name` to `registry`."""
    repo = git_repo({"Dockerfile": dockerfile, **(files or {})}, tags=("v1.0.0",))
    configure(repo, registry, name, extra)
    return repo


def dockyard(repo: Path, *args: str) -> Outcome:
    return run_cli(repo, "run", "--format", "json", *args,
                   env={"REGISTRY_PASSWORD": PASSWORD, "HOOK_SECRET": HOOK_SECRET})


def catalog(registry: Registry) -> list[str]:
    """Every repository the registry holds anything of (a layer is enough)."""
    response = requests.get(f"{registry.url}/v2/_catalog", auth=(USER, PASSWORD), timeout=10)
    response.raise_for_status()
    repositories: list[str] = response.json().get("repositories") or []
    return repositories


def shown(outcome: Outcome, secret: str) -> bool:
    text = outcome.stdout + outcome.stderr
    return secret in text or secret.replace("+", "%2B") in text


def test_a_secret_copied_into_the_image_is_caught_before_the_push(
    each_engine: EngineUnderTest, git_repo: Callable[..., Path],
    registry_factory: RegistryFactory,
) -> None:
    registry = registry_factory(USER, PASSWORD)
    repo = project(git_repo, registry, "acme/leaky",
                   f"FROM {each_engine.base_image}\n"
                   "COPY app.ini /etc/app/\n"
                   "COPY deploy.env /etc/app/\n"
                   "RUN echo built > /built.txt\n",
                   files={"app.ini": "[app]\nname = demo\n",
                          "deploy.env": f"REGISTRY_USER={USER}\nREGISTRY_PASSWORD={PASSWORD}\n"})

    outcome = dockyard(repo)

    assert outcome.code == 1, outcome.stderr
    error = outcome.json["error"]
    assert error.startswith("the image holds a registered secret"), error
    assert "file etc/app/deploy.env" in error
    assert "app.ini" not in error
    # named by its place (after the base image's two), digest and instruction: the
    # classic store's export has the layers uncompressed, named by their diff ids
    digest = "uncompressed sha256:" if each_engine.name == "classic" else "sha256:"
    assert f"layer 4 of 5 ({digest}" in error and "COPY" in error
    assert "build.secrets" in error
    assert outcome.json["event"] == "push.failed"
    assert [entry["status"] for entry in outcome.json["registries"]] == ["not pushed"]
    assert not shown(outcome, PASSWORD)
    assert registry.tags("acme/leaky") == [] and catalog(registry) == []

    # the same build without the file pushes: no false alarm on a real image
    (repo / "deploy.env").write_text("REGISTRY_USER=from-the-environment\n")
    again = dockyard(repo)
    assert again.code == 0, again.stderr
    assert "scan_seconds" in again.json["timings"]
    assert registry.tags("acme/leaky") == sorted(t.rsplit(":", 1)[1] for t in again.json["tags"])


def test_a_secret_in_an_env_line_is_caught_naming_the_instruction(
    each_engine: EngineUnderTest, git_repo: Callable[..., Path],
    registry_factory: RegistryFactory,
) -> None:
    registry = registry_factory(USER, PASSWORD)
    repo = project(git_repo, registry, "acme/env",
                   f"FROM {each_engine.base_image}\nENV HOOK_SECRET={HOOK_SECRET} MODE=prod\n",
                   "webhooks:\n  - {url: 'http://127.0.0.1:9/hook', secret: '${HOOK_SECRET}', "
                   "max_attempts: 1}\n")

    outcome = dockyard(repo)

    assert outcome.code == 1, outcome.stderr
    error = outcome.json["error"]
    assert "the image config sha256:" in error
    assert "ENV HOOK_SECRET" in error
    assert "the instruction `ENV HOOK_SECRET=*** MODE=prod`" in error
    assert not shown(outcome, HOOK_SECRET)
    assert catalog(registry) == []


def test_an_image_without_layers_is_scanned_and_pushed(
    each_engine: EngineUnderTest, git_repo: Callable[..., Path],
    registry_factory: RegistryFactory,
) -> None:
    """FROM scratch with only metadata: the classic store cannot `docker save` it ("empty
    export"), so its config and history are what is scanned, and it is pushed."""
    registry = registry_factory(USER, PASSWORD)
    clean = project(git_repo, registry, "acme/bare", 'FROM scratch\nCMD ["/nothing"]\n')

    outcome = dockyard(clean)

    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    assert registry.manifest_digest("acme/bare", "1.0.0") == digest
    stored = registry.manifest("acme/bare", digest)
    if "manifests" in stored:  # the containerd store pushes an index
        stored = registry.manifest("acme/bare", stored["manifests"][0]["digest"])
    assert stored["layers"] in ([], None)  # Docker 26's containerd store writes null

    leaky = project(git_repo, registry, "acme/bare-env",
                    f"FROM scratch\nENV HOOK_SECRET={HOOK_SECRET}\n",
                    "webhooks:\n  - {url: 'http://127.0.0.1:9/hook', secret: '${HOOK_SECRET}', "
                    "max_attempts: 1}\n")
    outcome = dockyard(leaky)
    assert outcome.code == 1, outcome.stderr
    assert "the instruction `ENV HOOK_SECRET=***`" in outcome.json["error"]
    assert not shown(outcome, HOOK_SECRET)
    assert "acme/bare-env" not in catalog(registry)


def test_a_registered_secret_in_build_args_is_refused_before_the_build(
    git_repo: Callable[..., Path], docker_engine: docker.DockerClient, base_image: str,
    registry_factory: RegistryFactory,
) -> None:
    registry = registry_factory(USER, PASSWORD)
    repo = project(git_repo, registry, "acme/args",
                   f"FROM {base_image}\nARG DEPLOY_AUTH\nRUN echo hi\n", "build:\n"
                   "  args: {DEPLOY_AUTH: 'user:${REGISTRY_PASSWORD}', VERSION_NOTE: plain}\n")

    outcome = dockyard(repo)

    assert outcome.code == 2, outcome.stderr
    error = outcome.json["error"]
    assert error.startswith(f"{repo / 'dockyard.yml'}: 1 problem:"), error
    assert "build.args.DEPLOY_AUTH: its value holds a registered secret" in error
    assert "build.secrets: {npm: ${NPM_TOKEN}}" in error
    assert "VERSION_NOTE" not in error
    assert not shown(outcome, PASSWORD)
    assert outcome.json["image_id"] is None and "build_seconds" not in outcome.json["timings"]
    assert not docker_engine.images.list(name=f"{registry.host}/acme/args")
    assert catalog(registry) == []


def test_a_registered_secret_in_a_label_is_refused_and_secret_like_arg_names_warned(
    git_repo: Callable[..., Path], base_image: str, registry_factory: RegistryFactory,
) -> None:
    registry = registry_factory(USER, PASSWORD)
    repo = project(git_repo, registry, "acme/labels", f"FROM {base_image}\nRUN echo hi\n",
                   "labels: {org.example.deploy: '${REGISTRY_PASSWORD}'}\n")
    refused = dockyard(repo)
    assert refused.code == 2
    assert "labels.org.example.deploy: its value holds a registered secret" in \
        refused.json["error"]

    configure(repo, registry, "acme/labels",
              "build:\n  args: {NPM_TOKEN: not-set-here, KEYRING_VERSION: '2'}\n")
    warned = dockyard(repo, "--no-push")
    assert warned.code == 0, warned.stderr
    assert "scan_seconds" not in warned.json["timings"]  # nothing leaves: nothing scanned
    warnings = [w for w in warned.json["warnings"] if w.startswith("build.args.")]
    assert len(warnings) == 1 and warnings[0].startswith("build.args.NPM_TOKEN: the name "
                                                         "looks like a secret's")


def test_without_a_registered_secret_nothing_is_scanned(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo hi > /hi\n",
                     "dockyard.yml": f"images: [{registry.host}/acme/no-secret]\n"
                                     "tags: [type=sha]\n"}, tags=("v1.0.0",))
    outcome = run_cli(repo, "run", "--format", "json")
    assert outcome.code == 0, outcome.stderr
    assert "scan_seconds" not in outcome.json["timings"]
    assert "Scan the image" not in outcome.stderr
