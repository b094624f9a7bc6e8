"""The local checkout, read with the `git` command line. The only module that runs `git`.

Thin on purpose: it reports what the repository holds and leaves every decision (which
tag, which ref, what to tell the user) to `dockyard.context`.

The reads are independent `git` processes started together, so reading costs about as
long as the slowest of them: listing the tags, which in a repository with many loose tag
refs takes tens of milliseconds. git runs in the process environment (so `GIT_*`
variables and the user's config apply), in the C locale so its messages can be parsed,
and never prompts.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dockyard.ci import strip_credentials
from dockyard.errors import ContextError

_GIT = ("git", "--no-optional-locks", "-c", "core.quotepath=off")
# Each read with the exit codes that mean "read it" (`show-ref` and `config` answer 1 when
# there is nothing to show). The tags come first: they take longest, and their output may
# exceed a pipe's buffer, so they are collected while the others run.
_READS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "tags": (("show-ref", "--tags", "--dereference"), (0, 1)),
    "repository": (("rev-parse", "--show-toplevel", "--is-shallow-repository"), (0,)),
    "status": (("status", "--porcelain=v2", "--branch", "--no-ahead-behind",
                "--untracked-files=no"), (0,)),
    "commit_date": (("log", "-1", "--format=%ct", "--no-show-signature", "--ignore-missing",
                     "HEAD", "--"), (0,)),
    "remote_url": (("config", "--get", "remote.origin.url"), (0, 1)),
    "default_branch": (("for-each-ref", "--format=%(symref)", "refs/remotes/origin/HEAD"), (0,)),
}
_DUBIOUS = re.compile(r"dubious ownership in repository at '(.*)'")
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


def read_git(workdir: Path) -> GitFacts | NoGit:
    """What the repository containing `workdir` holds, or why there is none."""
    not_a_repository = NoGit(
        f"{workdir} is not inside a git repository, so nothing was read from git: run "
        "Dockyard from the repository's checkout (or `git init` and commit)"
    )
    if not workdir.is_dir():
        return not_a_repository
    try:
        done = _run_reads(workdir)
    except FileNotFoundError:
        return NoGit("git is not installed, so the local checkout cannot be read: install git")
    except OSError as exc:
        raise ContextError(
            f"cannot run git in {workdir}: {exc.strerror}",
            hint="check that the directory is readable by this user",
        ) from exc
    repository = done["repository"]
    if repository.returncode != 0:
        if "not a git repository" in repository.stderr:
            return not_a_repository
        if "must be run in a work tree" in repository.stderr:
            return NoGit(
                f"{workdir} is inside a git directory, not a checkout, so nothing was read "
                "from git: run Dockyard from the repository's checkout"
            )
        raise _failure(workdir, repository)
    top, _, shallow = repository.stdout.rstrip("\n").rpartition("\n")
    for name, (_, accepted) in _READS.items():
        if done[name].returncode not in accepted:
            raise _failure(Path(top), done[name])
    sha, branch, dirty = _status(done["status"].stdout)
    url = done["remote_url"].stdout.strip()
    return GitFacts(
        sha=sha,
        branch=branch,
        tags=_tags_at(sha, done["tags"].stdout) if sha else (),
        dirty=dirty,
        commit_date=_timestamp(done["commit_date"].stdout),
        shallow=shallow == "true",
        remote_url=strip_credentials(url) if url else None,
        default_branch=_origin_head(done["default_branch"].stdout.strip()),
    )


def _run_reads(workdir: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every read of `_READS`, run side by side in `workdir`."""
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, (args, _) in _READS.items():
            started[name] = subprocess.Popen(
                [*_GIT, *args], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            )
    except OSError:
        for process in started.values():
            process.kill()
            process.communicate()
        raise
    done = {}
    for name, process in started.items():
        stdout, stderr = process.communicate()
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done


def _failure(where: Path, done: subprocess.CompletedProcess[str]) -> ContextError:
    message = done.stderr.strip()
    dubious = _DUBIOUS.search(message)
    if dubious:
        return ContextError(
            f"git refuses to read {dubious[1]}: the checkout belongs to another user "
            "(git calls it \"dubious ownership\")",
            hint="if you trust this checkout, run "
            f"`git config --global --add safe.directory {dubious[1]}` "
            "(in a container: as the user that runs Dockyard)",
        )
    command = " ".join(["git", *done.args[len(_GIT):]])
    return ContextError(
        f"git failed reading {where}: `{command}` exited with {done.returncode}: {message}",
        hint="check that the checkout is intact (`git status`)",
    )


def _status(porcelain: str) -> tuple[str, str | None, bool]:
    """HEAD's sha, its branch and whether tracked files differ from it, from `git status
    --porcelain=v2 --branch`: headers start with '#', every other line is a change."""
    sha, branch, dirty = "", None, False
    for line in porcelain.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ")
            sha = "" if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return sha, branch, dirty


def _tags_at(sha: str, show_ref: str) -> tuple[str, ...]:
    """The tags whose commit is `sha`, from `git show-ref --tags --dereference`: an
    annotated tag is listed twice, as itself and, with `^{}`, as the commit it tags."""
    tags = set()
    for line in show_ref.splitlines():
        oid, _, ref = line.partition(" ")
        if oid == sha:
            tags.add(ref.removeprefix("refs/tags/").removesuffix("^{}"))
    return tuple(sorted(tags))


def _timestamp(seconds: str) -> datetime | None:
    seconds = seconds.strip()
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc) if seconds else None


def _origin_head(symref: str) -> str | None:
    """The remote's default branch as recorded by clone or `git remote set-head`."""
    return symref.removeprefix(_ORIGIN) if symref.startswith(_ORIGIN) else None


@dataclass(frozen=True)
class Refs:
    """The branches and tags a checkout knows of (for `dockyard prune`)."""

    branches: frozenset[str]  # local branches and origin's remote-tracking ones
    tags: frozenset[str]
    shallow: bool  # a shallow clone may not have fetched the others


def read_refs(workdir: Path) -> Refs | NoGit:
    """Every branch and tag name the checkout at `workdir` holds, or why there is none."""
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            [*_GIT, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes/origin",
             "refs/tags"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, errors="replace", check=False)
        shallow = subprocess.run(
            [*_GIT, "rev-parse", "--is-shallow-repository"], cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            check=False)
    except OSError:
        return NoGit("git is not installed, so the checkout's branches cannot be read")
    if done.returncode != 0:
        return NoGit(f"{workdir} is not a git checkout, so its branches cannot be read")
    branches: set[str] = set()
    tags: set[str] = set()
    for ref in done.stdout.split():
        for prefix, found in (("refs/heads/", branches), (_ORIGIN, branches),
                              ("refs/tags/", tags)):
            if ref.startswith(prefix):
                found.add(ref[len(prefix):])
    branches.discard("HEAD")
    return Refs(frozenset(branches), frozenset(tags), shallow.stdout.strip() == "true")
