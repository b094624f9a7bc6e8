"""dockyard.git reads real repositories made by the git command line."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard.errors import ContextError
from dockyard.git import GitFacts, NoGit, Refs, RemoteRefs, read_git, read_refs

if TYPE_CHECKING:
    from conftest import Repos  # tests/unit/conftest.py; typing only, pytest provides it

FIXED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def facts(path: Path) -> GitFacts:
    result = read_git(path)
    assert isinstance(result, GitFacts), result
    return result


def test_branch_checkout(repos: Repos) -> None:
    repo = repos.make()

    got = facts(repo)

    assert got.sha == repos.git(repo, "rev-parse", "HEAD")
    assert len(got.sha) == 40
    assert got.branch == "main"
    assert got.tags == ()
    assert got.dirty is False
    assert got.commit_date == FIXED
    assert got.shallow is False
    assert got.remote_url is None
    assert got.default_branch is None


def test_branch_with_slashes(repos: Repos) -> None:
    assert facts(repos.make(branch="feature/login")).branch == "feature/login"


def test_workdir_below_the_top_of_the_checkout(repos: Repos) -> None:
    repo = repos.make()
    (repo / "sub" / "dir").mkdir(parents=True)

    assert facts(repo / "sub" / "dir").sha == repos.git(repo, "rev-parse", "HEAD")


def test_commit_date_is_the_committer_date_in_utc(repos: Repos) -> None:
    repo = repos.make()
    (repo / "file.txt").write_text("later\n")
    repos.git(repo, "add", "--all")
    env_date = "2024-06-01T12:00:00+02:00"
    repos.git(repo, "commit", "-q", "-m", "x", "--date=2020-01-01T00:00:00+00:00", date=env_date)

    got = facts(repo).commit_date

    assert got == datetime(2024, 6, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert got is not None and got.utcoffset() is not None


def test_tags_at_head_only_sorted(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "v0.9.0")  # on the first commit, not on HEAD
    repos.git(repo, "tag", "--annotate", "--message", "old release", "0.9.0")  # neither
    repos.commit(repo, "second\n")
    repos.git(repo, "tag", "v1.2.3")
    repos.git(repo, "tag", "--annotate", "--message", "release", "1.2.3")
    repos.git(repo, "tag", "latest")

    assert facts(repo).tags == ("1.2.3", "latest", "v1.2.3")


def test_a_tag_of_an_annotated_tag_at_head_counts(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "--annotate", "--message", "release", "v1.0.0")
    repos.git(repo, "tag", "--annotate", "--message", "signed off", "v1.0.0-approved", "v1.0.0")

    assert facts(repo).tags == ("v1.0.0", "v1.0.0-approved")


def test_a_file_named_head_is_not_taken_for_the_revision(repos: Repos) -> None:
    repo = repos.make()
    (repo / "HEAD").write_text("a file\n")
    repos.git(repo, "add", "HEAD")
    repos.git(repo, "commit", "--quiet", "--message", "add HEAD")

    got = facts(repo)

    assert got.sha == repos.git(repo, "rev-parse", "HEAD")
    assert got.commit_date == FIXED


def test_detached_head(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "checkout", "--quiet", "--detach")

    got = facts(repo)

    assert got.branch is None
    assert got.sha == repos.git(repo, "rev-parse", "HEAD")


def test_dirty_counts_tracked_changes_only(repos: Repos) -> None:
    repo = repos.make()
    (repo / "untracked.txt").write_text("new\n")
    assert facts(repo).dirty is False

    (repo / "file.txt").write_text("changed\n")
    assert facts(repo).dirty is True


def test_staged_change_is_dirty(repos: Repos) -> None:
    repo = repos.make()
    (repo / "file.txt").write_text("changed\n")
    repos.git(repo, "add", "file.txt")

    assert facts(repo).dirty is True


def test_deleted_file_is_dirty(repos: Repos) -> None:
    repo = repos.make()
    (repo / "file.txt").unlink()

    assert facts(repo).dirty is True


def test_staged_new_file_is_dirty(repos: Repos) -> None:
    repo = repos.make()
    (repo / "new.txt").write_text("new\n")
    repos.git(repo, "add", "new.txt")

    assert facts(repo).dirty is True


def test_touched_but_unchanged_file_is_clean(repos: Repos) -> None:
    repo = repos.make()
    os.utime(repo / "file.txt", (1, 1))  # a stale index entry, as after a cache restore

    assert facts(repo).dirty is False


def test_not_a_repository(tmp_path: Path) -> None:
    result = read_git(tmp_path)

    assert isinstance(result, NoGit)
    assert "not inside a git repository" in result.reason
    assert "git init" in result.reason


def test_missing_directory(tmp_path: Path) -> None:
    assert isinstance(read_git(tmp_path / "absent"), NoGit)


def test_repository_without_commits(repos: Repos) -> None:
    got = facts(repos.init(branch="trunk"))

    assert got.sha == ""
    assert got.branch == "trunk"
    assert got.tags == ()
    assert got.commit_date is None
    assert got.dirty is False


def test_staged_file_without_commits_is_dirty(repos: Repos) -> None:
    repo = repos.init()
    (repo / "file.txt").write_text("first\n")
    repos.git(repo, "add", "file.txt")

    got = facts(repo)

    assert got.sha == ""
    assert got.dirty is True


def test_bare_repository_is_no_checkout(repos: Repos) -> None:
    bare = repos.root / "bare.git"
    repos.git(repos.root, "init", "--quiet", "--bare", str(bare))

    result = read_git(bare)

    assert isinstance(result, NoGit)
    assert "not a checkout" in result.reason


def test_inside_the_git_directory_is_no_checkout(repos: Repos) -> None:
    result = read_git(repos.make() / ".git")

    assert isinstance(result, NoGit)
    assert "not a checkout" in result.reason


def test_git_not_installed(repos: Repos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repos.make()
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    result = read_git(repo)

    assert isinstance(result, NoGit)
    assert "git is not installed" in result.reason


def test_checkout_of_another_user(repos: Repos, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repos.make()
    # git's own switch for making its ownership check fail, as it does for a checkout
    # owned by another user (a CI container running as root over the runner's files).
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")

    with pytest.raises(ContextError) as caught:
        read_git(repo)

    assert "another user" in str(caught.value)
    assert caught.value.hint is not None
    assert f"git config --global --add safe.directory {repo}" in caught.value.hint


def test_broken_checkout(repos: Repos) -> None:
    repo = repos.make()
    (repo / ".git" / "refs" / "heads" / "main").write_text("1" * 40 + "\n")  # no such commit

    with pytest.raises(ContextError) as caught:
        read_git(repo)

    assert f"git failed reading {repo}" in str(caught.value)
    assert caught.value.hint == "check that the checkout is intact (`git status`)"


def test_worktree(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "https://example.com/acme/app.git")
    repos.commit(repo, "second\n")
    repos.git(repo, "tag", "v2.0.0")
    worktree = repos.root / "worktree"
    repos.git(repo, "worktree", "add", "--quiet", "-b", "feature", str(worktree), "HEAD~1")
    repos.git(worktree, "tag", "v1.0.0")

    got = facts(worktree)

    assert got.sha == repos.git(worktree, "rev-parse", "HEAD")
    assert got.branch == "feature"
    assert got.tags == ("v1.0.0",)
    assert got.dirty is False
    assert got.shallow is False
    assert got.remote_url == "https://example.com/acme/app.git"
    assert facts(repo).tags == ("v2.0.0",)


def test_shallow_clone(repos: Repos) -> None:
    origin = repos.make("origin")
    repos.commit(origin, "second\n")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))

    got = facts(clone)

    assert got.shallow is True
    assert got.sha == repos.git(origin, "rev-parse", "HEAD")
    assert got.remote_url == f"file://{origin}"
    assert got.default_branch == "main"  # clone records refs/remotes/origin/HEAD


def test_worktree_of_a_shallow_clone_is_shallow(repos: Repos) -> None:
    origin = repos.make("origin")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))
    worktree = repos.root / "worktree"
    repos.git(clone, "worktree", "add", "--quiet", "--detach", str(worktree))

    got = facts(worktree)

    assert got.shallow is True
    assert got.branch is None
    assert got.sha == repos.git(origin, "rev-parse", "HEAD")


def test_origin_credentials_are_stripped(repos: Repos) -> None:
    repo = repos.make()
    token = "ghs_gitTokenNeverShown0123"
    url = f"https://x-access-token:{token}@github.com/acme/app.git"
    repos.git(repo, "remote", "add", "origin", url)

    got = facts(repo)

    assert got.remote_url == "https://github.com/acme/app.git"
    assert token not in repr(got)


def test_ssh_origin_is_kept(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "git@github.com:acme/app.git")

    assert facts(repo).remote_url == "git@github.com:acme/app.git"


def test_origin_without_head_has_no_default_branch(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "https://example.com/acme/app.git")
    repos.git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")

    got = facts(repo)

    assert got.remote_url == "https://example.com/acme/app.git"
    assert got.default_branch is None


def test_origin_head_gives_default_branch(repos: Repos) -> None:
    repo = repos.make()
    repos.git(repo, "remote", "add", "origin", "https://example.com/acme/app.git")
    repos.git(repo, "update-ref", "refs/remotes/origin/develop", "HEAD")
    repos.git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")

    assert facts(repo).default_branch == "develop"


def test_git_dir_names_the_repository(repos: Repos, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repos.make()
    repos.git(repo, "tag", "v3.0.0")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))  # as inside a hook, or `git --git-dir`

    got = facts(elsewhere)

    assert got.sha == repos.git(repo, "rev-parse", "HEAD")
    assert got.branch == "main"
    assert got.tags == ("v3.0.0",)
    assert got.dirty is False


def test_refs_of_a_clone_name_local_and_origin_branches_and_tags(repos: Repos) -> None:
    origin = repos.make("origin")
    repos.git(origin, "branch", "feature-x")
    repos.git(origin, "tag", "v1.0.0")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", f"file://{origin}", str(clone))
    repos.git(clone, "branch", "local-only")

    got = read_refs(clone)

    assert got == Refs(branches=frozenset({"main", "local-only"}),
                       tags=frozenset({"v1.0.0"}), shallow=False,
                       remote=RemoteRefs(f"file://{origin}", frozenset({"main", "feature-x"}),
                                         frozenset({"v1.0.0"})))


def test_refs_of_a_one_branch_clone_come_from_origin_as_it_is_now(repos: Repos) -> None:
    """A full-depth clone of one branch (GitLab's, Jenkins' checkouts) and a stale one:
    only origin's answer names every branch and tag."""
    origin = repos.make("origin")
    repos.git(origin, "branch", "feature-x")
    repos.git(origin, "tag", "-a", "-m", "annotated", "v1.0.0")
    clone = repos.root / "clone"
    repos.git(repos.root, "clone", "--quiet", "--single-branch", "--no-tags",
              f"file://{origin}", str(clone))
    repos.git(origin, "branch", "after-the-clone")
    repos.git(origin, "branch", "-D", "feature-x")

    got = read_refs(clone)

    assert isinstance(got, Refs) and got.remote is not None
    assert got.branches == {"main"} and got.tags == frozenset()  # what the clone holds
    assert got.remote.branches == {"main", "after-the-clone"}
    assert got.remote.tags == {"v1.0.0"}  # the peeled `v1.0.0^{}` is the same tag


def test_refs_of_an_origin_that_does_not_answer_say_why(repos: Repos) -> None:
    repo = repos.make("repo")
    repos.git(repo, "remote", "add", "origin",
              "https://someone:hunter2-token@127.0.0.1:9/acme/app.git")

    got = read_refs(repo)

    assert isinstance(got, Refs) and got.remote is None
    assert got.remote_error is not None
    assert got.remote_error.startswith("git ls-remote https://127.0.0.1:9/acme/app.git failed")
    assert "hunter2" not in got.remote_error and "someone" not in got.remote_error


def test_refs_from_an_ssh_origin_never_wait_on_a_question(
    repos: Repos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ssh runs in batch mode (no passphrase or host-key prompt to hang prune), unless the
    user chose how git runs ssh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "ssh-args"
    (bin_dir / "ssh").write_text(f'#!/bin/sh\necho "$@" >> {seen}\nexit 255\n')
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    repo = repos.make("repo")
    repos.git(repo, "remote", "add", "origin", "ssh://git@127.0.0.1:9/acme/app.git")

    got = read_refs(repo)

    assert isinstance(got, Refs) and got.remote is None and got.remote_error
    assert "-o BatchMode=yes" in seen.read_text()

    seen.unlink()
    repos.git(repo, "config", "core.sshCommand", "ssh -o ConnectTimeout=3")
    read_refs(repo)
    assert "BatchMode" not in seen.read_text() and "ConnectTimeout=3" in seen.read_text()


def test_refs_without_origin_are_the_checkouts(repos: Repos) -> None:
    repo = repos.make("repo")
    repos.git(repo, "branch", "feature-y")

    got = read_refs(repo)

    assert got == Refs(branches=frozenset({"main", "feature-y"}), tags=frozenset(),
                       shallow=False)


def test_refs_outside_a_repository_say_why(tmp_path: Path) -> None:
    got = read_refs(tmp_path)

    assert isinstance(got, NoGit)
    assert "not a git checkout" in got.reason
