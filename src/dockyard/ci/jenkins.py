"""Jenkins: git plugin and multibranch variables mapped onto GitHub's vocabulary.

Jenkins has no event variable. A change request (CHANGE_ID) is `pull_request`; a build
started by a timer is `schedule` when BUILD_CAUSE says so (EnvInject's
`BUILD_CAUSE=TIMERTRIGGER`, which a pipeline can also set from
`currentBuild.getBuildCauses()`); everything else is `push`.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.ci import Facts, commit_sha, number, repository_of, value, web_url

_REMOTE_PREFIXES = ("refs/remotes/origin/", "origin/", "refs/heads/")


def detected(env: Mapping[str, str]) -> bool:
    if value(env, "JENKINS_URL"):
        return True
    agent = value(env, "JENKINS_HOME") or value(env, "EXECUTOR_NUMBER")
    return bool(value(env, "BUILD_URL") and agent)


def read(env: Mapping[str, str]) -> Facts:
    change = number(env, "CHANGE_ID")
    tag = value(env, "TAG_NAME")
    branch = value(env, "BRANCH_NAME") or _local_branch(value(env, "GIT_BRANCH"))
    ref = base_ref = None
    if change is not None:
        ref = f"refs/pull/{change}/merge"
        tag = None
        branch = value(env, "CHANGE_BRANCH")
        base_ref = value(env, "CHANGE_TARGET")
    elif tag:
        ref = f"refs/tags/{tag}"
        branch = None  # a multibranch tag build sets BRANCH_NAME to the tag
    elif branch:
        ref = f"refs/heads/{branch}"
    git_url = value(env, "GIT_URL")
    repo_url = web_url(git_url) if git_url else None
    return Facts(
        provider="jenkins",
        event=_event(env, change),
        ref=ref,
        sha=commit_sha(env, "GIT_COMMIT"),
        branch=branch,
        tag=tag,
        pr_number=change,
        base_ref=base_ref,
        repository=repository_of(repo_url),
        repo_url=repo_url,
        run_id=value(env, "BUILD_ID"),
        run_number=value(env, "BUILD_NUMBER"),
        run_url=value(env, "BUILD_URL"),
        # Branch Source plugins set CHANGE_FORK to the fork's owner for fork PRs.
        pr_from_fork=change is not None and value(env, "CHANGE_FORK") is not None,
    )


def _local_branch(name: str | None) -> str | None:
    """GIT_BRANCH names the remote-tracking branch: `origin/main` -> `main`."""
    if name is None:
        return None
    for prefix in _REMOTE_PREFIXES:
        if name.startswith(prefix):
            return name.removeprefix(prefix) or None
    return name


def _event(env: Mapping[str, str], change: int | None) -> str:
    if change is not None:
        return "pull_request"
    causes = [cause.strip() for cause in (value(env, "BUILD_CAUSE") or "").upper().split(",")]
    if "TIMERTRIGGER" in causes or value(env, "BUILD_CAUSE_TIMERTRIGGER") == "true":
        return "schedule"
    return "push"
