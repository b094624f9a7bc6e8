"""A loopback stand-in for Azure Container Registry: its token service and its tag
delete, served beside the registry API on one host, as ACR serves them; the registry
API is a real distribution registry behind it, reached once a request's token allows.

Documented shapes (learn.microsoft.com/rest/api/containerregistry): requests without a
valid bearer get `401` with `WWW-Authenticate: Bearer realm="<host>/oauth2/token",
service="<host>",scope="repository:<name>:<action>"`; `GET /oauth2/token` with Basic
credentials answers `{"access_token"}` for the scopes asked; `DELETE /acr/v1/{name}/
_tags/{tag}` needs the `delete` action and answers 202, 404 for no such tag. A tag
deleted alone is emulated on the distribution registry.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from .registry import Registry
from .standin import Answer, StandIn

_REGISTRY = re.compile(r"^/v2/(.+?)/(manifests|blobs|tags)/")
_TAG = re.compile(r"^/acr/v1/(.+)/_tags/([^/]+)$")


class AcrApi(StandIn):
    def __init__(self, registry: Registry, *, username: str, password: str) -> None:
        super().__init__(registry)
        self.username = username
        self.password = password
        self.grant = {"pull", "push", "delete"}  # what the credentials' role allows
        self.tokens: dict[str, set[str]] = {}  # token -> "repository:<name>:<action>"

    def answer_request(self, method: str, path: str, body: bytes,
                       headers: Mapping[str, str]) -> Answer | None:
        split = urlsplit(path)
        auth = headers.get("Authorization", "")
        if split.path == "/oauth2/token":
            return self._token(auth, split.query)
        found = _TAG.match(split.path)
        if found is not None:
            name, tag = unquote(found.group(1)), unquote(found.group(2))
            if not self._allows(auth, name, "delete"):
                return self._challenge(name, "delete")
            if method != "DELETE":
                return 405, {}, b"{}"
            return (202 if self.registry.delete_tag_alone(name, tag) else 404), {}, b""
        if split.path == "/v2/":
            known = auth.removeprefix("Bearer ") in self.tokens
            return None if known else self._challenge(None, "")
        target = _REGISTRY.match(split.path)
        if target is None:
            return 404, {}, b"{}"
        action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "push")
        if not self._allows(auth, target.group(1), action):
            return self._challenge(target.group(1), action)
        return None  # the registry answers

    def _allows(self, auth: str, name: str, action: str) -> bool:
        return f"repository:{name}:{action}" in self.tokens.get(
            auth.removeprefix("Bearer "), set())

    def _challenge(self, name: str | None, action: str) -> Answer:
        value = f'Bearer realm="{self.url}/oauth2/token",service="{self.host}"'
        if name is not None:
            value += f',scope="repository:{name}:{action}"'
        return 401, {"WWW-Authenticate": value, "Content-Type": "application/json"}, \
            b'{"errors":[{"code":"UNAUTHORIZED"}]}'

    def _token(self, auth: str, query: str) -> Answer:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if auth != f"Basic {expected}":
            return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        granted = set()
        for scope in parse_qs(query).get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted |= {f"{kind}:{name}:{a}" for a in set(actions.split(",")) & self.grant}
        token = secrets.token_hex(16)
        self.tokens[token] = granted
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"access_token": token}).encode()
