"""A loopback stand-in for GitLab's container registry API (the endpoints prune uses),
over a real distribution registry that holds the images, as GitLab's registry does.

Documented shapes (docs.gitlab.com/api/container_registry): `GET /api/v4/projects/:id/
registry/repositories` (`:id` a number or the URL-encoded project path) answers a JSON
array of repositories (`id`, `path`, `location`), paged with a `Link` header (by one
here, whatever `per_page` says, to exercise the paging), 404 for no such project;
`DELETE /api/v4/projects/:id/registry/repositories/:repository_id/tags/:tag_name`
answers 200, 404 for no such tag. Authentication: `PRIVATE-TOKEN` or `JOB-TOKEN`, 401
otherwise; 429 with Retry-After when scripted. A tag deleted alone is emulated on the
distribution registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from .registry import Registry
from .standin import Answer, StandIn

_REPOSITORIES = re.compile(r"^/api/v4/projects/([^/]+)/registry/repositories$")
_TAG = re.compile(r"^/api/v4/projects/([^/]+)/registry/repositories/(\d+)/tags/([^/]+)$")
_JSON = {"Content-Type": "application/json"}


class GitLabRegistry(StandIn):
    def __init__(self, registry: Registry, *, projects: Mapping[str, list[str]],
                 private_token: str | None = None, job_token: str | None = None) -> None:
        super().__init__(registry)
        self.private_token = private_token
        self.job_token = job_token
        self.authenticated: list[str] = []  # the header each request authenticated with
        # project path -> its registry repositories' paths; ids from 70 on, in order
        self.repositories: dict[str, dict[int, str]] = {}
        for project, paths in projects.items():
            self.repositories[project] = {70 + len(self._all()) + n: path
                                          for n, path in enumerate(paths)}

    def _all(self) -> dict[int, str]:
        return {k: v for listed in self.repositories.values() for k, v in listed.items()}

    def answer_request(self, method: str, path: str, body: bytes,
                       headers: Mapping[str, str]) -> Answer:
        found = [name for name, token in (("PRIVATE-TOKEN", self.private_token),
                                          ("JOB-TOKEN", self.job_token))
                 if token and headers.get(name) == token]
        if not found:
            return 401, _JSON, json.dumps({"message": "401 Unauthorized"}).encode()
        self.authenticated.append(found[0])
        split = urlsplit(path)
        listing = _REPOSITORIES.match(split.path)
        if listing is not None and method == "GET":
            return self._page(unquote(listing.group(1)), split)
        deleting = _TAG.match(split.path)
        if deleting is not None and method == "DELETE":
            repositories = self.repositories.get(unquote(deleting.group(1)), {})
            repository = repositories.get(int(deleting.group(2)))
            if repository is None:
                return 404, _JSON, b'{"message": "404 Repository Not Found"}'
            gone = self.registry.delete_tag_alone(repository, unquote(deleting.group(3)))
            return (200, {}, b"") if gone else (404, _JSON, b'{"message": "404 Tag Not Found"}')
        return 404, _JSON, b'{"message": "404 Not Found"}'

    def _page(self, project: str, split: SplitResult) -> Answer:
        if project not in self.repositories:
            return 404, _JSON, json.dumps({"message": "404 Project Not Found"}).encode()
        page = int(parse_qs(split.query).get("page", ["1"])[0])
        items = sorted(self.repositories[project].items())
        body = [{"id": rid, "path": path, "location": f"{self.registry.host}/{path}"}
                for rid, path in items[page - 1:page]]
        headers = dict(_JSON)
        if page < len(items):
            headers["Link"] = f'<{self.url}{split.path}?per_page=100&page={page + 1}>; ' \
                              'rel="next"'
        return 200, headers, json.dumps(body).encode()
