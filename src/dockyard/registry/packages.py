"""GitHub Packages' REST API, for what GHCR's registry API does not do: delete.

GHCR answers the distribution API's DELETE with an error; an image (a *package
version*, named by its digest) is deleted with
`DELETE /orgs/{org}/packages/container/{package}/versions/{id}` (or `/users/{user}/...`
for a user's package), and found by listing the package's versions
(`GET .../versions?per_page=100`, paged by `Link: <...>; rel="next"`). The token needs
`read:packages` and `delete:packages` (a classic token), or a GITHUB_TOKEN of a workflow
with `packages: write` in a repository that has admin access to the package. Deleting a
version deletes every tag on it; there is no tag-only delete.

Requests go through `transport.Transport`: the same timeouts, and retries of 5xx and
429 (with Retry-After) as the registry API's.
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

GITHUB_API = "https://api.github.com"
_MAX_PAGES = 2_000  # of 100 versions each
_ACCESS_HINT = ("give the token read:packages and delete:packages (or a workflow's "
                "GITHUB_TOKEN packages: write, with admin access to the package)")
_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubPackages:
    """One owner's container packages, as one token sees them. Close it when done."""

    def __init__(self, token: str, *, api_url: str = GITHUB_API,
                 policy: RetryPolicy = RetryPolicy(), sleep: Sleep = time.sleep) -> None:
        self.api_url = api_url.rstrip("/")
        self._transport = Transport(urlsplit(self.api_url).netloc, policy=policy, sleep=sleep)
        self._headers = {**_HEADERS, "Authorization": f"Bearer {token}"}
        self._scopes: dict[str, str] = {}  # owner -> "orgs" or "users"

    def close(self) -> None:
        self._transport.close()

    def versions(self, owner: str, package: str) -> dict[str, int]:
        """Every version of the package: its digest -> its id."""
        found: dict[str, int] = {}
        url = self._base(owner, package) + "/versions?per_page=100"
        for _ in range(_MAX_PAGES):
            response = self._send("GET", url, f"cannot list the versions of {package}")
            if response.status_code == 404 and owner not in self._scopes:
                self._scopes[owner] = "users"  # not an organisation: a user's package
                url = self._base(owner, package) + "/versions?per_page=100"
                response = self._send("GET", url, f"cannot list the versions of {package}")
            self._scopes.setdefault(owner, "orgs")
            if response.status_code != 200:
                raise self._refusal(response, f"cannot list the versions of {owner}/{package}")
            page = response.json()
            if not isinstance(page, list):
                raise RegistryError(self._transport.host, "listed package versions as "
                                    "something other than a list", hint="the API, or a "
                                    "proxy before it, is broken")
            for version in page:
                if isinstance(version, dict) and isinstance(version.get("name"), str) \
                        and isinstance(version.get("id"), int):
                    found[version["name"]] = version["id"]
            following = response.links.get("next", {}).get("url")
            if not following:
                return found
            url = urljoin(self.api_url + "/", following)
        raise RegistryError(self._transport.host, f"listed the versions of {package} in "
                            f"more than {_MAX_PAGES:,} pages, and kept paging")

    def delete_version(self, owner: str, package: str, version_id: int) -> bool:
        """Delete one version (an image, with its tags); False when it was gone."""
        url = f"{self._base(owner, package)}/versions/{version_id}"
        response = self._send("DELETE", url, f"cannot delete version {version_id}")
        return deleted(self._transport, response,
                       f"cannot delete version {version_id} of {owner}/{package}",
                       _ACCESS_HINT, done=(204,))

    def _base(self, owner: str, package: str) -> str:
        scope = self._scopes.get(owner, "orgs")
        return (f"{self.api_url}/{scope}/{quote(owner, safe='')}/packages/container/"
                f"{quote(package, safe='')}")

    def _send(self, method: str, url: str, what: str) -> requests.Response:
        with self._transport.send(method, url, headers=self._headers,
                                  limit=TAG_PAGE_LIMIT) as response:
            return response

    def _refusal(self, response: requests.Response, what: str) -> RegistryError:
        return api_refusal(self._transport.host, response, what, _ACCESS_HINT)
