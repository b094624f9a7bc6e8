"""resolve_context over real git repositories and explicit CI environments."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard import secrets
from dockyard.ci import web_url
from dockyard.context import Context, choose_tag, resolve_context
from dockyard.errors import ContextError

if TYPE_CHECKING:
    from conftest import Repos  # tests/unit/conftest.py; typing only, pytest provides it

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
COMMIT_DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
SHA = "0123456789abcdef0123456789abcdef01234567"


def resolve(env: dict[str, str], workdir: Path) -> Context:
    return resolve_context(env, workdir, now=NOW)


def key(ctx: Context) -> tuple[object, ...]:
    """What tag rules read: equal across providers for the same situation."""
    return (ctx.ref, ctx.event, ctx.branch, ctx.tag, ctx.pr_number, ctx.base_ref, ctx.sha)


def dump(ctx: Context) -> str:
    return repr(ctx) + json.dumps(ctx.to_dict())


# --- environments, as each CI would set them ------------------------------------------


def github_env(
    sha: str, ref: str, *, event: str = "push", event_path: Path | None = None, **extra: str
) -> dict[str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REF": ref,
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "987654",
        "GITHUB_RUN_NUMBER": "42",
        "GITHUB_RUN_ATTEMPT": "1",
        **extra,
    }
    if event_path is not None:
        env["GITHUB_EVENT_PATH"] = str(event_path)
    return env


def gitlab_env(sha: str, *, source: str = "push", **extra: str) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "CI": "true",
        "CI_COMMIT_SHA": sha,
        "CI_PIPELINE_SOURCE": source,
        "CI_DEFAULT_BRANCH": "main",
        "CI_PROJECT_PATH": "acme/app",
        "CI_PROJECT_URL": "https://gitlab.example.com/acme/app",
        "CI_PIPELINE_ID": "5001",
        "CI_PIPELINE_IID": "17",
        "CI_PIPELINE_URL": "https://gitlab.example.com/acme/app/-/pipelines/5001",
        "CI_JOB_URL": "https://gitlab.example.com/acme/app/-/jobs/9001",
        **extra,
    }


def jenkins_env(sha: str, **extra: str) -> dict[str, str]:
    return {
        "JENKINS_URL": "https://jenkins.example.com/",
        "BUILD_URL": "https://jenkins.example.com/job/app/job/main/7/",
        "BUILD_NUMBER": "7",
        "BUILD_ID": "7",
        "GIT_COMMIT": sha,
        "GIT_URL": "https://github.com/acme/app.git",
        **extra,
    }


def write_event(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


# --- plain git -------------------------------------------------------------------------


def test_local_branch(repos: Repos) -> None:
    repo = repos.make()

    ctx = resolve({}, repo)

    assert ctx.provider == "local"
    assert ctx.event == "push"
    assert ctx.ref == "refs/heads/main"
    assert ctx.branch == "main"
    assert ctx.tag is None
    assert ctx.sha == repos.git(repo, "rev-parse", "HEAD")
    assert ctx.commit_date == COMMIT_DATE
    assert ctx.dirty is False
    assert ctx.shallow is False
    assert ctx.run_id is None


@pytest.mark.parametrize("tag", ["v1.2.3", "1.2.3"])
def test_local_tag_at_head_keeps_branch(repos: Repos, tag: str) -> None:
    repo = repos.make()
    repos.git(repo, "tag", tag)

    ctx = resolve({}, repo)

    assert ctx.ref == f"refs/tags/{tag}"
    assert ctx.tag == tag
    assert ctx.branch == "main"
    assert not any("several tags" in note for note in ctx.notes)


def test_local_several_tags_pick_highest_version(repos: Repos) -> None:
    repo = repos.make()
    for tag in ("v1.9.0", "v1.10.0", "1.2.3", "latest", "v2.0.0-rc.1"):
        repos.git(repo, "tag", tag)

    ctx = resolve({}, repo)

    assert ctx.tag == "v2.0.0-rc.1"
    assert ctx.ref == "refs/tags/v2.0.0-rc.1"
    assert any("several tags" in note and "v2.0.0-rc.1" in note for note in ctx.notes)


@pytest.mark.parametrize(
    ("tags", "chosen"),
    [
        (["v1.9.0", "v1.10.0"], "v1.10.0"),
        (["1.2.3-rc.1", "1.2.3"], "1.2.3"),
        (["1.2.3", "v1.2.3"], "v1.2.3"),
        (["latest", "v0.1.0", "stable"], "v0.1.0"),
        (["release-2024-01", "release-2024-02"], "release-2024-02"),
        (["only"], "only"),
        ([], None),
    ],
)
def test_choose_tag(tags: list[str], chosen: str | None) -> None:
    assert choose_tag(tags) == chosen


def test_local_detached_without_tag(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "checkout", "--quiet", "--detach")

    ctx = resolve({}, repo)

    assert ctx.ref == ""
    assert ctx.branch is None
    assert ctx.sha == repos.git(repo, "rev-parse", "HEAD")
    assert any("detached" in note and "check out a branch" in note for note in ctx.notes)


def test_local_detached_at_tag(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "v1.2.3")
    repos.git(repo, "checkout", "--quiet", "v1.2.3")

    ctx = resolve({}, repo)

    assert ctx.ref == "refs/tags/v1.2.3"
    assert ctx.branch is None
    assert not any("detached" in note for note in ctx.notes)


def test_local_shallow_clone(repos: Repos) -> None:
    origin = repos.make("origin")
    repos.git(origin, "tag", "v1.0.0")
    repos.commit(origin, "second\n")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))

    ctx = resolve({}, clone)

    assert ctx.shallow is True
    assert ctx.ref == "refs/heads/main"
    assert ctx.default_branch == "main"
    assert any("shallow" in n and "git fetch --tags --unshallow" in n for n in ctx.notes)


def test_local_dirty(repos: Repos) -> None:
    repo = repos.make()
    (repo / "file.txt").write_text("changed\n")

    assert resolve({}, repo).dirty is True


def test_not_a_repository(tmp_path: Path) -> None:
    ctx = resolve({}, tmp_path)

    assert ctx.sha == ""
    assert ctx.ref == ""
    assert ctx.provider == "local"
    assert any("not inside a git repository" in n and "git init" in n for n in ctx.notes)


def test_repository_without_commits(repos: Repos) -> None:
    ctx = resolve({}, repos.init())

    assert ctx.sha == ""
    assert ctx.commit_date is None
    assert any("no commits" in note for note in ctx.notes)


def test_origin_gives_web_url_and_repository(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "git@github.com:acme/app.git")

    ctx = resolve({}, repo)

    assert ctx.repo_url == "https://github.com/acme/app"
    assert ctx.repository == "acme/app"
    assert not any("web URL" in note for note in ctx.notes)


def test_origin_token_appears_nowhere(repos: Repos) -> None:
    repo = repos.make()
    token = "ghp_originTokenMustNotLeak42"
    repos.git(repo, "remote", "add", "origin", f"https://{token}@github.com/acme/app.git")

    ctx = resolve({}, repo)

    assert ctx.repo_url == "https://github.com/acme/app"
    assert token not in dump(ctx)
    assert secrets.redact(f"x {token} y") == "x *** y"  # registered for masking when read


def test_missing_origin_and_default_branch_are_noted(repos: Repos) -> None:
    ctx = resolve({}, repos.make())

    assert ctx.repo_url is None
    assert any("git remote add origin" in note for note in ctx.notes)
    assert any("git remote set-head origin --auto" in note for note in ctx.notes)
    assert ctx.is_default_branch is False


def test_default_branch_from_origin_head(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "https://example.com/acme/app.git")
    repos.git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    repos.git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")

    ctx = resolve({}, repo)

    assert ctx.default_branch == "main"
    assert ctx.is_default_branch is True
    assert ctx.notes == ()


def test_process_environment_is_never_read(repos: Repos, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v9.9.9")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "not a number")

    ctx = resolve({}, repos.make())

    assert ctx.provider == "local"
    assert ctx.ref == "refs/heads/main"
    assert ctx.now == NOW


def test_to_dict_is_json(repos: Repos) -> None:
    ctx = resolve({}, repos.make())

    data = json.loads(json.dumps(ctx.to_dict()))

    assert data["commit_date"] == "2024-05-06T07:08:09+00:00"
    assert data["now"] == "2025-01-02T03:04:05+00:00"


# --- now ------------------------------------------------------------------------------


def test_source_date_epoch_wins_over_now(tmp_path: Path) -> None:
    ctx = resolve({"SOURCE_DATE_EPOCH": "1700000000"}, tmp_path)

    assert ctx.now == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_blank_source_date_epoch_is_unset(tmp_path: Path) -> None:
    assert resolve({"SOURCE_DATE_EPOCH": ""}, tmp_path).now == NOW


@pytest.mark.parametrize("bad", ["yesterday", "-5", "1.5", "1e9", "99999999999999999999"])
def test_bad_source_date_epoch(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ContextError, match="SOURCE_DATE_EPOCH") as info:
        resolve({"SOURCE_DATE_EPOCH": bad}, tmp_path)
    assert info.value.exit_code == 2


def test_now_argument_is_made_utc(tmp_path: Path) -> None:
    plus_two = datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))

    now = resolve_context({}, tmp_path, now=plus_two).now

    assert now == NOW
    assert now.tzinfo == timezone.utc


def test_naive_now_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_context({}, tmp_path, now=datetime(2025, 1, 1))


def test_clock_by_default(tmp_path: Path) -> None:
    before = datetime.now(timezone.utc)
    now = resolve_context({}, tmp_path).now
    assert before <= now <= datetime.now(timezone.utc)


# --- GitHub Actions ---------------------------------------------------------------------


def test_github_branch_push_with_payload(repos: Repos, tmp_path: Path) -> None:
    repo = repos.make()
    sha = repos.git(repo, "rev-parse", "HEAD")
    event = write_event(
        tmp_path,
        {
            "repository": {
                "default_branch": "main",
                "html_url": "https://github.com/acme/app",
            },
            "head_commit": {"id": sha, "timestamp": "2024-07-01T12:00:00+02:00"},
        },
    )

    ctx = resolve(github_env(sha, "refs/heads/main", event_path=event), repo)

    assert ctx.provider == "github"
    assert key(ctx) == ("refs/heads/main", "push", "main", None, None, None, sha)
    assert ctx.default_branch == "main"
    assert ctx.is_default_branch is True
    assert ctx.commit_date == datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)
    assert ctx.repository == "acme/app"
    assert ctx.repo_url == "https://github.com/acme/app"
    assert ctx.run_id == "987654"
    assert ctx.run_number == "42"
    assert ctx.run_url == "https://github.com/acme/app/actions/runs/987654"
    assert ctx.notes == ()


def test_github_commit_date_from_commits_list(tmp_path: Path) -> None:
    event = write_event(
        tmp_path,
        {
            "commits": [
                {"id": "f" * 40, "timestamp": "2024-01-01T00:00:00Z"},
                {"id": SHA, "timestamp": "2024-02-03T04:05:06Z"},
            ]
        },
    )

    ctx = resolve(github_env(SHA, "refs/heads/main", event_path=event), tmp_path)

    assert ctx.commit_date == datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def test_github_tag_push(tmp_path: Path) -> None:
    ctx = resolve(github_env(SHA, "refs/tags/v1.2.3"), tmp_path)

    assert key(ctx) == ("refs/tags/v1.2.3", "push", None, "v1.2.3", None, None, SHA)


def test_github_pull_request(tmp_path: Path) -> None:
    head = "a" * 40
    event = write_event(
        tmp_path,
        {
            "number": 12,
            "pull_request": {"number": 12, "head": {"sha": head, "ref": "feature/x"}},
            "repository": {"default_branch": "main"},
        },
    )
    env = github_env(
        SHA,
        "refs/pull/12/merge",
        event="pull_request",
        event_path=event,
        GITHUB_HEAD_REF="feature/x",
        GITHUB_BASE_REF="main",
    )

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/pull/12/merge", "pull_request", "feature/x", None, 12, "main", SHA)
    assert ctx.pr_head_sha == head
    assert ctx.is_default_branch is False


def test_github_pull_request_branch_from_payload(tmp_path: Path) -> None:
    event = write_event(
        tmp_path,
        {"pull_request": {"number": 3, "head": {"ref": "fix"}, "base": {"ref": "develop"}}},
    )
    env = github_env(SHA, "refs/pull/3/merge", event="pull_request", event_path=event)

    ctx = resolve(env, tmp_path)

    assert (ctx.pr_number, ctx.branch, ctx.base_ref) == (3, "fix", "develop")


def test_github_schedule(tmp_path: Path) -> None:
    ctx = resolve(github_env(SHA, "refs/heads/main", event="schedule"), tmp_path)

    assert key(ctx) == ("refs/heads/main", "schedule", "main", None, None, None, SHA)


def test_github_enterprise_server_urls(tmp_path: Path) -> None:
    env = github_env(SHA, "refs/heads/main", GITHUB_SERVER_URL="https://ghe.example.com/")

    ctx = resolve(env, tmp_path)

    assert ctx.repo_url == "https://ghe.example.com/acme/app"
    assert ctx.run_url == "https://ghe.example.com/acme/app/actions/runs/987654"


def test_github_without_event_path_notes_it(tmp_path: Path) -> None:
    ctx = resolve(github_env(SHA, "refs/heads/main"), tmp_path)

    assert ctx.default_branch is None
    assert any("GITHUB_EVENT_PATH is not set" in note for note in ctx.notes)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\udcff"])
def test_github_malformed_payload_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))

    with pytest.raises(ContextError, match="GITHUB_EVENT_PATH") as info:
        resolve(github_env(SHA, "refs/heads/main", event_path=path), tmp_path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_github_missing_payload_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    with pytest.raises(ContextError, match=r"absent\.json"):
        resolve(github_env(SHA, "refs/heads/main", event_path=path), tmp_path)


def test_ci_ref_wins_over_local_tag(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "v1.2.3")
    sha = repos.git(repo, "rev-parse", "HEAD")

    ctx = resolve(github_env(sha, "refs/heads/main"), repo)

    assert (ctx.ref, ctx.branch, ctx.tag) == ("refs/heads/main", "main", None)
    assert ctx.commit_date == COMMIT_DATE  # same commit: the date still comes from git
    assert not any("several tags" in note for note in ctx.notes)


def test_ci_commit_other_than_checkout(repos: Repos) -> None:
    repo = repos.make()

    ctx = resolve(github_env(SHA, "refs/heads/main"), repo)

    assert ctx.sha == SHA
    assert ctx.commit_date is None
    assert any("the checkout is at" in note for note in ctx.notes)


def test_github_shallow_note_names_fetch_depth(repos: Repos) -> None:
    origin = repos.make("origin")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))
    sha = repos.git(clone, "rev-parse", "HEAD")
    repos.git(clone, "checkout", "--quiet", "--detach")  # as actions/checkout leaves it

    ctx = resolve(github_env(sha, "refs/heads/main"), clone)

    assert ctx.ref == "refs/heads/main"
    assert ctx.shallow is True
    assert any("shallow" in note and "fetch-depth: 0" in note for note in ctx.notes)


# --- GitLab CI ------------------------------------------------------------------------


def test_gitlab_branch_push(tmp_path: Path) -> None:
    env = gitlab_env(
        SHA,
        CI_COMMIT_BRANCH="main",
        CI_COMMIT_REF_NAME="main",
        CI_COMMIT_TIMESTAMP="2024-05-06T09:08:09+02:00",
    )

    ctx = resolve(env, tmp_path)

    assert ctx.provider == "gitlab"
    assert key(ctx) == ("refs/heads/main", "push", "main", None, None, None, SHA)
    assert ctx.default_branch == "main"
    assert ctx.commit_date == COMMIT_DATE
    assert ctx.repository == "acme/app"
    assert ctx.repo_url == "https://gitlab.example.com/acme/app"
    assert (ctx.run_id, ctx.run_number) == ("5001", "17")
    assert ctx.run_url == "https://gitlab.example.com/acme/app/-/pipelines/5001"
    assert ctx.job_url == "https://gitlab.example.com/acme/app/-/jobs/9001"


def test_gitlab_tag(tmp_path: Path) -> None:
    env = gitlab_env(SHA, CI_COMMIT_TAG="1.2.3", CI_COMMIT_REF_NAME="1.2.3")

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/tags/1.2.3", "push", None, "1.2.3", None, None, SHA)


def test_gitlab_merge_request(tmp_path: Path) -> None:
    env = gitlab_env(
        SHA,
        source="merge_request_event",
        CI_COMMIT_REF_NAME="feature/x",
        CI_MERGE_REQUEST_IID="12",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/x",
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
    )

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/pull/12/merge", "pull_request", "feature/x", None, 12, "main", SHA)
    assert ctx.pr_head_sha == SHA  # not a merged-results pipeline: the commit is the head


def test_gitlab_merged_results_head_sha(tmp_path: Path) -> None:
    head = "b" * 40
    env = gitlab_env(
        SHA,
        source="merge_request_event",
        CI_MERGE_REQUEST_IID="12",
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=head,
    )

    assert resolve(env, tmp_path).pr_head_sha == head


def test_gitlab_schedule(tmp_path: Path) -> None:
    env = gitlab_env(SHA, source="schedule", CI_COMMIT_BRANCH="main")

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/heads/main", "schedule", "main", None, None, None, SHA)


@pytest.mark.parametrize("source", ["web", "api", "trigger", "pipeline"])
def test_gitlab_manual_sources_are_workflow_dispatch(tmp_path: Path, source: str) -> None:
    ctx = resolve(gitlab_env(SHA, source=source, CI_COMMIT_BRANCH="main"), tmp_path)

    assert ctx.event == "workflow_dispatch"


def test_gitlab_unknown_source_is_kept_and_noted(tmp_path: Path) -> None:
    ctx = resolve(gitlab_env(SHA, source="webide", CI_COMMIT_BRANCH="main"), tmp_path)

    assert ctx.event == "webide"
    assert any("'webide'" in note for note in ctx.notes)


def test_gitlab_malformed_merge_request_iid(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="CI_MERGE_REQUEST_IID"):
        resolve(gitlab_env(SHA, CI_MERGE_REQUEST_IID="twelve"), tmp_path)


@pytest.mark.parametrize("with_project_url", [True, False])
def test_gitlab_repository_url_token_appears_nowhere(repos: Repos, with_project_url: bool) -> None:
    token = "glcbt-jobTokenMustNotLeak77"
    url = f"https://gitlab-ci-token:{token}@gitlab.example.com/acme/app.git"
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", url)  # the runner clones from this URL
    sha = repos.git(repo, "rev-parse", "HEAD")
    env = gitlab_env(sha, CI_COMMIT_BRANCH="main", CI_REPOSITORY_URL=url)
    if not with_project_url:
        del env["CI_PROJECT_URL"]

    ctx = resolve(env, repo)

    assert ctx.repo_url == "https://gitlab.example.com/acme/app"
    assert token not in dump(ctx)


def test_gitlab_shallow_note_names_git_depth(repos: Repos) -> None:
    origin = repos.make("origin")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))
    sha = repos.git(clone, "rev-parse", "HEAD")

    ctx = resolve(gitlab_env(sha, CI_COMMIT_BRANCH="main"), clone)

    assert any("shallow" in note and "GIT_DEPTH: 0" in note for note in ctx.notes)


# --- Jenkins --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "detected"),
    [
        ({"JENKINS_URL": "https://jenkins.example.com/"}, True),
        ({"BUILD_URL": "https://j/job/a/1/", "JENKINS_HOME": "/var/jenkins_home"}, True),
        ({"BUILD_URL": "https://j/job/a/1/", "EXECUTOR_NUMBER": "0"}, True),
        ({"BUILD_URL": "https://j/job/a/1/"}, False),
        ({"JENKINS_HOME": "/var/jenkins_home"}, False),
    ],
)
def test_jenkins_detection(tmp_path: Path, env: dict[str, str], detected: bool) -> None:
    ctx = resolve({**env, "GIT_COMMIT": SHA}, tmp_path)

    assert (ctx.provider == "jenkins") is detected


@pytest.mark.parametrize(
    "git_branch",
    ["origin/main", "refs/remotes/origin/main", "main", "refs/heads/main"],
)
def test_jenkins_git_branch_is_made_local(tmp_path: Path, git_branch: str) -> None:
    ctx = resolve(jenkins_env(SHA, GIT_BRANCH=git_branch), tmp_path)

    assert key(ctx) == ("refs/heads/main", "push", "main", None, None, None, SHA)


def test_jenkins_branch_with_slash(tmp_path: Path) -> None:
    ctx = resolve(jenkins_env(SHA, GIT_BRANCH="origin/feature/x"), tmp_path)

    assert ctx.branch == "feature/x"


def test_jenkins_multibranch_branch_name_wins(tmp_path: Path) -> None:
    env = jenkins_env(SHA, BRANCH_NAME="develop", GIT_BRANCH="origin/other")

    ctx = resolve(env, tmp_path)

    assert (ctx.provider, ctx.ref, ctx.branch) == ("jenkins", "refs/heads/develop", "develop")
    assert ctx.run_url == "https://jenkins.example.com/job/app/job/main/7/"
    assert (ctx.run_id, ctx.run_number) == ("7", "7")
    assert ctx.repo_url == "https://github.com/acme/app"
    assert ctx.repository == "acme/app"


def test_jenkins_tag(tmp_path: Path) -> None:
    env = jenkins_env(SHA, TAG_NAME="v1.2.3", BRANCH_NAME="v1.2.3")

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/tags/v1.2.3", "push", None, "v1.2.3", None, None, SHA)


def test_jenkins_change_request(tmp_path: Path) -> None:
    env = jenkins_env(
        SHA, BRANCH_NAME="PR-12", CHANGE_ID="12", CHANGE_TARGET="main", CHANGE_BRANCH="feature/x"
    )

    ctx = resolve(env, tmp_path)

    assert key(ctx) == ("refs/pull/12/merge", "pull_request", "feature/x", None, 12, "main", SHA)


@pytest.mark.parametrize(
    "cause",
    [
        {"BUILD_CAUSE": "TIMERTRIGGER"},
        {"BUILD_CAUSE": "SCMTRIGGER, TIMERTRIGGER"},
        {"BUILD_CAUSE_TIMERTRIGGER": "true"},
    ],
)
def test_jenkins_timer_is_schedule(tmp_path: Path, cause: dict[str, str]) -> None:
    ctx = resolve(jenkins_env(SHA, BRANCH_NAME="main", **cause), tmp_path)

    assert key(ctx) == ("refs/heads/main", "schedule", "main", None, None, None, SHA)


def test_jenkins_malformed_change_id(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="CHANGE_ID"):
        resolve(jenkins_env(SHA, CHANGE_ID="abc"), tmp_path)


def test_jenkins_git_url_credentials_are_stripped(tmp_path: Path) -> None:
    ctx = resolve(jenkins_env(SHA, GIT_URL="https://user:pw@host.example/x.git"), tmp_path)

    assert ctx.repo_url == "https://host.example/x"
    assert ctx.repository == "x"
    assert "user:pw" not in dump(ctx)
    assert "pw@" not in dump(ctx)


def test_jenkins_default_branch_is_noted(tmp_path: Path) -> None:
    ctx = resolve(jenkins_env(SHA, BRANCH_NAME="main"), tmp_path)

    assert ctx.default_branch is None
    assert any("default branch is unknown" in note for note in ctx.notes)


# --- the same situation everywhere ------------------------------------------------------


def test_branch_push_is_the_same_everywhere(repos: Repos) -> None:
    repo = repos.make()
    sha = repos.git(repo, "rev-parse", "HEAD")
    envs = [
        {},
        github_env(sha, "refs/heads/main"),
        gitlab_env(sha, CI_COMMIT_BRANCH="main", CI_COMMIT_REF_NAME="main"),
        jenkins_env(sha, GIT_BRANCH="origin/main"),
        jenkins_env(sha, BRANCH_NAME="main"),
    ]

    keys = {key(resolve(env, repo)) for env in envs}

    assert keys == {("refs/heads/main", "push", "main", None, None, None, sha)}


def test_tag_push_is_the_same_everywhere(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "v1.2.3")
    repos.git(repo, "checkout", "--quiet", "v1.2.3")  # CI checks tags out detached
    sha = repos.git(repo, "rev-parse", "HEAD")
    envs = [
        {},
        github_env(sha, "refs/tags/v1.2.3"),
        gitlab_env(sha, CI_COMMIT_TAG="v1.2.3", CI_COMMIT_REF_NAME="v1.2.3"),
        jenkins_env(sha, TAG_NAME="v1.2.3", BRANCH_NAME="v1.2.3"),
    ]

    keys = {key(resolve(env, repo)) for env in envs}

    assert keys == {("refs/tags/v1.2.3", "push", None, "v1.2.3", None, None, sha)}


def test_pull_request_is_the_same_everywhere(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "checkout", "--quiet", "--detach")
    sha = repos.git(repo, "rev-parse", "HEAD")
    envs = [
        github_env(
            sha,
            "refs/pull/12/merge",
            event="pull_request",
            GITHUB_HEAD_REF="feature/x",
            GITHUB_BASE_REF="main",
        ),
        gitlab_env(
            sha,
            source="merge_request_event",
            CI_MERGE_REQUEST_IID="12",
            CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/x",
            CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
        ),
        jenkins_env(
            sha,
            BRANCH_NAME="PR-12",
            CHANGE_ID="12",
            CHANGE_BRANCH="feature/x",
            CHANGE_TARGET="main",
        ),
    ]

    keys = {key(resolve(env, repo)) for env in envs}

    assert keys == {("refs/pull/12/merge", "pull_request", "feature/x", None, 12, "main", sha)}


def test_schedule_is_the_same_everywhere(repos: Repos) -> None:
    repo = repos.make()
    sha = repos.git(repo, "rev-parse", "HEAD")
    envs = [
        github_env(sha, "refs/heads/main", event="schedule"),
        gitlab_env(sha, source="schedule", CI_COMMIT_BRANCH="main", CI_COMMIT_REF_NAME="main"),
        jenkins_env(sha, BRANCH_NAME="main", BUILD_CAUSE="TIMERTRIGGER"),
    ]

    keys = {key(resolve(env, repo)) for env in envs}

    assert keys == {("refs/heads/main", "schedule", "main", None, None, None, sha)}


# --- remote URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/app.git", "https://github.com/acme/app"),
        ("https://user:token@github.com/acme/app.git", "https://github.com/acme/app"),
        ("https://github.com/acme/app", "https://github.com/acme/app"),
        ("https://github.com/acme/app.git/", "https://github.com/acme/app"),
        ("ssh://git@gitlab.example.com:2222/g/sub/p.git", "https://gitlab.example.com/g/sub/p"),
        ("http://u:p@registry.local:8080/acme/app.git", "http://registry.local:8080/acme/app"),
        ("git://example.com/acme/app.git", "https://example.com/acme/app"),
        ("file:///srv/git/app.git", None),
        ("/srv/git/app.git", None),
        ("../app", None),
        ("https://oauth2:tok@gitlab.com/", None),
    ],
)
def test_web_url(remote: str, url: str | None) -> None:
    assert web_url(remote) == url


@pytest.mark.parametrize(("env", "variable"), [
    (github_env("zzz", "refs/heads/main"), "GITHUB_SHA"),
    (gitlab_env("not-a-sha", CI_COMMIT_BRANCH="main"), "CI_COMMIT_SHA"),
    (gitlab_env(SHA, source="merge_request_event", CI_MERGE_REQUEST_IID="3",
                CI_MERGE_REQUEST_SOURCE_BRANCH_SHA="12345"),
     "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
    (jenkins_env("g" * 40, BRANCH_NAME="main"), "GIT_COMMIT"),
    (github_env(SHA[:12], "refs/heads/main"), "GITHUB_SHA"),  # a short sha names no commit
])
def test_a_ci_sha_that_cannot_be_a_commit_is_an_input_error(
    tmp_path: Path, env: dict[str, str], variable: str,
) -> None:
    with pytest.raises(ContextError) as info:
        resolve(env, tmp_path)

    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{variable}=")
    assert "not a commit" in str(info.value)
    assert info.value.hint is not None and variable in info.value.hint


def test_a_ci_sha_in_capitals_is_read_in_lower_case(tmp_path: Path) -> None:
    context = resolve(github_env(SHA.upper(), "refs/heads/main"), tmp_path)

    assert context.sha == SHA
    assert context.short_sha == SHA[:7]
