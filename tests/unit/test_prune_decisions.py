"""Prune's pure parts: how tags found on a registry are classified back from the rules
(the ambiguous cases above all), what each retention rule decides, and the config."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dockyard.errors import ConfigError, InputError
from dockyard.prune import Classifier, Facts, Family, Image, Listing, decide, gather_facts
from dockyard.retention import Keep, PatternRule, Retention
from dockyard.settings import Overrides, load_settings
from dockyard.tagging import parse_flavor, parse_rules

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def classifier(*rules: str, flavor: tuple[str, ...] = ("latest=auto",)) -> Classifier:
    return Classifier(parse_rules(list(rules)) if rules else None, parse_flavor(list(flavor)))


SEMVER = ("type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
          "type=semver,pattern=v{{major}}", "type=ref,event=branch", "type=ref,event=pr",
          "type=sha", "type=raw,value=stable", "type=edge")


@pytest.mark.parametrize(("tag", "label", "family"), [
    ("1.2.3", None, Family.RELEASE),
    ("1.2.3-rc.1", None, Family.RELEASE),
    ("1.2", None, Family.VERSION_LINE),
    ("v1", None, Family.VERSION_LINE),
    ("latest", None, Family.VERSION_LINE),
    ("sha-0123abc", None, Family.SHA),
    ("pr-12", None, Family.PULL_REQUEST),
    ("stable", None, Family.CHANNEL),
    ("edge", None, Family.CHANNEL),
    ("feature-x", "feature-x", Family.BRANCH),
    # Shaped like a branch tag, but no branch build's image: pushed by hand, kept.
    ("feature-x", None, Family.UNKNOWN),
    ("feature-x", "1.0.0", Family.UNKNOWN),
    # A sha shape that is no sha (not hex): a branch named so, if its image says so.
    ("sha-zzzzzzz", None, Family.UNKNOWN),
    # The image says it is version 0.9.0, and the tag is that version: a release, though
    # no rule of this configuration gives `v0.9.0` (an earlier configuration's).
    ("v0.9.0", "v0.9.0", Family.RELEASE),
])
def test_tags_are_classified_back_from_the_configured_rules(
        tag: str, label: str | None, family: Family) -> None:
    assert classifier(*SEMVER).classify(tag, version_label=label).family is family


def test_a_tag_that_could_be_a_git_tags_release_is_kept_unless_the_git_tags_are_known() -> None:
    rules = classifier()  # metadata-action's defaults: schedule, branch, tag, pr
    unsure = rules.classify("deploy-2024", version_label="deploy-2024")
    assert unsure.family is Family.RELEASE and "ambiguous" in unsure.why
    known = rules.classify("deploy-2024", version_label="deploy-2024", git_tags={"v1.0"})
    assert known.family is Family.BRANCH
    tagged = rules.classify("v1.0", version_label="v1.0", git_tags={"v1.0"})
    assert tagged.family is Family.RELEASE and "git tag" in tagged.why


def test_where_shapes_overlap_the_reading_that_keeps_more_wins() -> None:
    # `type=raw,value=pr-1` is a channel; the pr shape would let it go with the PR.
    found = classifier("type=ref,event=pr", "type=raw,value=pr-1").classify("pr-1")
    assert found.family is Family.CHANNEL
    # A match rule can give anything: every tag it could give is kept as a release.
    assert classifier("type=match,pattern=\\d+").classify("42").family is Family.RELEASE
    # ...except exact shapes of other rules.
    assert classifier("type=match,pattern=\\d+", "type=sha").classify(
        "sha-abcdef0").family is Family.SHA


def test_affixes_shape_the_tags() -> None:
    rules = classifier("type=sha,prefix=git-", "type=ref,event=pr,prefix=mr-,suffix=-dev",
                       "type=semver,pattern={{version}},prefix=v")
    assert rules.classify("git-0123abc").family is Family.SHA
    assert rules.classify("sha-0123abc").family is Family.UNKNOWN
    assert rules.classify("mr-3-dev").subject == "3"
    assert rules.classify("v1.2.3").family is Family.RELEASE
    assert rules.classify("1.2.3").family is Family.UNKNOWN


def _listing(*entries: tuple[str, int, float | None], children: dict[int, tuple[int, ...]]
             | None = None, versions: dict[int, str] | None = None) -> Listing:
    """(tag, image number, age in days) entries."""
    def digest(n: int) -> str:
        return f"sha256:{n:064x}"

    images = {}
    for _, number, days in entries:
        when = None if days is None else NOW - timedelta(days=days)
        images[digest(number)] = Image(
            digest(number), when, "label", (versions or {}).get(number),
            tuple(digest(c) for c in (children or {}).get(number, ())))
    for kids in (children or {}).values():
        for kid in kids:
            images.setdefault(digest(kid), Image(digest(kid)))
    return Listing({tag: digest(n) for tag, n, _ in entries}, images)


def test_sha_tags_keep_the_newest_n_and_the_young_and_an_unknown_age() -> None:
    retention = Retention(configured=True, sha=Keep(last=1, days=10))
    listing = _listing(("sha-aaaaaaa", 1, 50), ("sha-bbbbbbb", 2, 5), ("sha-ccccccc", 3, 3),
                       ("sha-ddddddd", 4, None), ("sha-eeeeeee", 5, 30))
    decision = decide(listing, retention, classifier("type=sha"), Facts(NOW))
    verdicts = {v.tag: v for v in decision.verdicts}
    assert {v.tag for v in decision.deleted} == {"sha-aaaaaaa", "sha-eeeeeee"}
    assert verdicts["sha-ccccccc"].reason == "one of the newest 1"
    assert verdicts["sha-bbbbbbb"].reason.startswith("younger than 10 days")
    assert "age is unknown" in verdicts["sha-ddddddd"].reason
    assert verdicts["sha-aaaaaaa"].reason == "not among the newest 1, 50.0 days old"


def test_a_digest_a_kept_tag_names_or_lists_stays_and_its_tag_goes_alone() -> None:
    retention = Retention(configured=True, pull_requests="open")
    listing = _listing(("1.0.0", 1, 9), ("pr-3", 1, 9), ("2.0.0", 2, 1), ("pr-4", 3, 1),
                       ("pr-5", 4, 1), children={2: (3, 5), 4: (6,)},
                       versions={1: "1.0.0", 2: "2.0.0"})
    decision = decide(listing, retention, classifier(*SEMVER), Facts(NOW, open_prs=frozenset()))
    assert {v.tag for v in decision.deleted} == {"pr-3", "pr-4", "pr-5"}
    assert set(decision.tag_only) == {"pr-3", "pr-4"}  # on 1.0.0's image, in 2.0.0's index
    assert decision.digests == (listing.tags["pr-5"],)
    assert decision.platform_images == (f"sha256:{6:064x}",)


def test_what_the_ci_did_not_say_is_kept() -> None:
    retention = Retention(configured=True, branches="existing", pull_requests="open")
    listing = _listing(("gone", 1, 9), ("pr-2", 2, 9), versions={1: "gone"})
    decision = decide(listing, retention, classifier(*SEMVER), Facts(NOW))
    assert decision.deleted == []
    reasons = {v.tag: v.reason for v in decision.kept}
    assert "branch list is unknown" in reasons["gone"]
    assert "did not say which pull requests are open" in reasons["pr-2"]


def test_a_pattern_reaches_a_release_only_with_force_and_says_so() -> None:
    retention = Retention(configured=True,
                          patterns=(PatternRule("1.*", Keep(last=1), "retention.patterns[0]"),))
    listing = _listing(("1.0.0", 1, 30), ("1.1.0", 2, 20), versions={1: "1.0.0", 2: "1.1.0"})
    kept = decide(listing, retention, classifier(*SEMVER), Facts(NOW))
    assert kept.deleted == []
    assert "only --force" in next(v.reason for v in kept.kept if v.tag == "1.0.0")
    forced = decide(listing, retention, classifier(*SEMVER), Facts(NOW, force=True))
    (gone,) = forced.deleted
    assert gone.tag == "1.0.0" and gone.forced == "release tags are always kept"


def test_without_a_retention_section_everything_is_kept() -> None:
    listing = _listing(("pr-1", 1, 900), ("sha-aaaaaaa", 2, 900))
    assert decide(listing, Retention(), classifier(*SEMVER), Facts(NOW)).deleted == []


def _config(tmp_path: Path, retention: str) -> Path:
    path = tmp_path / "dockyard.yml"
    path.write_text(f"images: [127.0.0.1:5000/acme/app]\nretention:\n{retention}")
    return path


def test_retention_config_is_read_and_checked(tmp_path: Path) -> None:
    path = _config(tmp_path, "  sha: {keep_last: 20, keep_days: 30}\n  branches: existing\n"
                   "  patterns:\n    - {match: 'nightly-*', keep_days: 7}\n")
    settings = load_settings(path, {}, Overrides(building=False))
    assert settings.retention.sha == Keep(20, 30.0)
    assert settings.retention.branches == "existing"
    assert settings.retention.pattern_for("nightly-20260101") is not None
    assert "tags matching nightly-*: keep those younger than 7 days" in \
        settings.retention.summary()


@pytest.mark.parametrize(("text", "problem"), [
    ("  sha: {keep_last: -1}\n", "retention.sha.keep_last: must be a whole number"),
    ("  sha: {keep_days: 0}\n", "retention.sha.keep_days: must be more than 0"),
    ("  branches: deleted\n", "retention.branches: must be all or existing, not 'deleted'"),
    ("  pull_requests: closed\n", "retention.pull_requests: must be all or open"),
    ("  patterns: [{match: 'x-*'}]\n", "retention.patterns[0]: 'x-*' needs keep_last or"),
    ("  releases: {keep_last: 3}\n", "retention.releases: unknown key"),
    ("  sha: {keep_lats: 3}\n", "did you mean 'keep_last'?"),
])
def test_a_bad_retention_is_refused_naming_the_key(tmp_path: Path, text: str,
                                                   problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_config(tmp_path, text), {}, Overrides(building=False))
    assert caught.value.exit_code == 2
    assert problem in str(caught.value)


def test_facts_come_from_flags_then_the_ci_then_the_checkout(tmp_path: Path) -> None:
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run([*git, "branch", "feature/y"], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    facts, notes = gather_facts({}, tmp_path, NOW)
    assert facts.branches == {"main", "feature/y"} and facts.git_tags == {"v1.0.0"}
    assert facts.open_prs is None and notes == []
    facts, _ = gather_facts({"DOCKYARD_BRANCHES": "a, b", "DOCKYARD_OPEN_PRS": "3 #4"},
                            tmp_path, NOW, branches="c")
    assert facts.branches == {"c"} and facts.open_prs == {3, 4}
    facts, notes = gather_facts({}, tmp_path / "nowhere", NOW)
    assert facts.branches is None and "branch tags are kept" in notes[0]


def test_a_one_branch_clone_does_not_pass_for_every_branch(tmp_path: Path) -> None:
    """GitLab's and Jenkins' full-depth checkouts fetch one branch: the branches that
    exist are origin's (git ls-remote), or unknown when origin does not answer."""
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(origin)], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    subprocess.run([*git, "-C", str(origin), "branch", "still-there"], check=True)
    subprocess.run([*git, "-C", str(origin), "tag", "v2.0.0"], check=True)
    subprocess.run([*git, "clone", "-q", "--single-branch", "--no-tags", f"file://{origin}",
                    str(clone)], check=True)

    facts, notes = gather_facts({}, clone, NOW)

    assert facts.branches == {"main", "still-there"}  # not just the clone's main
    assert facts.git_tags == {"v2.0.0"} and notes == []

    subprocess.run([*git, "-C", str(clone), "remote", "set-url", "origin",
                    str(tmp_path / "gone.git")], check=True)
    facts, notes = gather_facts({}, clone, NOW)
    assert facts.branches is None and facts.git_tags is None  # so their tags are kept
    assert notes[0].startswith("the branches are unknown (git ls-remote ")
    assert "branch tags are kept; give --branches or DOCKYARD_BRANCHES" in notes[0]


def test_an_empty_branch_list_is_bad_input_not_every_branch_deleted(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        gather_facts({}, tmp_path, NOW, branches=" , ")
    assert caught.value.exit_code == 2
    assert "--branches names no branch" in str(caught.value)


def test_an_open_pr_that_is_no_number_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        gather_facts({"DOCKYARD_OPEN_PRS": "12,abc"}, tmp_path, NOW)
    assert caught.value.exit_code == 2
    assert "DOCKYARD_OPEN_PRS: 'abc' is not a pull request number" in str(caught.value)


def test_plan_shows_the_retention_summary_and_the_job_summary_shows_prune(
        tmp_path: Path) -> None:
    import io
    import json

    from dockyard.ci.outputs import summary_markdown
    from dockyard.cli import main

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    _config(tmp_path, "  sha: {keep_last: 5}\n  pull_requests: open\n")
    stdout = io.StringIO()
    assert main(["-C", str(tmp_path), "plan", "--format", "json"], env={},
                stdout=stdout, stderr=io.StringIO()) == 0
    retention = json.loads(stdout.getvalue())["retention"]
    assert "sha tags: keep the newest 5" in retention
    assert "pull request tags: keep those of open pull requests" in retention
    going = [{"tag": "pr-1", "reason": "pull request #1 is closed"}]
    record = {"command": "prune", "status": "success", "applied": False,
              "repositories": [{"name": "r/app", "status": "planned", "tags": 3,
                                "error": None, "delete": going}]}
    text = summary_markdown(record)
    assert "Dockyard prune (dry run, success)" in text
    assert "`pr-1`: pull request #1 is closed" in text
