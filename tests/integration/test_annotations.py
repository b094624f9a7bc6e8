"""Annotations written into what Dockyard pushes, on both engines, to real registries:
the release is the annotated manifest, with one digest in every registry and every tag."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from dockyard.registry import OCI_MANIFEST
from support.cli import Outcome, run_cli
from support.engine import EngineUnderTest
from support.registry import Registry

OCI = "org.opencontainers.image."


def dockyard(repo: Path, env: dict[str, str] | None = None) -> Outcome:
    return run_cli(repo, "run", "--format", "json", env=env)


def test_annotations_land_in_the_release_on_each_engine(
    each_engine: EngineUnderTest, git_repo: Callable[..., Path], registry: Registry,
    auth_registry: Registry,
) -> None:
    name = f"annotated/{each_engine.name}"
    repo = git_repo({"Dockerfile": f"FROM {each_engine.base_image}\nRUN echo a > /a.txt\n"},
                    tags=("v2.4.1",))
    (repo / "dockyard.yml").write_text(textwrap.dedent(f"""\
        images: [{registry.host}/{name}, {auth_registry.host}/{name}]
        registries:
          {auth_registry.host}: {{username: "${{REGISTRY_USER}}",
                                  password: "${{REGISTRY_PASSWORD}}"}}
        tags: ['type=semver,pattern={{{{version}}}}', 'type=semver,pattern={{{{major}}}}']
        labels: {{com.example.label: on-the-config}}
        annotations: {{com.example.team: "payments on {{{{tag}}}}"}}
        """))
    env = {"REGISTRY_USER": str(auth_registry.username),
           "REGISTRY_PASSWORD": str(auth_registry.password)}

    first = dockyard(repo, env)

    assert first.code == 0, first.stderr
    digest = first.json["digest"]
    assert f"annotated {registry.host}/{name}:2.4.1: {digest[:19]}" in first.stderr
    for each in (registry, auth_registry):
        assert {tag: each.manifest_digest(name, tag) for tag in each.tags(name)} == {
            "2.4.1": digest, "2": digest, "latest": digest}
        manifest = each.manifest(name, digest)
        assert manifest["mediaType"] == OCI_MANIFEST  # Docker's format has no annotations
        annotations = manifest["annotations"]
        assert annotations["com.example.team"] == "payments on v2.4.1"
        assert annotations[f"{OCI}version"] == "2.4.1"
        assert annotations[f"{OCI}revision"] == first.json["context"]["sha"]
        assert "com.example.label" not in annotations  # labels stay labels
        labels = each.config_labels(name, "2.4.1")
        assert labels["com.example.label"] == "on-the-config"
    assert first.json["annotations"][0].startswith("manifest:")

    # a re-run finds the annotated release and writes nothing
    again = dockyard(repo, env)
    assert again.code == 0, again.stderr
    assert again.json["digest"] == digest
    assert [entry["pushed"] for entry in again.json["registries"]] == [[], []]


def test_without_annotations_asked_for_the_engines_push_is_the_release(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {base_image}\n"}, tags=("v1.0.0",))
    (repo / "dockyard.yml").write_text(f"images: [{registry.host}/plain/app]\n")

    outcome = dockyard(repo)

    assert outcome.code == 0, outcome.stderr
    assert "annotated" not in outcome.stderr
    assert "annotations" not in registry.manifest("plain/app", outcome.json["digest"])
    assert outcome.json["annotations"]  # computed, for outputs and a buildx backend
