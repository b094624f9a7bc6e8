"""A loopback stand-in for Quay: its API's tag delete, served beside the registry API
on one host, as quay.io and Red Hat Quay serve them; the registry API is a real
distribution registry behind it (requests to /v2/ are forwarded as they are).

Documented shape (docs.quay.io/api/swagger): `DELETE /api/v1/repository/{namespace}/
{name}/tag/{tag}` with `Authorization: Bearer <OAuth token>` answers 204, 404 for no
such tag, 401 for a wrong token, and 429 with Retry-After when scripted. A tag deleted
alone is emulated on the distribution registry.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from .registry import Registry
from .standin import Answer, StandIn

_TAG = re.compile(r"/api/v1/repository/([^/]+)/([^/]+)/tag/([^/]+)$")


class QuayApi(StandIn):
    def __init__(self, registry: Registry, *, token: str) -> None:
        super().__init__(registry)
        self.token = token

    def forwards(self, method: str, path: str) -> bool:
        return path.startswith("/v2/")

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        found = _TAG.match(path.split("?", 1)[0])
        if method != "DELETE" or found is None:
            return 404, {}, b"{}"
        if auth != f"Bearer {self.token}":
            return 401, {"Content-Type": "application/json"}, json.dumps(
                {"error": "Invalid token"}).encode()
        name = f"{unquote(found.group(1))}/{unquote(found.group(2))}"
        deleted = self.registry.delete_tag_alone(name, unquote(found.group(3)))
        return (204 if deleted else 404), {}, b""
