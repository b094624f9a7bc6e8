"""The normalised git/CI context: one model for GitHub, GitLab, Jenkins and plain git.

Tag rules and labels read only this model. Its vocabulary is GitHub's (the one
docker/metadata-action's rules are written against): `ref` is a full git ref such as
`refs/heads/main`, `refs/tags/v1.2.3` or `refs/pull/12/merge`, and `event` is a GitHub
event name (`push`, `pull_request`, `schedule`, `workflow_dispatch`, ...). The CI
adapters translate their platform's variables into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dockyard import versions
from dockyard.ci import Facts, github, gitlab, jenkins, repository_of, web_url
from dockyard.errors import ContextError
from dockyard.git import GitFacts, NoGit, read_git


@dataclass(frozen=True)
class Context:
    provider: str  # "github", "gitlab", "jenkins" or "local"
    event: str  # GitHub event name; GitLab and Jenkins events are mapped onto it
    ref: str  # full git ref, "" when HEAD is detached and nothing says which ref it is
    sha: str  # full commit sha of what is built
    now: datetime  # timezone-aware; SOURCE_DATE_EPOCH when set
    branch: str | None = None  # branch for branch events; the head branch for PRs
    tag: str | None = None  # tag name for tag events
    pr_number: int | None = None
    pr_head_sha: str | None = None
    base_ref: str | None = None  # a PR's target branch
    default_branch: str | None = None
    commit_date: datetime | None = None  # timezone-aware
    repository: str | None = None  # "owner/name" (GitLab: the project path)
    repo_url: str | None = None  # web URL of the repository, never with credentials
    run_id: str | None = None
    run_number: str | None = None
    run_url: str | None = None
    job_url: str | None = None
    dirty: bool = False
    shallow: bool = False
    # A PR from another repository: CIs withhold secrets from its jobs.
    pr_from_fork: bool = False
    # What could not be found out, each with the way to fix it.
    notes: tuple[str, ...] = field(default=())
    # From the GitHub API, with a token (dockyard.ci.github_api): the repository's own words
    description: str | None = None
    licenses: str | None = None  # an SPDX id, such as MIT
    # `type=sha` and `{{sha}}`: DOCKER_METADATA_SHORT_SHA_LENGTH, as metadata-action reads it
    short_sha_length: int = 7

    @property
    def secrets_withheld(self) -> bool:
        """The CI gives this job no secrets: a fork's PR (but pull_request_target)."""
        return self.pr_from_fork and self.event != "pull_request_target"

    @property
    def short_sha(self) -> str:
        return self.sha[:self.short_sha_length]

    @property
    def is_default_branch(self) -> bool:
        return bool(self.branch) and self.branch == self.default_branch and not self.pr_number

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in `plan`/`run` output and the release record."""
        return {
            "provider": self.provider,
            "event": self.event,
            "ref": self.ref,
            "sha": self.sha,
            "branch": self.branch,
            "tag": self.tag,
            "pr_number": self.pr_number,
            "pr_head_sha": self.pr_head_sha,
            "base_ref": self.base_ref,
            "default_branch": self.default_branch,
            "commit_date": self.commit_date.isoformat() if self.commit_date else None,
            "now": self.now.isoformat(),
            "repository": self.repository,
            "repo_url": self.repo_url,
            "run_id": self.run_id,
            "run_number": self.run_number,
            "run_url": self.run_url,
            "job_url": self.job_url,
            "dirty": self.dirty,
            "shallow": self.shallow,
            "pr_from_fork": self.pr_from_fork,
            "notes": list(self.notes),
            "description": self.description,
            "licenses": self.licenses,
        }


def resolve_context(
    env: Mapping[str, str], workdir: Path, *, now: datetime | None = None
) -> Context:
    """The context of the build in `workdir`: the CI's variables, when running under
    GitHub Actions, GitLab CI or Jenkins, over what the local checkout says.

    `env` is the environment to read (never `os.environ`). "Now" is SOURCE_DATE_EPOCH
    when set, else `now`, else the clock. What cannot be found out is listed in
    `Context.notes` with its fix; ContextError is raised only where going on would be
    wrong: a malformed SOURCE_DATE_EPOCH, PR/MR number or GitHub event payload.
    """
    moment = _now(env, now)
    ci = _read_ci(env)
    checkout = read_git(workdir)
    git = checkout if isinstance(checkout, GitFacts) else None
    if _source(env) == "git" and git is not None and git.sha:
        ci = _checkout_over(ci, _local_facts(git, same_commit=True))
    # Tags and the commit date describe HEAD; they are only used when HEAD is what's built.
    same_commit = git is not None and (ci.checkout_sha or ci.sha) in (None, git.sha)
    facts = _overlay(_local_facts(git, same_commit=same_commit), ci)
    return Context(
        provider=facts.provider,
        event=facts.event or "push",
        ref=facts.ref or "",
        sha=facts.sha or "",
        now=moment,
        branch=facts.branch,
        tag=facts.tag,
        pr_number=facts.pr_number,
        pr_head_sha=facts.pr_head_sha,
        base_ref=facts.base_ref,
        default_branch=facts.default_branch,
        commit_date=facts.commit_date,
        repository=facts.repository,
        repo_url=facts.repo_url,
        run_id=facts.run_id,
        run_number=facts.run_number,
        run_url=facts.run_url,
        job_url=facts.job_url,
        dirty=git.dirty if git else False,
        shallow=git.shallow if git else False,
        pr_from_fork=facts.pr_from_fork,
        notes=_notes(facts, ci, checkout, same_commit=same_commit),
        short_sha_length=_short_sha_length(env),
    )


def choose_tag(tags: Sequence[str]) -> str | None:
    """The tag to build when HEAD carries several: the highest semantic version (`v`
    prefix allowed; between equal versions such as `1.2.3` and `v1.2.3`, the later
    name), else, when none is a version, the last by name."""
    found = [(version, tag) for tag in tags if (version := versions.parse(tag)) is not None]
    if found:
        return max(found)[1]
    return max(tags, default=None)


def _now(env: Mapping[str, str], now: datetime | None) -> datetime:
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        hint = "set it to a Unix time such as `git log -1 --format=%ct`, or unset it"
        if not (epoch.isascii() and epoch.isdigit()):
            raise ContextError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds since 1970",
                hint=hint,
            )
        try:
            return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ContextError(f"SOURCE_DATE_EPOCH={epoch} is out of range", hint=hint) from exc
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("resolve_context: `now` must be timezone-aware")
    return now.astimezone(timezone.utc)


SHORT_SHA_LENGTH = "DOCKER_METADATA_SHORT_SHA_LENGTH"
# metadata-action's `context` input (the action's `context` is the build context already)
CONTEXT_SOURCE = "DOCKYARD_CONTEXT_SOURCE"
_SOURCES = ("workflow", "git")


def _source(env: Mapping[str, str]) -> str:
    """`workflow` (the CI's variables win, the default) or `git` (the checkout's ref and
    commit win, as metadata-action's `context: git`)."""
    text = env.get(CONTEXT_SOURCE, "").strip() or "workflow"
    if text not in _SOURCES:
        raise ContextError(f"{CONTEXT_SOURCE}={text!r} is not a context source",
                           hint="use workflow (the CI's variables) or git (the checkout)")
    return text


def _checkout_over(ci: Facts, local: Facts) -> Facts:
    """The CI's facts with the ref, commit and what is read from them taken from git."""
    return replace(ci, ref=local.ref, sha=local.sha, checkout_sha=None, branch=local.branch,
                   tag=local.tag, pr_number=None, pr_head_sha=None, base_ref=None,
                   commit_date=local.commit_date or ci.commit_date)


def _short_sha_length(env: Mapping[str, str]) -> int:
    text = env.get(SHORT_SHA_LENGTH, "").strip()
    if not text:
        return 7
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 64):
        raise ContextError(f"{SHORT_SHA_LENGTH}={text!r} is not a length from 1 to 64",
                           hint=f"set {SHORT_SHA_LENGTH} to a whole number such as 12, or "
                                "unset it (7 characters)")
    return int(text)


def _read_ci(env: Mapping[str, str]) -> Facts:
    if github.detected(env):
        return github.read(env)
    if gitlab.detected(env):
        return gitlab.read(env)
    if jenkins.detected(env):
        return jenkins.read(env)
    return Facts(provider="local")


def _local_facts(git: GitFacts | None, *, same_commit: bool) -> Facts:
    """What the checkout says, in the same shape as a CI's facts."""
    if git is None:
        return Facts(provider="local")
    repo_url = web_url(git.remote_url) if git.remote_url else None
    repo = Facts(
        provider="local",
        default_branch=git.default_branch,
        repository=repository_of(repo_url),
        repo_url=repo_url,
    )
    if not same_commit:
        return repo
    tag = choose_tag(git.tags)
    if tag:
        ref: str | None = f"refs/tags/{tag}"
    else:
        ref = f"refs/heads/{git.branch}" if git.branch else None
    return replace(
        repo,
        ref=ref,
        sha=git.sha or None,
        branch=git.branch,
        tag=tag,
        commit_date=git.commit_date,
    )


def _overlay(local: Facts, ci: Facts) -> Facts:
    """CI wins field by field, except that the ref and what is read from it (branch,
    tag, PR) come whole from whichever source names the ref."""
    refs = ci if ci.ref is not None else local
    return Facts(
        provider=ci.provider,
        event=ci.event or local.event,
        ref=refs.ref,
        sha=ci.sha or local.sha,
        branch=refs.branch,
        tag=refs.tag,
        pr_number=refs.pr_number,
        pr_head_sha=refs.pr_head_sha,
        base_ref=refs.base_ref,
        default_branch=ci.default_branch or local.default_branch,
        commit_date=ci.commit_date or local.commit_date,
        repository=ci.repository or local.repository,
        repo_url=ci.repo_url or local.repo_url,
        run_id=ci.run_id,
        run_number=ci.run_number,
        run_url=ci.run_url,
        job_url=ci.job_url,
        pr_from_fork=refs.pr_from_fork,
    )


_UNSHALLOW = {
    "github": "set `fetch-depth: 0` on actions/checkout",
    "gitlab": "set the CI variable `GIT_DEPTH: 0`",
    "jenkins": "in the job's Git settings (Advanced clone behaviours) untick `Shallow clone` "
    "and tick `Fetch tags`, or run `git fetch --tags --unshallow` before dockyard",
}


def unshallow_fix(provider: str) -> str:
    """The CI setting (or, locally, the git command) that fetches full history and tags."""
    return _UNSHALLOW.get(provider, "run `git fetch --tags --unshallow`")


def _notes(
    facts: Facts, ci: Facts, checkout: GitFacts | NoGit, *, same_commit: bool
) -> tuple[str, ...]:
    """Each thing that could not be found out, with how to fix it."""
    notes: list[str] = []
    if isinstance(checkout, NoGit):
        notes.append(checkout.reason)
    elif not checkout.sha and not facts.sha:
        notes.append("the repository has no commits yet, so nothing can be built: commit first")
    elif not same_commit:
        notes.append(
            f"the checkout is at {checkout.sha[:12] or 'no commit'} but {ci.provider} builds "
            f"{(facts.sha or '')[:12]}, so tags and the commit date were not read from git: "
            "check out the commit being built"
        )
    if facts.sha and not facts.ref:
        fix = (
            "check out a branch (`git switch <branch>`), or run in CI, which provides the ref"
            if ci.provider == "local"
            else f"{ci.provider} named no branch or tag: check out a branch or tag first"
        )
        notes.append(f"HEAD is detached and carries no tag, so the ref is unknown: {fix}")
    if isinstance(checkout, GitFacts):
        if ci.ref is None and len(checkout.tags) > 1 and facts.tag in checkout.tags:
            notes.append(
                f"HEAD carries several tags ({', '.join(checkout.tags)}); building "
                f"{facts.tag}, the highest version (else the last by name)"
            )
        if checkout.shallow and ci.ref is not None:
            notes.append(
                f"the clone is shallow, which is fine: {ci.provider} names the ref ({ci.ref}), "
                "so no local tags or history are read (to have them anyway: "
                f"{unshallow_fix(ci.provider)})"
            )
        elif checkout.shallow:
            notes.append(
                "the clone is shallow and no CI variable names the ref, so a tag on this "
                f"commit may be missing locally: {unshallow_fix(ci.provider)}"
            )
        if facts.repo_url is None:
            notes.append(
                "the repository's web URL is unknown (no `origin` remote with a host): "
                "`git remote add origin <url>`"
            )
    if facts.sha and facts.default_branch is None:
        notes.append(
            "the default branch is unknown, so no branch counts as the default "
            "(`latest=auto`, `{{is_default_branch}}`): run `git remote set-head origin --auto`"
        )
    notes.extend(ci.notes)
    return tuple(notes)
