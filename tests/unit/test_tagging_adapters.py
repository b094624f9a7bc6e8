"""The same tags from the same situation on GitHub, GitLab, Jenkins and plain git.

test_tagging.py proves the rules against hand-built contexts. Here every context comes
out of `resolve_context` over a real git repository and the variables each CI really
sets, so the equivalence holds through the adapters, not only for a swapped `provider`.
The repository's one commit and the clock are fixed; the sha is read from the repository.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard import cli
from dockyard.context import Context, resolve_context
from dockyard.tagging import compute_tags, parse_flavor, parse_rules

if TYPE_CHECKING:
    from conftest import Repos  # tests/unit/conftest.py; typing only, pytest provides it

COMMIT_TIME = "2024-05-06T07:08:09+00:00"  # the fixture's commit date (support/gitrepo)
EPOCH = "1578616200"  # SOURCE_DATE_EPOCH: 2020-01-10T00:30:00Z, 09:30 in Tokyo
SITUATIONS = ("main", "feature", "release", "prerelease", "pr", "schedule")

# Each rule set with the tags it gives in each situation; "{sha}" is the short sha and
# "{long}" the full one. Rule sets cover every rule type, expression and flavor key.
RULE_SETS: list[tuple[str, list[str] | None, list[str], dict[str, list[str]]]] = [
    ("metadata-action's recommended set", [
        "type=schedule",
        "type=ref,event=branch",
        "type=ref,event=tag",
        "type=ref,event=pr",
        "type=semver,pattern={{version}}",
        "type=semver,pattern={{major}}.{{minor}}",
        "type=semver,pattern={{major}}",
        "type=sha",
    ], [], {
        "main": ["main", "sha-{sha}"],
        "feature": ["feature-x", "sha-{sha}"],
        "release": ["1.2.3", "1.2", "1", "v1.2.3", "sha-{sha}", "latest"],
        "prerelease": ["2.0.0-rc.1", "v2.0.0-rc.1", "sha-{sha}"],
        "pr": ["pr-7", "sha-{sha}"],
        "schedule": ["nightly", "main", "sha-{sha}"],
    }),
    ("expressions", [
        "type=raw,value={{branch}}-{{sha}}",
        "type=raw,value=cd-{{commit_date 'YYYYMMDD'}}",
        "type=raw,value=d-{{date 'YYYYMMDD-HH' tz='Asia/Tokyo'}}",
        "type=raw,value=base-{{base_ref}}",
        "type=raw,value=default,enable={{is_default_branch}}",
        "type=raw,value=other,enable={{is_not_default_branch}}",
        "type=raw,value=t-{{tag}}",
        "type=sha,format=long,prefix=",
    ], [], {
        "main": ["main-{sha}", "cd-20240506", "d-20200110-09", "base-", "default", "t-",
                 "{long}"],
        "feature": ["feature-x-{sha}", "cd-20240506", "d-20200110-09", "base-", "other", "t-",
                    "{long}"],
        "release": ["{sha}", "cd-20240506", "d-20200110-09", "base-", "other", "t-v1.2.3",
                    "{long}"],
        "prerelease": ["{sha}", "cd-20240506", "d-20200110-09", "base-", "other",
                       "t-v2.0.0-rc.1", "{long}"],
        "pr": ["{sha}", "cd-20240506", "d-20200110-09", "base-main", "other", "t-", "{long}"],
        "schedule": ["main-{sha}", "cd-20240506", "d-20200110-09", "base-", "default", "t-",
                     "{long}"],
    }),
    ("edge, pep440, match and flavor prefix/suffix", [
        "type=edge",
        "type=pep440,pattern={{major}}.{{minor}}",
        "type=match,pattern=v(\\d+),group=1",
    ], ["prefix=app-", "suffix=-amd64,onlatest=true"], {
        "main": ["app-edge-amd64"],
        "feature": [],
        "release": ["app-1.2-amd64", "app-1-amd64", "latest-amd64"],
        "prerelease": ["app-2.0.0rc1-amd64", "app-2-amd64"],
        "pr": [],
        "schedule": ["app-edge-amd64"],
    }),
    ("the defaults", None, [], {
        "main": ["main"],
        "feature": ["feature-x"],
        "release": ["v1.2.3", "latest"],
        "prerelease": ["v2.0.0-rc.1", "latest"],
        "pr": ["pr-7"],
        "schedule": ["nightly", "main"],
    }),
    ("latest forced, schedule pattern, priorities, rule prefix over flavor", [
        "type=schedule,pattern={{date 'YYYYMMDD'}}",
        "type=ref,event=branch,priority=50,prefix=br-",
        "type=ref,event=pr,priority=2000",
        "type=semver,pattern=v{{major}}.{{minor}},suffix=",
        "type=raw,value=stable,enable=false",
    ], ["latest=true", "suffix=-slim"], {
        "main": ["br-main-slim", "latest"],
        "feature": ["br-feature-x-slim", "latest"],
        "release": ["v1.2", "latest"],
        "prerelease": ["2.0.0-rc.1", "latest"],
        "pr": ["pr-7-slim", "latest"],
        "schedule": ["20200110-slim", "br-main-slim", "latest"],
    }),
    ("raw patterns, value=, match=, groups, rule prefixes and suffixes", [
        "type=semver,pattern={{raw}}",
        "type=semver,pattern=v{{major}},value=3.4.5,enable={{is_default_branch}}",
        "type=pep440,pattern={{major}}.{{minor}},match=v(\\d+\\.\\d+)",
        "type=match,pattern=v(\\d+)\\.(\\d+),group=2",
        "type=ref,event=tag,prefix=t-",
        "type=sha,prefix=git-,suffix=-x",
    ], [], {
        "main": ["v3", "git-{sha}-x", "latest"],
        "feature": ["git-{sha}-x"],
        "release": ["v1.2.3", "1.2", "2", "t-v1.2.3", "git-{sha}-x", "latest"],
        "prerelease": ["v2.0.0-rc.1", "2.0", "0", "t-v2.0.0-rc.1", "git-{sha}-x"],
        "pr": ["git-{sha}-x"],
        "schedule": ["v3", "git-{sha}-x", "latest"],
    }),
]


def _event_file(tmp_path: Path, sha: str, pr: bool) -> Path:
    payload: dict[str, object] = {
        "repository": {"default_branch": "main", "html_url": "https://github.com/acme/app"},
        "head_commit": {"id": sha, "timestamp": COMMIT_TIME},
    }
    if pr:
        payload["pull_request"] = {"number": 7, "head": {"ref": "feature/x", "sha": sha},
                                   "base": {"ref": "main"}}
    return _write(tmp_path, payload)


def _write(tmp_path: Path, payload: Mapping[str, object]) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


def github(situation: str, sha: str, tmp_path: Path) -> dict[str, str]:
    event, ref = {
        "main": ("push", "refs/heads/main"),
        "feature": ("push", "refs/heads/feature/x"),
        "release": ("push", "refs/tags/v1.2.3"),
        "prerelease": ("push", "refs/tags/v2.0.0-rc.1"),
        "pr": ("pull_request", "refs/pull/7/merge"),
        "schedule": ("schedule", "refs/heads/main"),
    }[situation]
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_REF": ref,
           "GITHUB_SHA": sha, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "987654",
           "GITHUB_RUN_NUMBER": "42",
           "GITHUB_EVENT_PATH": str(_event_file(tmp_path, sha, situation == "pr"))}
    if situation == "pr":
        env |= {"GITHUB_HEAD_REF": "feature/x", "GITHUB_BASE_REF": "main"}
    return env


def gitlab(situation: str, sha: str, tmp_path: Path) -> dict[str, str]:
    env = {"GITLAB_CI": "true", "CI": "true", "CI_COMMIT_SHA": sha, "CI_PIPELINE_SOURCE": "push",
           "CI_DEFAULT_BRANCH": "main", "CI_PROJECT_PATH": "acme/app",
           "CI_PROJECT_URL": "https://gitlab.example.com/acme/app", "CI_PIPELINE_ID": "5001",
           "CI_PIPELINE_IID": "42", "CI_COMMIT_TIMESTAMP": COMMIT_TIME}
    if situation in ("main", "schedule"):
        env |= {"CI_COMMIT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main"}
    if situation == "schedule":
        env["CI_PIPELINE_SOURCE"] = "schedule"
    if situation == "feature":
        env |= {"CI_COMMIT_BRANCH": "feature/x", "CI_COMMIT_REF_NAME": "feature/x"}
    if situation in ("release", "prerelease"):
        name = "v1.2.3" if situation == "release" else "v2.0.0-rc.1"
        env |= {"CI_COMMIT_TAG": name, "CI_COMMIT_REF_NAME": name}
    if situation == "pr":
        env |= {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7",
                "CI_COMMIT_REF_NAME": "feature/x",
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/x",
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    return env


def jenkins(situation: str, sha: str, tmp_path: Path) -> dict[str, str]:
    """A multibranch pipeline; the default branch and commit date come from the checkout."""
    env = {"JENKINS_URL": "https://jenkins.example.com/", "GIT_COMMIT": sha,
           "GIT_URL": "https://github.com/acme/app.git", "BUILD_NUMBER": "42",
           "BUILD_ID": "42", "BUILD_URL": "https://jenkins.example.com/job/app/42/"}
    if situation in ("main", "schedule"):
        env |= {"BRANCH_NAME": "main", "GIT_BRANCH": "origin/main"}
    if situation == "schedule":
        env["BUILD_CAUSE"] = "TIMERTRIGGER"
    if situation == "feature":
        env |= {"BRANCH_NAME": "feature/x", "GIT_BRANCH": "origin/feature/x"}
    if situation in ("release", "prerelease"):
        name = "v1.2.3" if situation == "release" else "v2.0.0-rc.1"
        env |= {"TAG_NAME": name, "BRANCH_NAME": name}
    if situation == "pr":
        env |= {"CHANGE_ID": "7", "BRANCH_NAME": "PR-7", "CHANGE_BRANCH": "feature/x",
                "CHANGE_TARGET": "main"}
    return env


def local(situation: str, sha: str, tmp_path: Path) -> dict[str, str]:
    return {}  # the checkout alone: see _checkout


ENVIRONMENTS: Mapping[str, Callable[[str, str, Path], dict[str, str]]] = {
    "github": github, "gitlab": gitlab, "jenkins": jenkins, "local": local}
# Plain git has no pull requests and no schedules.
PAIRS = [(provider, situation) for provider in ENVIRONMENTS for situation in SITUATIONS
         if provider != "local" or situation not in ("pr", "schedule")]


def _checkout(repos: Repos, provider: str, situation: str) -> Path:
    """The repository as the CI (or a developer) has it: CIs check out the commit
    detached and without tags, so the ref must come from their variables."""
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "https://github.com/acme/app.git")
    repos.git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    repos.git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    if provider != "local":
        repos.git(repo, "checkout", "--quiet", "--detach")
    elif situation == "feature":
        repos.git(repo, "checkout", "--quiet", "-b", "feature/x")
    elif situation in ("release", "prerelease"):
        repos.git(repo, "tag", "v1.2.3" if situation == "release" else "v2.0.0-rc.1")
    return repo


def _context(repos: Repos, provider: str, situation: str) -> Context:
    repo = _checkout(repos, provider, situation)
    sha = repos.git(repo, "rev-parse", "HEAD")
    env = ENVIRONMENTS[provider](situation, sha, repos.root) | {"SOURCE_DATE_EPOCH": EPOCH}
    context = resolve_context(env, repo)
    assert context.provider == provider
    return context


def _expected(tags: Sequence[str], sha: str) -> list[str]:
    return [tag.format(sha=sha[:7], long=sha) for tag in tags]


@pytest.mark.parametrize(("provider", "situation"), PAIRS)
def test_same_tags_through_every_adapter(repos: Repos, provider: str, situation: str) -> None:
    context = _context(repos, provider, situation)
    for name, rules, flavor, expected in RULE_SETS:
        parsed = parse_rules(rules) if rules is not None else None
        plan = compute_tags(parsed, parse_flavor(flavor), context)
        tags = _expected(expected[situation], context.sha)
        assert [t.name for t in plan.tags] == tags, name
        assert plan.version == (tags[0] if tags else None), name


def test_the_table_is_large_enough() -> None:
    """Every rule set in every situation on every provider is one case of the table."""
    assert len(RULE_SETS) * len(PAIRS) >= 100


@pytest.mark.parametrize("provider", ["github", "gitlab", "jenkins"])
def test_run_number_and_run_id_from_every_ci(repos: Repos, provider: str) -> None:
    context = _context(repos, provider, "release")
    rules = parse_rules(["type=semver,pattern={{version}},prefix=app-,"
                         "suffix=-b{{run_number}}-d{{sha '8'}}"])
    plan = compute_tags(rules, parse_flavor([]), context)
    assert [t.name for t in plan.tags] == [f"app-1.2.3-b42-d{context.sha[:8]}", "latest"]
    assert context.run_id in ("987654", "5001", "42")


def test_github_tag_push_base_ref_comes_from_the_payload(repos: Repos) -> None:
    """metadata-action's {{base_ref}} on a tag push: the payload's base_ref, less refs/heads/."""
    repo = _checkout(repos, "github", "release")
    sha = repos.git(repo, "rev-parse", "HEAD")
    env = github("release", sha, repos.root)
    env["GITHUB_EVENT_PATH"] = str(_write(repos.root, {
        "base_ref": "refs/heads/main", "repository": {"default_branch": "main"}}))

    plan = compute_tags(parse_rules(["type=raw,value={{base_ref}}-foo"]), parse_flavor([]),
                        resolve_context(env, repo))

    assert [t.name for t in plan.tags] == ["main-foo"]


def test_run_number_outside_ci_skips_the_rule(repos: Repos) -> None:
    context = _context(repos, "local", "release")
    rules = parse_rules(["type=semver,pattern={{version}},suffix=-b{{run_number}}",
                         "type=semver,pattern={{version}},suffix=-local"])
    plan = compute_tags(rules, parse_flavor([]), context)
    assert [t.name for t in plan.tags] == ["1.2.3-local", "latest"]
    (skipped,) = plan.skipped
    assert skipped.reason == "{{run_number}} is unknown outside CI: the CI run sets it"


# --- shallow clones ----------------------------------------------------------------------

SEMVER = ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}"]


def _shallow_clone(repos: Repos) -> tuple[Path, Path]:
    """A depth-1 clone of a repository whose HEAD is tagged v1.2.3, without its tags."""
    origin = repos.make("origin")
    repos.git(origin, "tag", "v1.2.3")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", "--no-tags", f"file://{origin}",
              str(clone))
    assert repos.git(clone, "tag", "--list") == ""
    return origin, clone


def test_github_tag_push_needs_no_history(repos: Repos) -> None:
    """GITHUB_REF names the tag: a depth-1 clone without it still gives the semver tags."""
    _, clone = _shallow_clone(repos)
    sha = repos.git(clone, "rev-parse", "HEAD")
    repos.git(clone, "checkout", "--quiet", "--detach")
    env = github("release", sha, repos.root)

    context = resolve_context(env, clone)
    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), context)

    assert context.shallow is True
    assert [t.name for t in plan.tags] == ["1.2.3", "1.2", "latest"]
    (note,) = [n for n in context.notes if "shallow" in n]
    assert "which is fine" in note
    assert "refs/tags/v1.2.3" in note


@pytest.mark.parametrize(("provider", "fix"), [
    ("gitlab", "GIT_DEPTH: 0"),
    ("jenkins", "Fetch tags"),
])
def test_other_cis_need_no_history_either(repos: Repos, provider: str, fix: str) -> None:
    _, clone = _shallow_clone(repos)
    sha = repos.git(clone, "rev-parse", "HEAD")
    env = ENVIRONMENTS[provider]("release", sha, repos.root)

    context = resolve_context(env, clone)
    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), context)

    assert [t.name for t in plan.tags] == ["1.2.3", "1.2", "latest"]
    assert any("which is fine" in n and fix in n for n in context.notes)


def test_local_shallow_clone_says_how_to_fetch_the_tag(repos: Repos) -> None:
    _, clone = _shallow_clone(repos)

    context = resolve_context({}, clone)
    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), context)

    assert plan.tags == ()
    for skipped in plan.skipped[:2]:
        assert "the clone is shallow" in skipped.reason
        assert "git fetch --tags --unshallow" in skipped.reason
    assert any("no CI variable names the ref" in n for n in context.notes)

    repos.git(clone, "fetch", "--quiet", "--tags")  # what the hint says (tags suffice here)
    context = resolve_context({}, clone)
    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), context)
    assert [t.name for t in plan.tags] == ["1.2.3", "1.2", "latest"]


@pytest.mark.parametrize("provider", ["github", "gitlab", "jenkins"])
def test_ci_branch_build_in_shallow_clone_gets_no_fetch_hint(repos: Repos, provider: str) -> None:
    """The CI names a branch: fetching the commit's tag would not make it a tag build."""
    _, clone = _shallow_clone(repos)
    sha = repos.git(clone, "rev-parse", "HEAD")
    env = ENVIRONMENTS[provider]("main", sha, repos.root)

    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), resolve_context(env, clone))

    assert plan.skipped[0].reason == "not a tag event (ref is refs/heads/main) and no value= given"


def test_a_deep_clone_gets_no_fetch_hint(repos: Repos) -> None:
    repo = repos.make()
    plan = compute_tags(parse_rules(SEMVER), parse_flavor([]), resolve_context({}, repo))
    assert all("shallow" not in s.reason for s in plan.skipped)


# --- `dockyard plan` ---------------------------------------------------------------------

PLAN_CONFIG = """\
images: [ghcr.io/acme/app]
tags:
  - type=semver,pattern={{version}}
  - type=semver,pattern={{major}}.{{minor}}
  - type=ref,event=branch
  - type=sha
  - type=raw,value=b{{run_number}}
"""


def _plan(repos: Repos, fmt: str, config: str = PLAN_CONFIG) -> tuple[int, str, str]:
    repo = repos.make()
    repos.git(repo, "tag", "v1.2.3")
    (repo / "dockyard.yml").write_text(config)
    (repo / "Dockerfile").write_text("FROM scratch\n")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["-C", str(repo), "plan", "--format", fmt],
                    env={"SOURCE_DATE_EPOCH": EPOCH}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_plan_text_is_a_table(repos: Repos) -> None:
    code, out, _ = _plan(repos, "text")
    assert code == 0
    lines = out.splitlines()
    header = lines.index("  TAG          KIND          RULE")
    assert lines[header + 1:header + 5] == [
        "  1.2.3        release       type=semver,pattern={{version}}",
        "  1.2          version-line  type=semver,pattern={{major}}.{{minor}}",
        f"  sha-{lines[header + 3][6:13]}  release       type=sha",
        "  latest       version-line  flavor latest=auto",
    ]
    nothing = lines.index("rules that produced nothing:")
    assert lines[nothing + 1:nothing + 4] == [
        "  RULE                            REASON",
        "  type=ref,event=branch           not a branch event (ref is refs/tags/v1.2.3)",
        "  type=raw,value=b{{run_number}}  {{run_number}} is unknown outside CI: the CI run "
        "sets it",
    ]


def test_plan_json_explains_every_rule(repos: Repos) -> None:
    code, out, _ = _plan(repos, "json")
    assert code == 0
    explain = json.loads(out)["explain"]
    assert [(e["tag"], e["rule"]) for e in explain if e["tag"]][:2] == [
        ("1.2.3", "type=semver,pattern={{version}}"),
        ("1.2", "type=semver,pattern={{major}}.{{minor}}")]
    assert {e["rule"]: e["reason"] for e in explain if e["tag"] is None} == {
        "type=ref,event=branch": "not a branch event (ref is refs/tags/v1.2.3)",
        "type=raw,value=b{{run_number}}": "{{run_number}} is unknown outside CI: the CI run "
                                          "sets it",
    }


def test_plan_refuses_ambiguous_tags_with_exit_2(repos: Repos) -> None:
    config = PLAN_CONFIG.replace("type=sha", "type=raw,value=1.2")
    code, out, err = _plan(repos, "json", config)
    assert code == 2
    assert json.loads(out)["status"] == "failed"
    assert "ambiguous tag" in err
    assert "'type=raw,value=1.2'" in err
    assert "'type=semver,pattern={{major}}.{{minor}}'" in err
