"""A loopback stand-in for Docker Hub's API (the endpoints prune uses), over a real
distribution registry that holds the images, as Docker Hub's registry does.

Documented shapes: `POST /v2/auth/token` with `{"identifier", "secret"}` answers
`{"access_token"}` (401 for wrong credentials); `DELETE /v2/repositories/{namespace}/
{name}/tags/{tag}/` with that bearer answers 204, 404 for no such tag, and 429 with
Retry-After when scripted (Docker Hub's rate limit). A tag deleted alone is emulated on
the distribution registry (which deletes by digest only): its image is deleted and put
back under the tags that remain on it.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from .registry import Registry
from .standin import Answer, StandIn

_TAG = re.compile(r"/v2/repositories/([^/]+)/([^/]+)/tags/([^/]+)/$")


class HubApi(StandIn):
    def __init__(self, registry: Registry, *, username: str, token: str) -> None:
        super().__init__(registry)
        self.username = username
        self.token = token
        self.bearer = "hub-bearer-for-" + token[-6:]

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        if method == "POST" and path == "/v2/auth/token":
            login = json.loads(body or b"{}")
            if login != {"identifier": self.username, "secret": self.token}:
                return 401, {}, json.dumps({"detail": "Incorrect authentication"}).encode()
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"access_token": self.bearer}).encode()
        found = _TAG.match(path)
        if method != "DELETE" or found is None:
            return 404, {}, b"{}"
        if auth != f"Bearer {self.bearer}":
            return 401, {}, b"{}"
        name = f"{unquote(found.group(1))}/{unquote(found.group(2))}"
        deleted = self.registry.delete_tag_alone(name, unquote(found.group(3)))
        return (204 if deleted else 404), {}, b""
