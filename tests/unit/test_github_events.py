"""The GitHub adapter over real-shaped event payloads, against metadata-action's behaviour.

Each case is the environment the runner sets for one event plus the payload it writes
(tests/unit/github_events/), read the way `dockyard run` reads them, then tagged with
metadata-action's default rules (and `type=sha`). The expected tags are what
docker/metadata-action gives for the same variables and payload (its README and
__tests__/meta.test.ts, fixtures event_*.env).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard.context import Context, resolve_context
from dockyard.errors import ContextError
from dockyard.tagging import compute_tags, parse_flavor, parse_rules

if TYPE_CHECKING:
    from conftest import Repos  # tests/unit/conftest.py; typing only, pytest provides it

EVENTS = Path(__file__).parent / "github_events"
DEV = "860c1904a1ce19322e91ac35af1ab07466440c37"
MERGE = "266574110acf203503badf966df2ea24b5d732d7"
HEAD = "57a8fb29acfb3c1e27c66226a8993fb4ef722e26"
QUEUE = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
QUEUE_REF = "refs/heads/gh-readonly-queue/master/pr-15-2b13c4617af78dc00a6304390682f234a53f3665"
RULES = ("type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr",
         "type=sha")


def runner_env(event: str, ref: str, sha: str, payload: str, **extra: str) -> dict[str, str]:
    """What the runner sets (the variables metadata-action's event_*.env fixtures hold)."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(EVENTS / payload),
        "GITHUB_REF": ref,
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "crazy-max/test-docker-action",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_RUN_ID": "2188688000",
        "GITHUB_RUN_NUMBER": "10",
        "SOURCE_DATE_EPOCH": "1578616200",  # 2020-01-10T00:30:00Z, metadata-action's clock
        **extra,
    }


def tags_of(context: Context, rules: tuple[str, ...] = RULES) -> list[str]:
    return [t.name for t in compute_tags(parse_rules(rules), parse_flavor(None), context).tags]


def pr_env(**extra: str) -> dict[str, str]:
    return runner_env("pull_request", "refs/pull/15/merge", MERGE, "pull_request.json",
                      GITHUB_HEAD_REF="feature", GITHUB_BASE_REF="master", **extra)


def target_env(**extra: str) -> dict[str, str]:
    # The runner names the base branch for pull_request_target (event_pull_request_target.env)
    return runner_env("pull_request_target", "refs/heads/master", MERGE,
                      "pull_request_target.json", GITHUB_HEAD_REF="test-pr",
                      GITHUB_BASE_REF="master", **extra)


CASES = [
    pytest.param(runner_env("push", "refs/heads/dev", DEV, "push.json"),
                 ["dev", "sha-860c190"], id="push"),
    pytest.param(runner_env("push", "refs/tags/v1.1.1", DEV, "tag.json"),
                 ["v1.1.1", "sha-860c190", "latest"], id="tag"),
    pytest.param(pr_env(), ["pr-15", "sha-2665741"], id="pull_request"),
    pytest.param(target_env(), ["pr-8", "sha-2665741"], id="pull_request_target"),
    pytest.param(runner_env("schedule", "refs/heads/master", DEV, "schedule.json"),
                 ["nightly", "master", "sha-860c190"], id="schedule"),
    pytest.param(runner_env("release", "refs/tags/v1.1.1", DEV, "release.json"),
                 ["v1.1.1", "sha-860c190", "latest"], id="release"),
    pytest.param(runner_env("workflow_dispatch", "refs/heads/master", DEV,
                            "workflow_dispatch.json"),
                 ["master", "sha-860c190"], id="workflow_dispatch"),
    pytest.param(runner_env("merge_group", QUEUE_REF, QUEUE, "merge_group.json"),
                 ["gh-readonly-queue-master-pr-15-2b13c4617af78dc00a6304390682f234a53f3665",
                  "sha-ec26c3e"], id="merge_group"),
]


@pytest.mark.parametrize(("env", "expected"), CASES)
def test_default_rules_per_event(env: dict[str, str], expected: list[str],
                                 tmp_path: Path) -> None:
    assert tags_of(resolve_context(env, tmp_path)) == expected


def test_pull_request_target_reads_the_pull_requests_ref(tmp_path: Path) -> None:
    context = resolve_context(target_env(), tmp_path)

    assert context.ref == "refs/pull/8/merge"
    assert (context.pr_number, context.branch, context.base_ref) == (8, "test-pr", "master")
    assert context.is_default_branch is False
    assert tags_of(context, ("type=raw,value=mytag-{{base_ref}}",
                             "type=raw,value=def,enable={{is_default_branch}}",
                             "type=ref,event=branch")) == ["mytag-master"]
    # a fork's PR, but pull_request_target jobs get the base repository's secrets
    assert context.pr_from_fork is True
    assert context.secrets_withheld is False


@pytest.mark.parametrize("env", [pr_env, target_env], ids=["pull_request",
                                                          "pull_request_target"])
def test_pr_head_sha_names_the_head_commit(env: object, tmp_path: Path) -> None:
    assert callable(env)
    context = resolve_context(env(DOCKER_METADATA_PR_HEAD_SHA="true"), tmp_path)

    assert context.sha == HEAD
    assert tags_of(context, ("type=sha", "type=sha,format=long", "type=raw,{{sha}}")) == [
        "57a8fb2", "sha-57a8fb2", f"sha-{HEAD}"]


@pytest.mark.parametrize("value", ["false", "", "1"])
def test_pr_head_sha_only_when_true(value: str, tmp_path: Path) -> None:
    context = resolve_context(pr_env(DOCKER_METADATA_PR_HEAD_SHA=value), tmp_path)
    assert context.sha == MERGE


def test_pr_head_sha_leaves_pushes_alone(tmp_path: Path) -> None:
    env = runner_env("push", "refs/heads/dev", DEV, "push.json",
                     DOCKER_METADATA_PR_HEAD_SHA="true")
    assert resolve_context(env, tmp_path).sha == DEV


def test_pr_head_sha_reads_local_git_as_the_merge_commit(repos: Repos) -> None:
    """The runner checks out the merge commit: that checkout is still the build's, so no
    note says the checkout is at another commit."""
    repo = repos.make()
    merge = repos.git(repo, "rev-parse", "HEAD")
    env = runner_env("pull_request", "refs/pull/15/merge", merge, "pull_request.json",
                     GITHUB_HEAD_REF="feature", GITHUB_BASE_REF="master",
                     DOCKER_METADATA_PR_HEAD_SHA="true")

    context = resolve_context(env, repo)

    assert context.sha == HEAD
    assert not [note for note in context.notes if "the checkout is at" in note]


def test_short_sha_length(tmp_path: Path) -> None:
    env = runner_env("push", "refs/heads/dev", DEV, "push.json",
                     DOCKER_METADATA_SHORT_SHA_LENGTH="12")
    context = resolve_context(env, tmp_path)

    assert tags_of(context, ("type=sha", "type=raw,value=b-{{sha}}", "type=raw,x-{{sha '4'}}")
                   ) == ["b-860c1904a1ce", "x-860c", "sha-860c1904a1ce"]


@pytest.mark.parametrize("bad", ["0", "65", "twelve", "-3", "1.5"])
def test_bad_short_sha_length_is_an_input_error(bad: str, tmp_path: Path) -> None:
    env = runner_env("push", "refs/heads/dev", DEV, "push.json",
                     DOCKER_METADATA_SHORT_SHA_LENGTH=bad)
    with pytest.raises(ContextError, match="DOCKER_METADATA_SHORT_SHA_LENGTH") as info:
        resolve_context(env, tmp_path)
    assert info.value.exit_code == 2


def test_context_source_git_takes_the_checkout(repos: Repos) -> None:
    """metadata-action's `context: git`: the checkout's ref and commit over the runner's."""
    repo = repos.make()
    sha = repos.git(repo, "rev-parse", "HEAD")
    branch = repos.git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    env = pr_env(DOCKYARD_CONTEXT_SOURCE="git")

    context = resolve_context(env, repo)

    assert (context.ref, context.sha, context.pr_number) == (f"refs/heads/{branch}", sha, None)
    assert tags_of(context) == [branch, f"sha-{sha[:7]}"]
    assert resolve_context(pr_env(DOCKYARD_CONTEXT_SOURCE="workflow"), repo).ref == \
        "refs/pull/15/merge"


def test_bad_context_source(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="DOCKYARD_CONTEXT_SOURCE") as info:
        resolve_context(pr_env(DOCKYARD_CONTEXT_SOURCE="github"), tmp_path)
    assert info.value.exit_code == 2
