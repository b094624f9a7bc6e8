"""Dockyard's docker-py path on both engines: the classic 20.10 (API 1.41) and the modern 26
with the containerd image store (scripts/setup starts it beside the classic one).

What differs on the modern engine: an image's id is the digest of its manifest (or index),
not of its config; a docker-py build pushes an OCI manifest, not a Docker v2 one; an image
the store holds as an index (a buildx build with an attestation) is pushed as that index;
and the push reports its digest in a status line only.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from dockyard.engine import Engine
from dockyard.registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RegistryClient
from support.cli import Outcome, run_cli
from support.engine import MODERN_HOST, EngineUnderTest, modern_env
from support.registry import Registry, RegistryFactory

TAGS = """\
tags:
  - type=semver,pattern={{version}}
  - type=semver,pattern={{major}}.{{minor}}
  - type=semver,pattern={{major}}
"""


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    return run_cli(repo, *args, "--format", "json", env=env)


def release_repo(git_repo: Callable[..., Path], engine: EngineUnderTest, version: str) -> Path:
    """A repository tagged v`version` whose Dockerfile RUNs a step on the engine's base."""
    return git_repo({"Dockerfile": f"FROM {engine.base_image}\n"
                                   f"RUN echo {version} > /built.txt\n"}, tags=(f"v{version}",))


def configure(repo: Path, plain: Registry, auth: Registry, name: str) -> None:
    (repo / "dockyard.yml").write_text(textwrap.dedent(f"""\
        images: [{plain.host}/{name}, {auth.host}/{name}]
        registries:
          {auth.host}: {{username: "${{REGISTRY_USER}}", password: "${{REGISTRY_PASSWORD}}"}}
        """) + TAGS)


def auth_env(auth: Registry) -> dict[str, str]:
    assert auth.username is not None and auth.password is not None
    return {"REGISTRY_USER": auth.username, "REGISTRY_PASSWORD": auth.password}


def pointers(registry: Registry, name: str) -> dict[str, str | None]:
    return {tag: registry.manifest_digest(name, tag) for tag in registry.tags(name)}


def test_release_rerun_promote_and_next_release_on_each_engine(
    each_engine: EngineUnderTest, git_repo: Callable[..., Path], registry: Registry,
    auth_registry: Registry, registry_factory: RegistryFactory,
) -> None:
    name = f"engines/{each_engine.name}"
    registries = (registry, auth_registry)
    repo = release_repo(git_repo, each_engine, "2.4.1")
    configure(repo, registry, auth_registry, name)

    # a release: built, pushed once, copied to the other registry, tagged by reference
    first = dockyard(repo, "run", env=auth_env(auth_registry))
    assert first.code == 0, first.stderr
    digest = first.json["digest"]
    release = {"2.4.1", "2.4", "2", "latest"}
    for each in registries:
        assert pointers(each, name) == dict.fromkeys(release, digest)
        manifest = each.manifest(name, digest)
        assert manifest["mediaType"] == (OCI_MANIFEST if each_engine.containerd_store
                                         else DOCKER_MANIFEST)
        assert each.config_labels(name, "2")["org.opencontainers.image.version"] == "2.4.1"
    assert f"copying {digest[:19]}" in first.stderr  # one engine push, one copy
    # how each engine names the image it built: the config digest on the classic engine,
    # the manifest digest on the containerd store; the record's image_id is that id (this
    # run's build is the release)
    config = registry.manifest(name, digest)["config"]["digest"]
    built = first.json["built_image_id"]
    assert built == (digest if each_engine.containerd_store else config)
    assert first.json["image_id"] == built
    assert each_engine.client.images.get(f"{registry.host}/{name}:2.4.1").id == built

    # the same run again writes nothing
    again = dockyard(repo, "run", env=auth_env(auth_registry))
    assert again.code == 0, again.stderr
    assert again.json["digest"] == digest
    for entry in again.json["registries"]:
        assert entry["pushed"] == []
        assert {s["tag"]: s["reason"] for s in entry["skipped"]} == {
            "2.4.1": "already published: it holds this revision",
            **dict.fromkeys(("2.4", "2", "latest"), "already points at this image")}
    for each in registries:
        assert pointers(each, name) == dict.fromkeys(release, digest)

    # promote what it pushed to a third registry: copied by digest, the same manifest
    third = registry_factory()
    promoted = dockyard(repo, "promote", f"{registry.host}/{name}:2.4.1",
                        f"{third.host}/{name}:2.4.1", f"{third.host}/{name}:latest",
                        env=auth_env(auth_registry))
    assert promoted.code == 0, promoted.stderr
    assert promoted.json["digest"] == digest
    assert pointers(third, name) == {"2.4.1": digest, "latest": digest}

    # the next release moves the floating tags, on every registry with one digest
    nxt = release_repo(git_repo, each_engine, "2.5.0")
    configure(nxt, registry, auth_registry, name)
    second = dockyard(nxt, "run", env=auth_env(auth_registry))
    assert second.code == 0, second.stderr
    newer = second.json["digest"]
    assert newer != digest
    for each in registries:
        assert pointers(each, name) == {"2.4.1": digest, "2.4": digest, "2.5.0": newer,
                                        "2.5": newer, "2": newer, "latest": newer}


def test_an_index_in_the_modern_store_is_pushed_as_its_image_id_and_promoted_whole(
    modern_base_image: str, registry: Registry, registry_factory: RegistryFactory,
    tmp_path: Path,
) -> None:
    # the env file's buildx builds into the store an index: the image and its provenance
    (tmp_path / "Dockerfile").write_text(
        f"FROM {modern_base_image}\nRUN echo indexed > /built.txt\n"
        "LABEL org.opencontainers.image.version=1.0.0\n")
    name = "engines/index"
    reference = f"{registry.host}/{name}:1.0.0"
    environment = {**modern_env(), "HOME": str(tmp_path / "home")}
    built = subprocess.run(
        ["docker", "buildx", "build", "--provenance=mode=min", "--iidfile", "iid",
         "-t", reference, "."], cwd=tmp_path, env=environment, capture_output=True, text=True,
        timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    image_id = (tmp_path / "iid").read_text().strip()

    engine = Engine.connect({"DOCKER_HOST": MODERN_HOST})
    try:
        pushed = engine.push(f"{registry.host}/{name}", "1.0.0", None)
    finally:
        engine.close()
    # what publishing checks after a push: the pushed manifest or index is this image
    assert pushed.digest == image_id
    with RegistryClient(registry.host) as client:
        manifest = client.get_manifest(name, "1.0.0")
    assert manifest is not None and manifest.is_index and manifest.digest == image_id
    children = [child["digest"] for child in registry.manifest(name, image_id)["manifests"]]
    assert len(children) == 2  # the image and its attestation manifest

    # promote copies the index whole, child by child, and tags it with one digest
    other = registry_factory()
    promoted = dockyard(tmp_path, "promote", reference, f"{other.host}/{name}:1.0.0",
                        f"{other.host}/{name}:latest")
    assert promoted.code == 0, promoted.stderr
    assert pointers(other, name) == {"1.0.0": image_id, "latest": image_id}
    assert other.manifest(name, image_id)["mediaType"] == OCI_INDEX
    for child in children:
        assert other.manifest_digest(name, child) == child
    assert other.config_labels(name, "latest")["org.opencontainers.image.version"] == "1.0.0"
