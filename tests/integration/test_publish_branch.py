"""Branch builds: the branch tag moves with every build (it is no release tag)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support.cli import run_cli
from support.gitrepo import commit
from support.registry import Registry


def test_a_branch_tag_moves_to_each_new_commit(git_repo: Callable[..., Path],
                                               registry: Registry) -> None:
    repo = git_repo()  # metadata-action's default rules: a branch build has no release tag
    (repo / "dockyard.yml").write_text(f"images: [{registry.host}/acme/branchy]\n")
    first = run_cli(repo, "run", "--format", "json")
    assert first.code == 0, first.stderr
    assert registry.manifest_digest("acme/branchy", "main") == first.json["digest"]

    commit(repo, {"hello.txt": "changed\n"}, "second", "2024-05-07T07:08:09+00:00")
    second = run_cli(repo, "run", "--format", "json")
    assert second.code == 0, second.stderr
    assert second.json["digest"] != first.json["digest"]
    assert registry.manifest_digest("acme/branchy", "main") == second.json["digest"]
    assert second.entry(f"{registry.host}/acme/branchy")["pushed"] == ["main"]


def test_a_sha_tag_stays_a_release_tag_on_branches(git_repo: Callable[..., Path],
                                                   registry: Registry) -> None:
    repo = git_repo()
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/acme/branchsha]\n"
        "tags:\n  - type=ref,event=branch\n  - type=sha\n")
    first = run_cli(repo, "run", "--format", "json")
    assert first.code == 0, first.stderr
    commit(repo, {"hello.txt": "changed again\n"}, "third", "2024-05-08T07:08:09+00:00")
    second = run_cli(repo, "run", "--format", "json")
    assert second.code == 0, second.stderr
    assert set(registry.tags("acme/branchsha")) == {
        "main", f"sha-{first.json['context']['sha'][:7]}",
        f"sha-{second.json['context']['sha'][:7]}"}
    assert registry.manifest_digest("acme/branchsha", "main") == second.json["digest"]
