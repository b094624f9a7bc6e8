"""A loopback stand-in for GitHub Packages' REST API (the container endpoints prune
uses), over a real distribution registry that holds the images, as GHCR's registry does.

Documented shapes (docs.github.com/rest/packages/packages): `GET /{orgs|users}/{owner}/
packages/container/{package}/versions?per_page=N` answers a JSON array of versions
(`id`, `name`: the digest, `metadata.container.tags`), paged with a `Link` header;
`DELETE .../versions/{id}` answers 204; a wrong token answers 401; an owner of the other
kind 404. The stand-in pages by 2 whatever `per_page` says, to exercise the paging, and
can answer 429 with Retry-After as GitHub's rate limits do.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote

import requests

from .registry import Registry
from .standin import Answer, StandIn

_VERSIONS = re.compile(r"/(orgs|users)/([^/]+)/packages/container/([^/]+)/versions(?:/(\d+))?$")
PAGE = 2


class PackagesApi(StandIn):
    def __init__(self, registry: Registry, *, owner_kind: str, token: str) -> None:
        super().__init__(registry)
        self.owner_kind = owner_kind  # "orgs" or "users": the other answers 404
        self.token = token
        self.versions: dict[int, str] = {}  # id -> digest

    def add(self, digest: str) -> None:
        """The registry holds `digest` in the package: it is a version."""
        if digest not in self.versions.values():
            self.versions[len(self.versions) + 1000] = digest

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        path, _, query = path.partition("?")
        if auth != f"Bearer {self.token}":
            return 401, {}, json.dumps({"message": "Bad credentials"}).encode()
        found = _VERSIONS.match(path)
        if found is None or found.group(1) != self.owner_kind:
            return 404, {}, json.dumps({"message": "Not Found"}).encode()
        name = unquote(found.group(3))
        if method == "DELETE" and found.group(4):
            digest = self.versions.pop(int(found.group(4)), None)
            if digest is None:
                return 404, {}, b"{}"
            with requests.delete(f"{self.registry.url}/v2/{found.group(2)}/{name}/manifests/"
                                 f"{digest}", timeout=10) as deleted:
                assert deleted.status_code == 202, deleted.text
            return 204, {}, b""
        if method != "GET" or found.group(4):
            return 405, {}, b"{}"
        page = int(parse_qs(query).get("page", ["1"])[0])
        items = sorted(self.versions.items())
        chunk = items[(page - 1) * PAGE:page * PAGE]
        body = [{"id": vid, "name": digest, "metadata": {
            "package_type": "container",
            "container": {"tags": self._tags_of(found.group(2), name, digest)}}}
            for vid, digest in chunk]
        headers = {"Content-Type": "application/json"}
        if page * PAGE < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, headers, json.dumps(body).encode()

    def _tags_of(self, owner: str, name: str, digest: str) -> list[str]:
        return [tag for tag in self.registry.tags(f"{owner}/{name}")
                if self.registry.manifest_digest(f"{owner}/{name}", tag) == digest]

