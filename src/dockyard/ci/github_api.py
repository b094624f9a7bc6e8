"""The repository's own description and license from the GitHub API, for the OCI labels
metadata-action writes (`description`, `licenses`; `url` and `source` as the API gives
them).

Only with a token (`DOCKYARD_GITHUB_TOKEN`, the action's `github-token` input, whose
default is the job's token as in metadata-action): no token, no call. The API is
`GITHUB_API_URL` (GitHub Enterprise Server), else api.github.com. One GET, bounded by a
deadline and a cap on the body; whatever goes wrong is a note and the labels stay empty,
never a failed run. The token is registered for redaction before it is used and is never
in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dockyard import secrets
from dockyard.ci import strip_credentials, value
from dockyard.context import Context

if TYPE_CHECKING:
    import requests

__all__ = ["TOKEN_VARIABLE", "Repository", "fetch_repository", "with_repository"]

TOKEN_VARIABLE = "DOCKYARD_GITHUB_TOKEN"  # noqa: S105 (the variable's name, not a token)
DEFAULT_API = "https://api.github.com"
TIMEOUT_SECONDS = 5.0
BODY_LIMIT = 1024 * 1024  # a repository object is a few KiB


@dataclass(frozen=True)
class Repository:
    description: str | None
    licenses: str | None  # the license's SPDX id
    html_url: str | None


def with_repository(context: Context, env: Mapping[str, str],
                    session: requests.Session | None = None) -> Context:
    """`context` with the repository's description, license and web URL from the API, or
    with a note saying why not; unchanged without a token or a repository."""
    token = value(env, TOKEN_VARIABLE)
    repository = value(env, "GITHUB_REPOSITORY") if context.provider == "github" else None
    if not token or not repository:
        return context
    secrets.register(token)
    api = (value(env, "GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    found = fetch_repository(api, repository, token, session=session)
    if isinstance(found, str):
        note = (f"the repository's description and license could not be read from the "
                f"GitHub API ({found}), so those labels are empty: check the `github-token` "
                "input (it needs read access to the repository) and GITHUB_API_URL")
        return replace(context, notes=(*context.notes, secrets.redact(note)))
    return replace(context, description=found.description, licenses=found.licenses,
                   repo_url=found.html_url or context.repo_url)


def fetch_repository(api: str, repository: str, token: str, *,
                     session: requests.Session | None = None,
                     timeout: float = TIMEOUT_SECONDS) -> Repository | str:
    """GET {api}/repos/{repository}: the repository, or why it could not be read."""
    import requests  # only with a token: `plan` without one loads no HTTP stack

    from dockyard import deadline

    url = f"{api}/repos/{repository}"
    where = strip_credentials(api)
    http = deadline.bounded(session or requests.Session())
    watch = deadline.Deadline(timeout)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "dockyard"}
    try:
        with watch.running(), http.get(url, headers=headers, allow_redirects=False,
                                       timeout=deadline.socket_timeouts(timeout),
                                       stream=True) as response:
            watch.check()
            if response.status_code != 200:
                return f"{where} answered {response.status_code}"
            body = deadline.read(response, BODY_LIMIT, watch)
    except (requests.Timeout, deadline.Expired):
        return f"no answer from {where} within {timeout:g}s"
    except deadline.TooLarge as exc:
        return f"{where} sent {exc}"
    except requests.RequestException:
        if watch.expired:
            return f"no answer from {where} within {timeout:g}s"
        return f"could not reach {where}"
    finally:
        if session is None:
            http.close()
    return _repository(body) or f"{where} sent no repository object"


def _repository(body: bytes) -> Repository | None:
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    license_ = data.get("license")
    spdx = license_.get("spdx_id") if isinstance(license_, dict) else None
    url = _text(data.get("html_url"))
    return Repository(description=_text(data.get("description")), licenses=_text(spdx),
                      html_url=strip_credentials(url) if url else None)


def _text(item: object) -> str | None:
    return item if isinstance(item, str) and item else None
