"""The local checkout, read through GitPython. The only module that imports `git`.

Thin on purpose: it reports what the repository holds and leaves every decision (which
tag, which ref, what to tell the user) to `dockyard.context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.ci import strip_credentials
from dockyard.errors import ContextError

if TYPE_CHECKING:
    import git


@dataclass(frozen=True)
class GitFacts:
    sha: str  # "" when the repository has no commits yet
    branch: str | None  # None when HEAD is detached
    tags: tuple[str, ...]  # every tag pointing at HEAD, sorted by name
    dirty: bool  # tracked files differ from HEAD (untracked files do not count)
    commit_date: datetime | None  # committer date of HEAD, UTC
    shallow: bool
    remote_url: str | None  # `origin`'s URL, credentials removed
    default_branch: str | None  # what refs/remotes/origin/HEAD points at


@dataclass(frozen=True)
class NoGit:
    """There is no checkout to read; `reason` says why and what to do."""

    reason: str


def read_git(workdir: Path) -> GitFacts | NoGit:
    """What the repository containing `workdir` holds, or why there is none."""
    try:
        import git
    except ImportError:  # GitPython refuses to import without a git executable
        return NoGit("git is not installed, so the local checkout cannot be read: install git")
    try:
        repo = git.Repo(workdir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return NoGit(
            f"{workdir} is not inside a git repository, so nothing was read from git: run "
            "Dockyard from the repository's checkout (or `git init` and commit)"
        )
    with repo:
        try:
            return _read(repo)
        except git.GitCommandError as exc:
            raise ContextError(
                f"git failed reading {repo.working_dir}: {exc}",
                hint="check that the checkout is intact (`git status`)",
            ) from exc


def _read(repo: git.Repo) -> GitFacts:
    has_commits = repo.head.is_valid()
    head = repo.head.commit if has_commits else None
    return GitFacts(
        sha=head.hexsha if head else "",
        branch=None if repo.head.is_detached else repo.head.reference.name,
        tags=tuple(sorted(repo.git.tag("--points-at", "HEAD").split())) if head else (),
        dirty=repo.is_dirty(untracked_files=False),
        commit_date=head.committed_datetime.astimezone(timezone.utc) if head else None,
        shallow=(Path(repo.common_dir) / "shallow").exists(),
        remote_url=_origin_url(repo),
        default_branch=_origin_head(repo),
    )


def _origin_url(repo: git.Repo) -> str | None:
    with repo.config_reader() as reader:
        url = reader.get_value('remote "origin"', "url", default="")
    return strip_credentials(str(url)) if url else None


def _origin_head(repo: git.Repo) -> str | None:
    """The remote's default branch as recorded by clone or `git remote set-head`."""
    ref = repo.git.for_each_ref("--format=%(symref)", "refs/remotes/origin/HEAD").strip()
    prefix = "refs/remotes/origin/"
    return ref.removeprefix(prefix) if ref.startswith(prefix) else None
