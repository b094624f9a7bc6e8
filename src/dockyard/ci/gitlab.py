"""GitLab CI: predefined variables mapped onto GitHub's vocabulary.

A merge request becomes `refs/pull/<IID>/merge` with event `pull_request`, so tag rules
written for GitHub behave the same. CI_REPOSITORY_URL is never read: it holds a job token.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.ci import Facts, commit_sha, number, timestamp, value

# CI_PIPELINE_SOURCE -> GitHub event name
_EVENTS = {
    "push": "push",
    "merge_request_event": "pull_request",
    "schedule": "schedule",
    "web": "workflow_dispatch",
    "api": "workflow_dispatch",
    "trigger": "workflow_dispatch",
    "pipeline": "workflow_dispatch",
}


def detected(env: Mapping[str, str]) -> bool:
    return value(env, "GITLAB_CI") == "true"


def read(env: Mapping[str, str]) -> Facts:
    sha = commit_sha(env, "CI_COMMIT_SHA")
    mr = number(env, "CI_MERGE_REQUEST_IID")
    tag = value(env, "CI_COMMIT_TAG")
    # CI_COMMIT_BRANCH is unset in tag and MR pipelines; REF_NAME is the last resort.
    branch = value(env, "CI_COMMIT_BRANCH") or (None if tag else value(env, "CI_COMMIT_REF_NAME"))
    source = value(env, "CI_PIPELINE_SOURCE")
    event, notes = _event(source)
    ref = base_ref = pr_head_sha = None
    if mr is not None:
        ref = f"refs/pull/{mr}/merge"
        event = "pull_request"
        tag = None
        branch = value(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        base_ref = value(env, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
        # Set only in merged-results pipelines; otherwise the commit built is the head.
        pr_head_sha = commit_sha(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or sha
    elif tag:
        ref = f"refs/tags/{tag}"
        branch = None
    elif branch:
        ref = f"refs/heads/{branch}"
    return Facts(
        provider="gitlab",
        event=event,
        ref=ref,
        sha=sha,
        branch=branch,
        tag=tag,
        pr_number=mr,
        pr_head_sha=pr_head_sha,
        base_ref=base_ref,
        default_branch=value(env, "CI_DEFAULT_BRANCH"),
        commit_date=timestamp(value(env, "CI_COMMIT_TIMESTAMP")),
        repository=value(env, "CI_PROJECT_PATH"),
        repo_url=value(env, "CI_PROJECT_URL"),
        run_id=value(env, "CI_PIPELINE_ID"),
        run_number=value(env, "CI_PIPELINE_IID"),
        run_url=value(env, "CI_PIPELINE_URL"),
        job_url=value(env, "CI_JOB_URL"),
        pr_from_fork=mr is not None and _from_fork(env),
        notes=notes,
    )


def _from_fork(env: Mapping[str, str]) -> bool:
    source = value(env, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID")
    target = value(env, "CI_MERGE_REQUEST_PROJECT_ID")
    return source is not None and target is not None and source != target


def _event(source: str | None) -> tuple[str | None, tuple[str, ...]]:
    if source is None:
        return None, ()
    if source in _EVENTS:
        return _EVENTS[source], ()
    note = (
        f"GitLab pipeline source {source!r} has no GitHub event equivalent and is used "
        "as the event name as it is: write tag rules that do not depend on the event"
    )
    return source, (note,)
