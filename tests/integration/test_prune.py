"""`dockyard prune` end to end against a real CNCF distribution registry with deletes
enabled: a history of releases, a backport, branch, sha and pull request builds and a
merged index; the policy removes exactly the expected tags and images, never a release
tag or an image a kept tag names, and a second prune deletes nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dockyard.prune import Facts, prune
from dockyard.registry import RegistryClient
from dockyard.settings import Overrides, load_settings
from support.cli import run_cli
from support.images import push_image, push_index
from support.proxy import FaultProxy
from support.registry import Registry, RegistryFactory

NAME = "acme/app"
CONFIG = """\
images: [{host}/acme/app]
tags:
  - type=semver,pattern={{{{version}}}}
  - type=semver,pattern={{{{major}}}}.{{{{minor}}}}
  - type=ref,event=branch
  - type=ref,event=pr
  - type=sha
retention:
  sha: {{keep_last: 2}}
  branches: existing
  pull_requests: open
"""


@dataclass
class History:
    """What was pushed: digest per build, and the tags on each."""

    registry: Registry
    digests: dict[str, str] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def build(self, key: str, version: str, days_ago: float, *tags: str,
              arch: str = "amd64") -> str:
        created = (self.now - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
        labels = {"org.opencontainers.image.version": version,
                  "org.opencontainers.image.created": created,
                  "org.opencontainers.image.revision": key * 4}
        digest = push_image(self.registry, NAME, "@", arch=arch, labels=labels)
        for tag in tags:
            push_image(self.registry, NAME, tag, arch=arch, labels=labels)
        self.digests[key] = digest
        return digest

    def merge(self, key: str, version: str, days_ago: float, *tags: str) -> str:
        amd = self.build(f"{key}-amd64", version, days_ago)
        arm = self.build(f"{key}-arm64", version, days_ago, arch="arm64")
        created = (self.now - timedelta(days=days_ago)).isoformat()
        notes = {"org.opencontainers.image.version": version,
                 "org.opencontainers.image.created": created}
        digest = push_index(self.registry, NAME, "@", [(amd, "amd64"), (arm, "arm64")],
                            annotations=notes)
        for tag in tags:
            push_index(self.registry, NAME, tag, [(amd, "amd64"), (arm, "arm64")],
                       annotations=notes)
        self.digests[key] = digest
        return digest


@pytest.fixture
def history(registry_factory: RegistryFactory) -> History:
    made = History(registry_factory())
    made.build("a", "1.0.0", 100, "1.0.0", "sha-aaaaaaa")
    made.build("b", "1.1.0", 50, "1.1.0", "1.1", "sha-bbbbbbb")
    made.build("c", "1.0.1", 40, "1.0.1", "1.0", "sha-ccccccc")  # the backport: 1.0 moves
    made.build("d", "main", 30, "sha-ddddddd")
    made.build("e", "main", 2, "main", "sha-eeeeeee")
    made.build("f", "feature-x", 20, "feature-x", "sha-fffffff")  # a deleted branch
    made.build("g", "feature-y", 10, "feature-y")
    made.build("h", "pr-7", 15, "pr-7")  # closed
    made.build("i", "pr-9", 1, "pr-9")  # open
    made.merge("j", "2.0.0", 5, "2.0.0", "2.0", "sha-0123456")
    made.merge("k", "pr-8", 12, "pr-8")  # a closed pull request's merged index
    # A closed pull request's tag on the amd64 image of the kept 2.0.0 index:
    push_image(made.registry, NAME, "pr-5", arch="amd64", labels=_labels_of(made, "j-amd64"))
    made.build("hand", "", 300, "stable-legacy")  # pushed by hand: no rule gives it
    return made


def _labels_of(history: History, key: str) -> dict[str, str]:
    labels = history.registry.config_labels(NAME, history.digests[key])
    return labels


def _repo(tmp_path: Path, history: History) -> Path:
    (tmp_path / "dockyard.yml").write_text(CONFIG.format(host=history.registry.host))
    return tmp_path


PRUNE = ("prune", "--branches", "main,feature-y", "--open-prs", "9", "--format", "json")
KEPT = {"1.0.0", "1.0.1", "1.0", "1.1.0", "1.1", "2.0.0", "2.0", "sha-eeeeeee", "sha-0123456",
        "main", "feature-y", "pr-9", "stable-legacy",
        # Their verdict is delete, but their images are kept and distribution 2.8 deletes a
        # tag only with its image: left, and said.
        "sha-aaaaaaa", "sha-bbbbbbb", "sha-ccccccc", "pr-5"}


def test_dry_run_lists_what_goes_and_why_and_deletes_nothing(
        tmp_path: Path, history: History) -> None:
    before = history.registry.tags(NAME)
    done = run_cli(_repo(tmp_path, history), *PRUNE)
    assert done.code == 0, done.stderr
    (repo,) = done.json["repositories"]
    assert repo["status"] == "planned" and repo["api"] == "distribution"
    reasons = {v["tag"]: v["reason"] for v in repo["delete"]}
    assert set(reasons) == {"sha-aaaaaaa", "sha-bbbbbbb", "sha-ccccccc", "sha-ddddddd",
                            "sha-fffffff", "feature-x", "pr-7", "pr-8", "pr-5"}
    assert reasons["feature-x"] == "branch feature-x no longer exists"
    assert reasons["pr-7"] == "pull request #7 is closed"
    assert reasons["sha-ddddddd"].startswith("not among the newest 2")
    ages = {v["tag"]: v["created_from"] for v in repo["delete"] + repo["kept"]}
    assert ages["sha-ddddddd"] == ages["pr-8"] == "label"  # an index: its annotation
    kinds = {v["tag"]: v["family"] for v in repo["kept"]}
    assert kinds["1.0.0"] == kinds["1.0.1"] == kinds["2.0.0"] == "release"
    assert kinds["1.0"] == kinds["2.0"] == "version-line"
    assert kinds["stable-legacy"] == "unknown"
    platform = set(repo["platform_images"])
    assert platform == {history.digests["k-amd64"], history.digests["k-arm64"]}
    assert history.registry.tags(NAME) == before


def test_apply_removes_exactly_the_expected_tags_and_a_second_prune_deletes_nothing(
        tmp_path: Path, history: History) -> None:
    registry = history.registry
    repo_dir = _repo(tmp_path, history)
    done = run_cli(repo_dir, *PRUNE, "--apply", "--output", "record.json")
    assert done.code == 0, done.stderr
    assert set(registry.tags(NAME)) == KEPT
    for key in ("d", "f", "h", "k", "k-amd64", "k-arm64"):
        assert registry.manifest_digest(NAME, history.digests[key]) is None, key
    for key in ("a", "b", "c", "e", "g", "i", "j", "j-amd64", "j-arm64"):
        assert registry.manifest_digest(NAME, history.digests[key]) == history.digests[key]
    record = json.loads((repo_dir / "record.json").read_text())
    (repo,) = record["repositories"]
    deleted = {d["digest"]: d for d in repo["deleted"]}
    assert deleted[history.digests["f"]]["tags"] == ["feature-x", "sha-fffffff"]
    assert deleted[history.digests["k"]]["how"] == "image"
    assert deleted[history.digests["k-amd64"]]["how"] == "platform image"
    assert {e["tag"] for e in repo["left"]} == {"sha-aaaaaaa", "sha-bbbbbbb", "sha-ccccccc",
                                                "pr-5"}
    assert "2.0.0" in next(e["reason"] for e in repo["left"] if e["tag"] == "pr-5") or \
        "index" in next(e["reason"] for e in repo["left"] if e["tag"] == "pr-5")

    again = run_cli(repo_dir, *PRUNE, "--apply")
    assert again.code == 0, again.stderr
    assert again.json["repositories"][0]["deleted"] == []
    assert set(registry.tags(NAME)) == KEPT


def test_a_delete_whose_answer_was_lost_is_in_the_record_with_its_restore_command(
        tmp_path: Path, history: History) -> None:
    """The registry deleted the image, the answer never came, the retry found it gone: the
    record says it was deleted, with the command that puts it back. It said "was gone
    already" and left it out, restore command and all."""
    registry = history.registry
    proxy = FaultProxy(registry.host)
    try:
        proxy.lose(r"/manifests/sha256:", method="DELETE")  # the first image deleted
        (tmp_path / "dockyard.yml").write_text(CONFIG.format(host=proxy.host))
        done = run_cli(tmp_path, *PRUNE, "--apply", "--output", "record.json")
        lost = [s for s in proxy.seen if s.method == "DELETE" and s.status is None]
    finally:
        proxy.close()
    assert done.code == 0, done.stderr
    assert len(lost) == 1  # the fault did strike, after the registry deleted
    assert set(registry.tags(NAME)) == KEPT
    (repo,) = json.loads((tmp_path / "record.json").read_text())["repositories"]
    deleted = {d["digest"] for d in repo["deleted"]}
    assert deleted == {history.digests[key] for key in ("d", "f", "h", "k", "k-amd64",
                                                         "k-arm64")}
    assert "gone already" not in done.stderr


def test_text_output_says_what_would_go_and_that_nothing_went(
        tmp_path: Path, history: History) -> None:
    done = run_cli(_repo(tmp_path, history), *PRUNE[:-2])
    assert done.code == 0, done.stderr
    assert "would delete feature-x" in done.stdout
    assert "branch feature-x no longer exists [retention.branches]" in done.stdout
    assert "dry run: nothing was deleted" in done.stdout


def test_a_registry_that_does_not_answer_is_skipped_whole(
        tmp_path: Path, history: History) -> None:
    config = CONFIG.format(host=history.registry.host).replace(
        "images: [", "images: [127.0.0.1:9/acme/app, ")
    (tmp_path / "dockyard.yml").write_text(config + "publish: {retries: 0}\n")
    before = set(history.registry.tags(NAME))
    done = run_cli(tmp_path, *PRUNE)
    assert done.code == 1
    dead, alive = done.json["repositories"]
    assert dead["status"] == "skipped" and dead["error"]
    assert alive["status"] == "planned"
    assert set(history.registry.tags(NAME)) == before


def test_bad_input_is_exit_2_and_nothing_is_deleted(tmp_path: Path, history: History) -> None:
    before = history.registry.tags(NAME)
    done = run_cli(_repo(tmp_path, history), "prune", "--apply", "--open-prs", "7,seven",
                   "--format", "json")
    assert done.code == 2
    assert done.json["status"] == "failed"
    assert "--open-prs: 'seven' is not a pull request number" in done.json["error"]
    assert history.registry.tags(NAME) == before


def test_a_tag_moved_onto_an_image_while_prune_ran_saves_it_and_nothing_is_deleted(
        tmp_path: Path, history: History) -> None:
    registry = history.registry
    condemned = history.digests["d"]  # sha-ddddddd's image, which the policy deletes

    class Moving(RegistryClient):
        """The registry as another job changes it: `main` moves onto the condemned
        image after prune listed the tags, before it deletes (fault injection)."""

        listed = 0

        def tags(self, repository: str, page_size: int = 100) -> list[str]:
            Moving.listed += 1
            if Moving.listed == 2:
                manifest = self.get_manifest(repository, condemned)
                assert manifest is not None
                self.put_manifest(repository, "main", manifest)
            return super().tags(repository, page_size)

    settings = load_settings(_repo(tmp_path, history) / "dockyard.yml", {},
                             Overrides(building=False))
    facts = Facts(datetime.now(timezone.utc), branches=frozenset({"main", "feature-y"}),
                  open_prs=frozenset({9}))
    before = set(registry.tags(NAME))
    result = prune(settings, facts, apply=True,
                   connect=lambda host, _: Moving(registry.host))
    (repo,) = result.repositories
    assert repo.status == "skipped" and repo.error and "main moved" in repo.error
    assert result.exit_code == 1
    assert set(registry.tags(NAME)) == before
    assert registry.manifest_digest(NAME, "main") == condemned


def test_one_configured_image_is_pruned_alone_and_an_unknown_one_is_bad_input(
        tmp_path: Path, history: History) -> None:
    config = CONFIG.format(host=history.registry.host).replace(
        "images: [", "images: [127.0.0.1:9/acme/app, ")
    (tmp_path / "dockyard.yml").write_text(config)
    image = f"{history.registry.host}/acme/app"
    done = run_cli(tmp_path, *PRUNE, "--image", image)
    assert done.code == 0, done.stderr  # the one that does not answer was not asked
    assert [r["name"] for r in done.json["repositories"]] == [image]
    wrong = run_cli(tmp_path, *PRUNE, "--image", "127.0.0.1:9/acme/other")
    assert wrong.code == 2
    assert "--image 127.0.0.1:9/acme/other is not one of the configured images" in \
        wrong.json["error"]


def test_without_a_config_prune_refuses_and_asks_no_registry(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "prune", "--format", "json")
    assert done.code == 2
    assert "prune needs a dockyard.yml" in done.json["error"]


def test_a_wrappers_apply_and_open_prs_variables_reach_prune_and_flags_win(
        tmp_path: Path, history: History) -> None:
    """What a CI wrapper's `apply` and `open-prs` inputs become: DOCKYARD_APPLY and
    DOCKYARD_OPEN_PRS. `none` says no pull request is open (empty is unset: kept)."""
    registry = history.registry
    repo_dir = _repo(tmp_path, history)
    before = set(registry.tags(NAME))
    env = {"DOCKYARD_APPLY": "true", "DOCKYARD_BRANCHES": "main,feature-y"}
    dry = run_cli(repo_dir, "prune", "--dry-run", "--format", "json", env=env)
    assert dry.code == 0, dry.stderr
    assert dry.json["applied"] is False and set(registry.tags(NAME)) == before

    unset = run_cli(repo_dir, "prune", "--format", "json",
                    env={**env, "DOCKYARD_APPLY": "", "DOCKYARD_OPEN_PRS": ""})
    assert unset.json["applied"] is False
    kept = {v["tag"] for v in unset.json["repositories"][0]["kept"]}
    assert {"pr-7", "pr-8", "pr-9"} <= kept  # nobody said which are open

    done = run_cli(repo_dir, "prune", "--format", "json",
                   env={**env, "DOCKYARD_OPEN_PRS": "none"})
    assert done.code == 0, done.stderr
    assert done.json["applied"] is True
    after = set(registry.tags(NAME))
    assert "pr-9" not in after and "feature-x" not in after  # no pull request is open
    assert after == KEPT - {"pr-9"}


def test_a_bad_apply_variable_is_exit_2_and_nothing_is_read(
        tmp_path: Path, history: History) -> None:
    before = history.registry.tags(NAME)
    done = run_cli(_repo(tmp_path, history), *PRUNE, "--output", "prune.json",
                   env={"DOCKYARD_APPLY": "yes please"})
    assert done.code == 2
    assert "DOCKYARD_APPLY: 'yes please' is not true or false" in done.json["error"]
    assert json.loads((tmp_path / "prune.json").read_text())["exit_code"] == 2
    assert history.registry.tags(NAME) == before


def test_the_dotenv_report_and_the_github_outputs_of_prune(
        tmp_path: Path, history: History) -> None:
    """GitLab's dotenv report and GitHub's step outputs say what goes and what went, and
    leave metadata-action's outputs of an earlier build step alone."""
    host = history.registry.host
    repo_dir = _repo(tmp_path, history)
    github = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "output"),
              "GITHUB_ENV": str(tmp_path / "env"), "RUNNER_TEMP": str(tmp_path / "temp"),
              "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "DOCKYARD_SEP_TAGS": ","}
    dry = run_cli(repo_dir, *PRUNE, "--dotenv", "dry.env", env=github)
    assert dry.code == 0, dry.stderr
    dotenv = dict(line.split("=", 1) for line in (repo_dir / "dry.env").read_text().splitlines())
    assert dotenv["DOCKYARD_PRUNE_STATUS"] == "success"
    assert dotenv["DOCKYARD_PRUNE_APPLIED"] == "false" and dotenv["DOCKYARD_PRUNE_DELETED"] == ""
    assert f"{host}/acme/app:feature-x" in dotenv["DOCKYARD_PRUNE_DELETE"].split(" ")
    outputs = (tmp_path / "output").read_text()
    assert not (tmp_path / "env").exists() and not (tmp_path / "temp").exists()
    parsed = {name: value for name, _, value in
              re.findall(r"^([\w-]+)<<(\S+)\n(.*?)\n\2$", outputs, re.M | re.S)}
    assert set(parsed) == {"json", "to-delete", "deleted"}
    assert f"{host}/acme/app:pr-7" in parsed["to-delete"].split(",")
    assert json.loads(parsed["json"])["command"] == "prune"
    assert "Dockyard prune (dry run, success)" in (tmp_path / "summary").read_text()

    done = run_cli(repo_dir, *PRUNE, "--apply", "--dotenv", "applied.env")
    assert done.code == 0, done.stderr
    applied = dict(line.split("=", 1)
                   for line in (repo_dir / "applied.env").read_text().splitlines())
    assert applied["DOCKYARD_PRUNE_APPLIED"] == "true"
    deleted = set(applied["DOCKYARD_PRUNE_DELETED"].split(" "))
    assert f"{host}/acme/app:feature-x" in deleted and f"{host}/acme/app:pr-7" in deleted
    assert f"{host}/acme/app:sha-aaaaaaa" not in deleted  # left: its image is kept
