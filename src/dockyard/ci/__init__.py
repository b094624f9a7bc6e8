"""CI adapters: each turns one platform's variables into `Facts` in GitHub's vocabulary.

The adapters are pure mappings over the environment (the GitHub one also reads the
event payload file the runner names). `dockyard.context` merges what a CI says over what
the local checkout says. This module holds what the adapters share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from dockyard import secrets
from dockyard.errors import ContextError


@dataclass(frozen=True)
class Facts:
    """What one source (a CI's variables, or the local checkout) says; None: it doesn't.

    When `ref` is set, the fields read from the ref (branch, tag, pr_*, base_ref) are
    taken from the same source as the ref, even where they are None.
    """

    provider: str
    event: str | None = None
    ref: str | None = None
    sha: str | None = None
    # The commit checked out, where it is not `sha` (DOCKER_METADATA_PR_HEAD_SHA names a
    # pull request's head while the runner checks out the merge commit).
    checkout_sha: str | None = None
    branch: str | None = None
    tag: str | None = None
    pr_number: int | None = None
    pr_head_sha: str | None = None
    base_ref: str | None = None
    default_branch: str | None = None
    commit_date: datetime | None = None
    repository: str | None = None
    repo_url: str | None = None
    run_id: str | None = None
    run_number: str | None = None
    run_url: str | None = None
    job_url: str | None = None
    pr_from_fork: bool = False  # the PR's head lives in another repository
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Every adapter's URLs pass here, so none keeps a user or token (GITHUB_SERVER_URL
        # may be `https://user:token@host`): labels and the record never carry one.
        for name in _URL_FIELDS:
            url = getattr(self, name)
            if url:
                object.__setattr__(self, name, strip_credentials(url))


_URL_FIELDS = ("repo_url", "run_url", "job_url")


def value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    text = env.get(name, "").strip()
    return text or None


def number(env: Mapping[str, str], name: str) -> int | None:
    """A whole-number variable (a PR or MR number); a malformed one is an input error."""
    text = value(env, name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ContextError(
            f"{name}={text!r} is not a pull/merge request number",
            hint=f"unset {name} or set it to the request's number",
        )
    return int(text)


_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def commit_sha(env: Mapping[str, str], name: str) -> str | None:
    """A commit sha variable (GITHUB_SHA, CI_COMMIT_SHA, GIT_COMMIT); one that cannot be a
    commit is an input error, not a tag such as `sha-zzz`."""
    text = value(env, name)
    if text is None:
        return None
    if not _COMMIT.fullmatch(text.lower()):
        shown = text if len(text) <= 70 else f"{text[:70]}..."
        raise ContextError(
            f"{name}={shown!r} is not a commit: a commit's sha is 40 hexadecimal digits "
            "(64 in a SHA-256 repository)",
            hint=f"unset {name}, or set it to the full sha of the commit being built "
            "(`git rev-parse HEAD`)",
        )
    return text.lower()


def timestamp(text: str | None) -> datetime | None:
    """An ISO 8601 time with an offset, in UTC; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(timezone.utc)


def strip_credentials(url: str) -> str:
    """`url` without user or password; what was removed is registered for masking.

    The user part of an http(s) URL is registered too: `https://<token>@host/...` is a
    common way to pass a token. scp-like remotes (`git@host:o/r.git`) cannot carry a
    password and are returned as they are.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, password = userinfo.partition(":")
    if colon:
        secrets.register(password)
    elif parts.scheme in ("http", "https"):
        secrets.register(user)
    return parts._replace(netloc=host).geturl()


# user@host:path, the scp-like syntax git accepts for ssh remotes
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.+)$")
_WEB_SCHEMES = ("http", "https")
_SSH_SCHEMES = ("ssh", "git", "git+ssh", "ssh+git")


def web_url(remote: str) -> str | None:
    """The web address of a repository from any form of its remote URL, never with
    credentials: `git@github.com:o/r.git` and `https://user:token@github.com/o/r.git`
    both give `https://github.com/o/r`. None for local paths and file URLs."""
    remote = strip_credentials(remote.strip())
    if "://" in remote:
        parts = urlsplit(remote)
        if parts.scheme not in _WEB_SCHEMES + _SSH_SCHEMES or not parts.hostname:
            return None
        scheme = parts.scheme if parts.scheme in _WEB_SCHEMES else "https"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        try:
            port = parts.port
        except ValueError:
            port = None
        if port and parts.scheme in _WEB_SCHEMES:  # an ssh port is not the web server's
            host = f"{host}:{port}"
        path = parts.path
    else:
        match = _SCP_LIKE.match(remote)
        if not match:
            return None
        scheme, host, path = "https", match["host"], match["path"]
    path = path.strip("/").removesuffix(".git").rstrip("/")
    if not path:
        return None
    return f"{scheme}://{host}/{path}"


def repository_of(url: str | None) -> str | None:
    """The `owner/name` path (GitLab: the project path) of a web URL made by `web_url`."""
    if not url:
        return None
    path = urlsplit(url).path.strip("/")
    return path or None
