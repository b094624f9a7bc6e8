"""The local checkout, read through GitPython. The only module that reads git.

Thin on purpose: it reports what the repository holds and leaves every decision (which
tag, which ref, what to tell the user) to `dockyard.context`.

GitPython's `Repo` finds the repository (from `workdir` upwards, a linked worktree, or
`GIT_DIR`) and reads HEAD, the branch, the tags and `origin` itself; its `git` command
object runs the two reads its API has no call for (whether tracked files changed, and
whether the clone is shallow), started together before the refs are read so that they run
meanwhile. git runs in the process environment (so `GIT_*` variables and the user's config
apply), in the C locale so its messages can be parsed, never prompts and never takes the
index lock. GitPython is imported on the first read: it costs about 0.1 s, which only the
commands that read the checkout pay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard import secrets
from dockyard.ci import strip_credentials
from dockyard.errors import ContextError

if TYPE_CHECKING:
    import git

    _Process = git.cmd.Git.AutoInterrupt

# For every git process GitPython starts; GitPython itself adds LC_ALL=C and LANGUAGE=C.
_ENVIRONMENT = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GCM_INTERACTIVE": "never"}
# The reads GitPython's API has no call for, each with the exit codes that mean "read it".
# Which tags point at HEAD, peeled however deep (a tag of a tag): `Repo.tags` reads the
# tags one by one, about 0.4 ms each, so 0.4 s for a repository with 1,000 tags, where
# `show-ref` takes a few milliseconds; and `show-ref` answers 1 when there are no tags.
_TAGS = ("show-ref", ("--tags", "--dereference"), (0, 1))
_STATUS = ("status", ("--porcelain=v2", "--untracked-files=no"), (0,))
_SHALLOW = ("rev-parse", ("--is-shallow-repository",), (0,))
_DUBIOUS = re.compile(r"dubious ownership in repository at '(.*)'")
# GitPython's import fails with this when it cannot run `git version`.
_NO_EXECUTABLE = "Bad git executable"
_ORIGIN_HEAD = "refs/remotes/origin/HEAD"
_ORIGIN = "refs/remotes/origin/"


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


_NOT_INSTALLED = NoGit("git is not installed, so the local checkout cannot be read: install git")


def read_git(workdir: Path) -> GitFacts | NoGit:
    """What the repository containing `workdir` holds, or why there is none."""
    not_a_repository = NoGit(
        f"{workdir} is not inside a git repository, so nothing was read from git: run "
        "Dockyard from the repository's checkout (or `git init` and commit)"
    )
    if not workdir.is_dir():
        return not_a_repository
    try:
        import git
    except ImportError as exc:
        if _NO_EXECUTABLE in str(exc):
            return _NOT_INSTALLED
        raise
    try:
        # Like git, GIT_DIR (set by hooks and some CI steps) names the repository.
        repo = git.Repo(None if os.environ.get("GIT_DIR") else workdir,
                        search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return not_a_repository
    except OSError as exc:
        raise _unreadable(workdir, exc) from exc
    with repo:
        top = repo.working_tree_dir
        if top is None or _within(workdir, Path(repo.git_dir)):
            return NoGit(
                f"{workdir} is inside a git directory, not a checkout, so nothing was read "
                "from git: run Dockyard from the repository's checkout"
            )
        try:
            with _translated(Path(top)):
                return _read(repo)
        except git.GitCommandNotFound:
            return _NOT_INSTALLED


def _read(repo: git.Repo) -> GitFacts:
    """Every fact, the git processes running while GitPython reads the refs and config."""
    repo.git.update_environment(**_ENVIRONMENT)
    with _started(repo, _TAGS, _STATUS, _SHALLOW) as processes:
        head = repo.head
        branch = None if head.is_detached else head.reference.name
        commit = head.commit if head.is_valid() else None  # None: no commits yet
        remote_url = _origin_url(repo)
        default_branch = _origin_head(repo)
        tags, changes, shallow = _outputs(processes)
    return GitFacts(
        sha=commit.hexsha if commit else "",
        branch=branch,
        tags=_tags_at(commit.hexsha, tags) if commit else (),
        dirty=bool(changes.strip()),
        commit_date=(datetime.fromtimestamp(commit.committed_date, tz=timezone.utc)
                     if commit else None),
        shallow=shallow.strip() == "true",
        remote_url=strip_credentials(remote_url) if remote_url else None,
        default_branch=default_branch,
    )


def _tags_at(sha: str, show_ref: str) -> tuple[str, ...]:
    """The tags whose commit is `sha`, from `git show-ref --tags --dereference`: an
    annotated tag is listed twice, as itself and, with `^{}`, as the commit it tags."""
    tags = set()
    for line in show_ref.splitlines():
        oid, _, ref = line.partition(" ")
        if oid == sha:
            tags.add(ref.removeprefix("refs/tags/").removesuffix("^{}"))
    return tuple(sorted(tags))


def _origin_url(repo: git.Repo) -> str | None:
    reader = repo.config_reader()
    section = 'remote "origin"'
    if not reader.has_option(section, "url"):
        return None
    return reader.get(section, "url").strip() or None


def _origin_head(repo: git.Repo) -> str | None:
    """The remote's default branch as recorded by clone or `git remote set-head`."""
    import git

    try:
        target = git.SymbolicReference(repo, _ORIGIN_HEAD).reference.path
    except (TypeError, ValueError):  # no such ref, or one that names a commit directly
        return None
    return target.removeprefix(_ORIGIN) if target.startswith(_ORIGIN) else None


_Read = tuple[str, tuple[str, ...], tuple[int, ...]]


@contextmanager
def _started(repo: git.Repo, *reads: _Read) -> Iterator[list[tuple[_Process, _Read]]]:
    """The `reads`, each started with GitPython's command object; every one has ended
    when the block is left, whatever happened in it."""
    started: list[tuple[_Process, _Read]] = []
    try:
        for read in reads:
            command, args, _ = read
            method = getattr(repo.git, command.replace("-", "_"))
            started.append((method(*args, as_process=True), read))
        yield started
    finally:
        for process, _ in started:
            if process.returncode is None:
                process.communicate()


def _outputs(started: list[tuple[_Process, _Read]]) -> list[str]:
    """What each read printed, once all have ended; GitCommandError for the first that
    failed."""
    ended = [(process, read, *process.communicate()) for process, read in started]
    for process, (_, _, accepted), _, stderr in ended:
        if process.returncode not in accepted:
            process.wait(stderr=stderr)  # raises GitCommandError with git's message
    return [stdout.decode("utf-8", errors="replace") for _, _, stdout, _ in ended]


@contextmanager
def _translated(top: Path) -> Iterator[None]:
    """GitPython's failures as ContextErrors that say what to do."""
    import git

    try:
        yield
    except git.GitCommandNotFound:
        raise
    except git.GitCommandError as exc:
        raise _failure(top, exc) from exc
    except (ValueError, git.GitError) as exc:  # a ref naming a missing or damaged object
        raise ContextError(
            f"git failed reading {top}: {exc}",
            hint="check that the checkout is intact (`git status`)",
        ) from exc
    except OSError as exc:
        raise _unreadable(top, exc) from exc


def _failure(top: Path, exc: git.GitCommandError) -> ContextError:
    message = _stderr(exc)
    dubious = _DUBIOUS.search(message)
    if dubious:
        return ContextError(
            f"git refuses to read {dubious[1]}: the checkout belongs to another user "
            "(git calls it \"dubious ownership\")",
            hint="if you trust this checkout, run "
            f"`git config --global --add safe.directory {dubious[1]}` "
            "(in a container: as the user that runs Dockyard)",
        )
    command = " ".join(["git", *(str(part) for part in exc.command[1:])])
    return ContextError(
        f"git failed reading {top}: `{command}` exited with {exc.status}: {message}",
        hint="check that the checkout is intact (`git status`)",
    )


def _stderr(exc: git.GitCommandError) -> str:
    """git's own message: GitPython keeps it as "\\n  stderr: '<message>'"."""
    text = str(exc.stderr)
    found = re.fullmatch(r"\s*stderr: '(.*)'\s*", text, re.DOTALL)
    return (found[1] if found else text).strip()


def _unreadable(where: Path, exc: OSError) -> ContextError:
    return ContextError(
        f"cannot read the git repository at {where}: {exc.strerror or exc}",
        hint="check that the directory is readable by this user",
    )


def _within(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Refs:
    """The branches and tags there are, for `dockyard prune`: what the checkout holds, and
    what its `origin` holds now (`git ls-remote`), which is the only complete list. A
    full-depth clone may still have fetched one branch (GitLab's and Jenkins' checkouts
    do), and its remote-tracking branches may be stale."""

    branches: frozenset[str]  # the checkout's own branches
    tags: frozenset[str]  # the checkout's tags
    shallow: bool  # a shallow clone may not have fetched the others
    # origin's branches and tags; None when there is no origin remote
    remote: RemoteRefs | None = None
    remote_error: str | None = None  # why origin could not be read, when it could not


@dataclass(frozen=True)
class RemoteRefs:
    url: str  # as configured, credentials left out
    branches: frozenset[str]
    tags: frozenset[str]


_LS_REMOTE_SECONDS = 30  # a remote that does not answer must not hang prune


def read_refs(workdir: Path) -> Refs | NoGit:
    """Every branch and tag name the checkout at `workdir` holds, and those its origin
    holds, or why there is no checkout."""
    try:
        import git
    except ImportError as exc:
        if _NO_EXECUTABLE in str(exc):
            return NoGit("git is not installed, so the checkout's branches cannot be read")
        raise
    try:
        repo = git.Repo(None if os.environ.get("GIT_DIR") else workdir,
                        search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return NoGit(f"{workdir} is not a git checkout, so its branches cannot be read")
    except OSError as exc:
        raise _unreadable(workdir, exc) from exc
    with repo, _translated(workdir):
        repo.git.update_environment(**_ENVIRONMENT)
        with _started(repo, _SHALLOW) as processes:
            branches = frozenset(head.name for head in repo.heads)
            tags = frozenset(tag.name for tag in repo.tags)
            has_origin = any(each.name == "origin" for each in repo.remotes)
            (shallow,) = _outputs(processes)
        found, error = _origin_refs(repo) if has_origin else (None, None)
    return Refs(branches, tags, shallow.strip() == "true", found, error)


def _no_ssh_prompt(repo: git.Repo) -> dict[str, str]:
    """ssh in batch mode (no passphrase or host-key question), unless the user chose
    how git runs ssh (GIT_SSH_COMMAND, GIT_SSH, core.sshCommand)."""
    if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
        return {}
    with repo.config_reader() as config:
        if config.get_value("core", "sshCommand", ""):
            return {}
    return {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}


def _origin_refs(repo: git.Repo) -> tuple[RemoteRefs | None, str | None]:
    """origin's branches and tags as it answers now, or why it did not answer."""
    import git

    url = strip_credentials(repo.remotes.origin.url)  # registers what it strips, for masking
    try:
        listing = repo.git.ls_remote("--heads", "--tags", "origin",
                                     kill_after_timeout=_LS_REMOTE_SECONDS,
                                     env=_no_ssh_prompt(repo))
    except git.GitCommandError as exc:
        reason = _stderr(exc).strip().splitlines()
        detail = reason[-1] if reason else f"exit {exc.status}"
        if exc.status == -9 or "timed out" in str(exc).lower():
            detail = f"no answer in {_LS_REMOTE_SECONDS} s"
        return None, f"git ls-remote {url} failed: {secrets.redact(detail)}"
    heads: set[str] = set()
    tags: set[str] = set()
    for line in str(listing).splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            heads.add(ref.removeprefix("refs/heads/"))
        elif ref.startswith("refs/tags/"):
            tags.add(ref.removeprefix("refs/tags/").removesuffix("^{}"))
    return RemoteRefs(url, frozenset(heads), frozenset(tags)), None
