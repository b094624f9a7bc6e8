"""A release lands whole or not at all, and tags only ever move forwards.

Each test reproduces one way a release used to end up split or moved backwards: a re-run
after a failed registry, two runs at once (as real OS processes, from two clones, on one
engine), `promote` and `merge` skipping the guards of `run`, a version line from
`type=match`, and a floating tag half-moved. Real registries, the real engine; a proxy
only to make a registry refuse writes on demand.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.registry import OCI_MANIFEST
from support.cli import Outcome, run_cli
from support.gitrepo import commit, git
from support.images import push_image
from support.processes import record, run_together
from support.proxy import FaultProxy
from support.registry import Registry, RegistryFactory

VERSION = "org.opencontainers.image.version"
REVISION = "org.opencontainers.image.revision"
FAST_RETRIES = "publish: {retries: 1, backoff_seconds: 0.01, max_backoff_seconds: 0.05}\n"
# Runs racing each other get a user's patience: distribution's filesystem storage rewrites a
# manifest in place when a tag is written, so a GET of it that meets a concurrent write can
# answer 500 once or twice, which the default retries ride out (CI saw one run fail with
# FAST_RETRIES' two attempts 10 ms apart; distribution/distribution#4489 shows the empty file).
RACING_RETRIES = ""
SEMVER = ("type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
          "type=semver,pattern={{major}}")
TRIALS = 6  # the races below show in about half the trials on today's code
RUN_JSON = ("run", "--format", "json")
KINDS = {"release", "version-line", "channel"}

GitRepo = Callable[..., Path]


def configure(repo: Path, *images: str, rules: Sequence[str] = SEMVER, extra: str = "",
              retries: str = FAST_RETRIES) -> None:
    lines = ["images:", *(f"  - {image}" for image in images), "tags:",
             *(f"  - '{rule}'" for rule in rules)]
    (repo / "dockyard.yml").write_text("\n".join(lines) + "\n" + retries
                                       + textwrap.dedent(extra))


def release_repo(git_repo: GitRepo, version: str, content: str) -> Path:
    """A repository tagged v`version`; `content` makes the commit (the revision) its own."""
    return git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": f"hello {content}\n"}, tags=(f"v{version}",))


def revision(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def run(repo: Path, *args: str) -> Outcome:
    return run_cli(repo, *RUN_JSON, *args)


def promote(workdir: Path, *args: str) -> Outcome:
    return run_cli(workdir, "promote", "--format", "json", *args)


def merge(repo: Path, *args: str) -> Outcome:
    return run_cli(repo, "merge", "--format", "json", *args)


def digests(registry: Registry, name: str, tags: Sequence[str]) -> dict[str, str | None]:
    return {tag: registry.manifest_digest(name, tag) for tag in tags}


def held_back(outcome: Outcome, image: str, tag: str) -> bool:
    return "held back" in outcome.skipped(image).get(tag, "")


@pytest.fixture
def registries(registry_factory: RegistryFactory) -> Callable[[int], list[Registry]]:
    """`registries(n)`: n new, empty registries of this test's own."""
    return lambda count: [registry_factory() for _ in range(count)]


@pytest.fixture
def proxies() -> Iterator[Callable[[Registry], FaultProxy]]:
    """`proxies(registry)`: a FaultProxy in front of it, closed at the end of the test."""
    opened: list[FaultProxy] = []

    def open_proxy(registry: Registry) -> FaultProxy:
        opened.append(FaultProxy(registry.host))
        return opened[-1]

    yield open_proxy
    for proxy in opened:
        proxy.close()


# -------------------------------------------------------------- 1. a re-run after a failure


def test_a_rerun_after_a_refusing_registry_completes_the_release_on_the_first_digest(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]], proxies: Callable[[Registry], FaultProxy],
) -> None:
    first, second = registries(2)
    proxy = proxies(second)
    name = "integrity/rerun"
    good, refusing = f"{first.host}/{name}", f"{proxy.host}/{name}"
    repo = release_repo(git_repo, "0.2.0", "rerun")
    configure(repo, good, refusing)
    proxy.fail(".", 403, times=None, method="PUT")
    proxy.fail(".", 403, times=None, method="POST")

    failed = run(repo)
    assert failed.code == 1, failed.stderr
    assert held_back(failed, good, "0.2") and held_back(failed, good, "latest"), failed.stdout
    published = first.manifest_digest(name, "0.2.0")
    assert published is not None
    assert first.tags(name) == ["0.2.0"]
    assert second.tags(name) == []

    proxy.heal()
    rerun = run(repo)  # the same checkout, built again: a new `created`, a new image id
    assert rerun.code == 0, rerun.stderr
    tags = ("0.2.0", "0.2", "latest")
    for registry in (first, second):
        assert digests(registry, name, tags) == dict.fromkeys(tags, published), registry.host
    result = rerun.json
    assert result["digest"] == published
    assert [entry["digest"] for entry in result["registries"]] == [published, published]
    assert result["image_id"] == first.manifest(name, published)["config"]["digest"]
    built = result.get("built_image_id")
    assert isinstance(built, str) and built.startswith("sha256:")
    assert built != result["image_id"]


def test_a_rerun_copies_nothing_to_a_registry_that_holds_the_release(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]], proxies: Callable[[Registry], FaultProxy],
) -> None:
    """A re-run of a release that landed everywhere writes nothing anywhere: it said it
    was copying the release to the other registries, which held it already."""
    first, second = registries(2)
    proxy = proxies(second)
    name = "integrity/rerun-whole"
    repo = release_repo(git_repo, "0.3.0", "rerun-whole")
    configure(repo, f"{first.host}/{name}", f"{proxy.host}/{name}")
    assert run(repo).code == 0
    published = first.manifest_digest(name, "0.3.0")
    proxy.fail(".", 403, times=None, method="PUT")  # any write there would fail the run
    proxy.fail(".", 403, times=None, method="POST")

    rerun = run(repo)
    assert rerun.code == 0, rerun.stderr
    assert "copying" not in rerun.stderr, rerun.stderr
    assert [entry["digest"] for entry in rerun.json["registries"]] == [published, published]
    assert second.manifest_digest(name, "0.3.0") == published


# -------------------------------------------------------------- 2. two releases at once


def test_two_releases_at_once_leave_the_floating_tags_on_the_newer_one(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]],
) -> None:
    both = registries(2)
    older = release_repo(git_repo, "1.2.3", "older")
    newer = release_repo(git_repo, "1.2.4", "newer")
    problems = []
    for trial in range(TRIALS):
        name = f"integrity/race-{trial}"
        for repo in (older, newer):
            configure(repo, *(f"{registry.host}/{name}" for registry in both),
                      retries=RACING_RETRIES)
        outcomes = run_together([(older, RUN_JSON), (newer, RUN_JSON)])
        assert [o.code for o in outcomes] == [0, 0], "\n".join(o.stderr for o in outcomes)
        newest = record(outcomes[1])["digest"]
        assert newest is not None
        for registry in both:
            found = digests(registry, name, ("latest", "1", "1.2"))
            moved_back = {tag: digest for tag, digest in found.items() if digest != newest}
            if moved_back:
                problems.append(f"trial {trial}, {registry.host}: {moved_back} are not "
                                f"1.2.4's {newest}")
    assert not problems, "\n".join(problems)


# -------------------------------------------------------------- 3. one release, one engine


def test_two_builds_of_one_release_on_one_engine_never_swap_images(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]],
) -> None:
    (registry,) = registries(1)
    repos = [release_repo(git_repo, "1.2.3", "first"), release_repo(git_repo, "1.2.3", "second")]
    commits = [revision(repo) for repo in repos]
    problems = []
    for trial in range(TRIALS):
        name = f"integrity/swap-{trial}"
        for repo in repos:
            configure(repo, f"{registry.host}/{name}",
                      rules=("type=semver,pattern={{version}}", "type=sha"),
                      extra="flavor: [latest=false]\n", retries=RACING_RETRIES)
        outcomes = run_together([(repo, RUN_JSON) for repo in repos])
        problems += [f"trial {trial}: {problem}"
                     for problem in _swaps(registry, name, outcomes, commits)]
    assert not problems, "\n".join(problems)


def _swaps(registry: Registry, name: str, outcomes: Sequence[Outcome],
           commits: Sequence[str]) -> list[str]:
    """What breaks the contract of two concurrent builds of 1.2.3 from `commits`."""
    problems = []
    records = [record(outcome) for outcome in outcomes]
    pushed = [set(r["registries"][0]["pushed"]) if r["registries"] else set() for r in records]
    codes = [outcome.code for outcome in outcomes]
    if 0 not in codes:
        problems.append(f"no run succeeded: {[o.stderr for o in outcomes]}")
    if sum("1.2.3" in tags for tags in pushed) > 1:
        problems.append(f"both runs pushed 1.2.3: {pushed}")
    for tag in registry.tags(name):
        found = registry.config_labels(name, tag).get(REVISION, "")
        if tag.startswith("sha-") and not found.startswith(tag.removeprefix("sha-")):
            problems.append(f"{tag} holds the image of revision {found[:12]}")
    release = registry.manifest_digest(name, "1.2.3")
    if release is None:
        return [*problems, "1.2.3 is not in the registry"]
    label = registry.config_labels(name, "1.2.3").get(REVISION)
    winners = [i for i, commit_sha in enumerate(commits) if commit_sha == label]
    if not winners:
        return [*problems, f"1.2.3 holds revision {label}, neither build"]
    winner, loser = winners[0], 1 - winners[0]
    if codes[winner] != 0 or records[winner]["digest"] != release:
        problems.append(f"1.2.3 holds the image of the run that exited {codes[winner]} "
                        f"(its digest {records[winner]['digest']}, the registry's {release})")
    if codes[loser] != 1:
        problems.append(f"the run that lost 1.2.3 exited {codes[loser]}, not 1")
    for tag in pushed[loser]:
        found = registry.config_labels(name, tag).get(REVISION)
        if found != commits[loser]:
            problems.append(f"the run that lost wrote {tag} with revision {found}")
    return problems


# -------------------------------------------------------------- 4. promote and its guards


def test_promote_keeps_the_guards_of_run_for_version_lines_channels_and_releases(
    tmp_path: Path, registries: Callable[[int], list[Registry]],
) -> None:
    (registry,) = registries(1)
    name = "integrity/promote"
    image = f"{registry.host}/{name}"

    def release(version: str, revision_char: str, *tags: str) -> str:
        labels = {VERSION: version, REVISION: revision_char * 40}
        digest = push_image(registry, name, version, labels=labels)
        for tag in tags:  # the same arguments give the same image: these name `digest`
            push_image(registry, name, tag, labels=labels)
        return digest

    old = release("1.0.1", "a")
    current = release("1.1.0", "b", "latest", "1")
    newest = release("1.3.0", "c")

    for tag in ("latest", "1"):
        held = promote(tmp_path, f"{image}:1.0.1", tag)
        assert held.code == 0, held.stderr
        assert held_back(held, image, tag), held.stdout
        assert registry.manifest_digest(name, tag) == current

    forced = promote(tmp_path, f"{image}:1.0.1", "latest", "--force")
    assert forced.code == 0, forced.stderr
    assert registry.manifest_digest(name, "latest") == old
    overrides = forced.entry(image).get("forced") or []
    assert [o["tag"] for o in overrides] == ["latest"], forced.stdout
    assert isinstance(overrides[0].get("overrode"), str) and overrides[0]["overrode"]

    channels = promote(tmp_path, f"{image}:1.0.1", "stable", "prod-2026")
    assert channels.code == 0, channels.stderr
    assert digests(registry, name, ("stable", "prod-2026")) == dict.fromkeys(
        ("stable", "prod-2026"), old)
    forwards = promote(tmp_path, f"{image}:1.3.0", "stable")
    assert forwards.code == 0, forwards.stderr
    assert registry.manifest_digest(name, "stable") == newest
    back = promote(tmp_path, f"{image}:1.0.1", "stable")
    assert back.code == 0, back.stderr
    assert registry.manifest_digest(name, "stable") == old
    notes = back.entry(image).get("notes") or []
    assert any(n["tag"] == "stable" and "rollback" in n["note"].lower() for n in notes), \
        back.stdout

    rewrite = promote(tmp_path, f"{image}:1.0.1", "1.1.0")
    assert rewrite.code == 1, rewrite.stdout
    assert registry.manifest_digest(name, "1.1.0") == current


# -------------------------------------------------------------- 5. a version line from match


def test_a_version_line_from_type_match_is_held_back_by_a_backport(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]],
) -> None:
    (registry,) = registries(1)
    name = "integrity/match"
    image = f"{registry.host}/{name}"
    rules = (r"type=match,pattern=v(\d+)\.\d+\.\d+,group=1", "type=semver,pattern={{version}}",
             "type=ref,event=branch")
    current = release_repo(git_repo, "1.5.0", "current")
    configure(current, image, rules=rules)
    first = run(current)
    assert first.code == 0, first.stderr
    assert registry.manifest_digest(name, "1") == first.json["digest"]

    backport = release_repo(git_repo, "1.4.2", "backport")
    configure(backport, image, rules=rules)
    second = run(backport)
    assert second.code == 0, second.stderr
    assert registry.manifest_digest(name, "1.4.2") == second.json["digest"]
    assert registry.manifest_digest(name, "1") == first.json["digest"]
    assert held_back(second, image, "1"), second.stdout

    planned = run_cli(backport, "plan", "--format", "json")
    assert planned.code == 0, planned.stderr
    kinds = {e["tag"]: e.get("kind") for e in planned.json["explain"] if e["tag"]}
    assert kinds["1"] == "version-line" and kinds["1.4.2"] == "release", kinds

    # a tag build gives no branch tag (as in metadata-action): a branch build of the line does
    git(backport, "checkout", "--quiet", "-b", "release-1.4")
    commit(backport, {"hello.txt": "hello backport, next\n"})
    branch = run_cli(backport, "plan", "--format", "json")
    assert branch.code == 0, branch.stderr
    assert {e["tag"]: e.get("kind") for e in branch.json["explain"] if e["tag"]} == {
        "release-1.4": "channel"}


# -------------------------------------------------------------- 6. merge and its guards


def test_a_merged_backport_leaves_latest_on_the_newer_index(
    git_repo: GitRepo, registries: Callable[[int], list[Registry]],
) -> None:
    (registry,) = registries(1)
    name = "integrity/merge"
    image = f"{registry.host}/{name}"

    def merged(version: str, content: str) -> Outcome:
        repo = release_repo(git_repo, version, content)
        configure(repo, image)
        sha = revision(repo)
        # what a per-platform `dockyard run` (rules: type=sha,suffix=-ARCH) labels its
        # image with: its plan's version is its first tag, not the release's version
        platforms = [push_image(registry, name, f"sha-{sha[:7]}-{arch}", arch=arch,
                                labels={VERSION: f"sha-{sha[:7]}-{arch}", REVISION: sha},
                                media_type=OCI_MANIFEST)
                     for arch in ("amd64", "arm64")]
        return merge(repo, f"{image}@{platforms[0]}", platforms[1])

    newer = merged("2.0.0", "two")
    assert newer.code == 0, newer.stderr
    index = newer.json["digest"]
    assert registry.manifest_digest(name, "latest") == index

    backport = merged("1.4.2", "backport")
    assert backport.code == 0, backport.stderr
    assert registry.manifest_digest(name, "1.4.2") == backport.json["digest"] != index
    assert registry.manifest_digest(name, "latest") == index
    assert held_back(backport, image, "latest"), backport.stdout
    annotations: dict[str, Any] = registry.manifest(name, index).get("annotations") or {}
    assert annotations.get(VERSION) == "2.0.0"


# -------------------------------------------------------------- 7. a floating tag half-moved


def test_a_floating_tag_refused_by_one_registry_is_put_back_on_the_others(
    git_repo: GitRepo, docker_engine: docker.DockerClient,
    registries: Callable[[int], list[Registry]], proxies: Callable[[Registry], FaultProxy],
) -> None:
    three = registries(3)
    proxy = proxies(three[2])
    name = "integrity/halfway"
    images = [f"{three[0].host}/{name}", f"{three[1].host}/{name}", f"{proxy.host}/{name}"]
    old = release_repo(git_repo, "1.0.0", "old")
    configure(old, *images)
    first = run(old)
    assert first.code == 0, first.stderr
    released = first.json["digest"]
    for registry in three:
        assert registry.manifest_digest(name, "latest") == released

    proxy.fail(r"/manifests/latest$", 500, times=None, method="PUT")
    new = release_repo(git_repo, "1.1.0", "new")
    configure(new, *images)
    second = run(new)
    assert second.code == 1, second.stderr
    for registry in three:
        assert registry.manifest_digest(name, "1.1.0") == second.json["digest"] != released
    assert [r.manifest_digest(name, "latest") for r in three] == [released] * 3
    for image in images[:2]:
        restored = second.entry(image).get("restored") or []
        assert "latest" in [r["tag"] for r in restored], second.stdout


# -------------------------------------------------------------- the plan says what a tag is


def test_the_plan_gives_every_tag_its_kind(git_repo: GitRepo) -> None:
    branch = git_repo()
    git(branch, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(branch, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    configure(branch, "127.0.0.1:5000/integrity/plan",
              rules=("type=ref,event=branch",
                     "type=raw,value=latest,enable={{is_default_branch}}"))
    on_main = run_cli(branch, "plan", "--format", "json")
    assert on_main.code == 0, on_main.stderr
    assert _kinds(on_main) == {"main": "channel", "latest": "channel"}

    tagged = release_repo(git_repo, "1.2.3", "plan")
    configure(tagged, "127.0.0.1:5000/integrity/plan")
    on_tag = run_cli(tagged, "plan", "--format", "json")
    assert on_tag.code == 0, on_tag.stderr
    assert _kinds(on_tag) == {"1.2.3": "release", "1.2": "version-line", "1": "version-line",
                              "latest": "version-line"}


def _kinds(outcome: Outcome) -> dict[str, str | None]:
    produced = [e for e in outcome.json["explain"] if e["tag"] is not None]
    kinds = {e["tag"]: e.get("kind") for e in produced}
    assert set(kinds.values()) <= KINDS, kinds
    return kinds
