"""GitLab's API, for what its container registry's API does not do: delete a tag.

A registry repository is found by listing the project's
(`GET {api}/projects/:id/registry/repositories`, paged by `Link: <...>; rel="next"`),
the project named by its URL-encoded path: the longest leading part of the image path
that is a project (`group/app/worker` is the repository `worker` of `group/app`, or the
root repository of `group/app/worker`). A tag is deleted with
`DELETE {api}/projects/:id/registry/repositories/:repository_id/tags/:tag_name`; an
image left with no tag is removed by the registry's garbage collection, not here.

The token is a personal, project or group access token with the `api` scope
(`PRIVATE-TOKEN`), or a CI job's `CI_JOB_TOKEN` (`JOB-TOKEN`); the role must be allowed to
delete registry tags in the project. `{api}` is `CI_API_V4_URL` in GitLab CI,
`https://gitlab.com/api/v4` for registry.gitlab.com.

Requests go through `transport.Transport`: the same timeouts, and retries of 5xx and
429 (GitLab.com sends Retry-After with its rate limit) as the registry API's.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urljoin, urlsplit

import requests

from dockyard.registry.transport import (
    TAG_PAGE_LIMIT,
    RegistryError,
    Transport,
    api_refusal,
    deleted,
)
from dockyard.retry import RetryPolicy, Sleep

GITLAB_REGISTRY = "registry.gitlab.com"
GITLAB_API = "https://gitlab.com/api/v4"
_MAX_PAGES = 100  # of 100 repositories each
_ACCESS_HINT = ("use a token with the api scope and a role that may delete registry tags "
               "(registries.<host>.api_token), or allow the job token to (CI_JOB_TOKEN)")


class GitLabRegistryApi:
    """One GitLab instance's container registry API, as one token sees it. Close it."""

    def __init__(self, api_url: str, *, private_token: str | None = None,
                 job_token: str | None = None, policy: RetryPolicy = RetryPolicy(),
                 sleep: Sleep = time.sleep) -> None:
        self.api_url = api_url.rstrip("/")
        self._transport = Transport(urlsplit(self.api_url).netloc, policy=policy, sleep=sleep)
        self._headers = {"PRIVATE-TOKEN": private_token} if private_token else \
            {"JOB-TOKEN": job_token or ""}
        self._repositories: dict[str, tuple[str, int]] = {}  # path -> (project, id)

    def close(self) -> None:
        self._transport.close()

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete the tag `path:tag`; False when there was no such tag."""
        project, repository = self.repository(path)
        url = (f"{self.api_url}/projects/{quote(project, safe='')}/registry/repositories/"
               f"{repository}/tags/{quote(tag, safe='')}")
        return deleted(self._transport, self._send("DELETE", url),
                       f"cannot delete the tag {path}:{tag}", _ACCESS_HINT)

    def repository(self, path: str) -> tuple[str, int]:
        """The project (its path) and the registry repository id of image path `path`."""
        if path not in self._repositories:
            self._repositories[path] = self._find(path)
        return self._repositories[path]

    def _find(self, path: str) -> tuple[str, int]:
        parts = path.split("/")
        for end in range(len(parts), 0, -1):
            project = "/".join(parts[:end])
            found = self._listed(project, path)
            if found is not None:
                return project, found
        raise RegistryError(self._transport.host, f"lists no registry repository {path} in "
                            f"any project ({'/'.join(parts[:1])}/...)",
                            hint="check the image name, and that the token may read the "
                                 "project")

    def _listed(self, project: str, path: str) -> int | None:
        """The id of repository `path` in `project`; None when `project` is no project
        (or has no such repository)."""
        url = (f"{self.api_url}/projects/{quote(project, safe='')}/registry/repositories"
               "?per_page=100")
        for _ in range(_MAX_PAGES):
            response = self._send("GET", url)
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise self._refusal(response, f"cannot list the registry repositories of "
                                    f"{project}")
            page = response.json()
            if not isinstance(page, list):
                raise RegistryError(self._transport.host, "listed registry repositories as "
                                    "something other than a list",
                                    hint="the API, or a proxy before it, is broken")
            for entry in page:
                if isinstance(entry, dict) and entry.get("path") == path \
                        and isinstance(entry.get("id"), int):
                    return int(entry["id"])
            following = response.links.get("next", {}).get("url")
            if not following:
                return None
            url = urljoin(self.api_url + "/", following)
        raise RegistryError(self._transport.host, f"listed the registry repositories of "
                            f"{project} in more than {_MAX_PAGES} pages, and kept paging")

    def _send(self, method: str, url: str) -> requests.Response:
        with self._transport.send(method, url, headers=self._headers,
                                  limit=TAG_PAGE_LIMIT) as response:
            return response

    def _refusal(self, response: requests.Response, what: str) -> RegistryError:
        return api_refusal(self._transport.host, response, what, _ACCESS_HINT)
