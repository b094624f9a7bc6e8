"""The normalised git/CI context: one model for GitHub, GitLab, Jenkins and plain git.

Tag rules and labels read only this model. Its vocabulary is GitHub's (the one
docker/metadata-action's rules are written against): `ref` is a full git ref such as
`refs/heads/main`, `refs/tags/v1.2.3` or `refs/pull/12/merge`, and `event` is a GitHub
event name (`push`, `pull_request`, `schedule`, `workflow_dispatch`, ...). The CI
adapters translate their platform's variables into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    # What could not be found out, each with the way to fix it.
    notes: tuple[str, ...] = field(default=())

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

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
            "notes": list(self.notes),
        }
