"""Logging in to a registry as it asks, over a `Transport`.

A `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge sends the basic
credentials to the token endpoint, and the token is cached per scope; a `Basic`
challenge makes every request carry them directly. A refused token is renewed once.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from dockyard.registry.transport import (
    BROKEN_HINT,
    SMALL_BODY_LIMIT,
    Body,
    Params,
    RegistryError,
    Transport,
)
from dockyard.registry.trust import base_url
from dockyard.settings import Credentials

_TOKEN_MARGIN_SECONDS = 10.0
_DEFAULT_TOKEN_SECONDS = 60.0
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
# What an Authorization header can carry: visible ASCII, no spaces (RFC 6750's b64token
# is narrower; registries' tokens are JWTs or opaque strings within it).
_TOKEN = re.compile(r"[\x21-\x7e]+")
_CREDENTIALS_HINT = ("check the username and password under `registries:` for this host "
                     "(or `docker login` it when it has no entry)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "bearer" or "basic"
    params: Mapping[str, str]


def parse_challenge(header: str) -> Challenge:
    """Parse a WWW-Authenticate value such as `Bearer realm="...",service="..."`."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        key, quoted, bare = match.groups()
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[key.lower()] = value
    return Challenge(scheme=scheme.lower(), params=params)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def delete_scope(repository: str) -> str:
    return f"repository:{repository}:delete"


class Authenticator:
    """One set of credentials (or none) for the registry of `transport`."""

    def __init__(self, transport: Transport, credentials: Credentials | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._transport = transport
        self._credentials = credentials
        self._clock = clock
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._basic = False

    @property
    def host(self) -> str:
        return self._transport.host

    def send(self, method: str, url: str, scopes: tuple[str, ...], *,
             headers: Mapping[str, str] | None = None, data: Body | None = None,
             params: Params | None = None, stream: bool = False,
             once: bool = False, limit: int = SMALL_BODY_LIMIT) -> requests.Response:
        """Send with authorisation; on 401 log in as the challenge says, once, and resend."""
        relogged = False
        while True:
            sent = dict(headers or {})
            sent.update(self._authorisation(scopes))
            response = self._transport.send(method, url, headers=sent, data=data,
                                            params=params, stream=stream, once=once,
                                            limit=limit)
            if response.status_code != 401:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            if relogged or not challenge or once:
                raise RegistryError(
                    self.host, "refused the credentials (unauthorized)"
                    if self._credentials else "requires a login, and none is configured",
                    status=401, hint=_CREDENTIALS_HINT)
            self._tokens.pop(scopes, None)
            self.login(scopes, challenge)
            relogged = True

    def login(self, scopes: tuple[str, ...], header: str) -> None:
        """Answer the challenge `header` (a WWW-Authenticate value) for `scopes`."""
        challenge = parse_challenge(header)
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise RegistryError(self.host, "the registry requires a login, and none is "
                                    "configured", status=401, hint=_CREDENTIALS_HINT)
            self._basic = True
        elif challenge.scheme == "bearer":
            self._fetch_token(scopes, challenge)
        else:
            raise RegistryError(self.host, f"refused the request with an authentication "
                                f"scheme Dockyard does not speak ({challenge.scheme or 'none'})",
                                status=401)

    def check_granted(self, scopes: tuple[str, ...]) -> None:
        """Fail unless the token got for `scopes` grants every action of them.

        A token service may hand out a token with fewer rights than asked (Docker Hub
        does); its `access` claim says which. Nothing to check without a token (Basic,
        anonymous) or when the token is not a JWT.
        """
        token = self._tokens.get(scopes)
        if token is None:
            return
        granted = _granted_actions(token[0])
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = set(actions.split(","))
            have = granted.get((kind, name)) if granted is not None else wanted
            if have is not None and not wanted <= have and "*" not in have:
                raise RegistryError(
                    self.host, f"the credentials may not {'/'.join(sorted(wanted - have))} "
                    f"{name} (no push permission)", status=403,
                    hint="give these credentials push (write) access to the repository, "
                         "or use credentials that have it")

    def _fetch_token(self, scopes: tuple[str, ...], challenge: Challenge) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(self.host, "its Bearer challenge has no realm (token URL)",
                                status=401)
        realm_host = _url_host(realm)
        if realm_host is None:
            raise RegistryError(self.host, "its Bearer challenge's realm is not an http(s) "
                                "URL, so there is no token service to ask", status=401,
                                hint=BROKEN_HINT)
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        for scope in scopes or (challenge.params.get("scope", ""),):
            if scope:
                params.append(("scope", scope))
        headers = {}
        if self._credentials is not None:
            if not realm.startswith("https://") and not self._transport.insecure \
                    and base_url(realm_host).startswith("https://"):
                raise RegistryError(self.host, f"its token service ({realm_host}) speaks plain "
                                    "http; Dockyard will not send credentials there",
                                    hint="the registry's token realm must be https")
            headers = self._basic_header()
        response = self._transport.send("GET", realm, params=params, headers=headers)
        with response:
            if response.status_code in (401, 403):
                raise RegistryError(self.host, "the token service refused the credentials "
                                    "(bad username or password)", status=response.status_code,
                                    hint=_CREDENTIALS_HINT)
            if response.status_code != 200:
                raise RegistryError(self.host, f"the token service answered HTTP "
                                    f"{response.status_code}", status=response.status_code)
            try:
                body = response.json()
                token = str(body.get("token") or body.get("access_token") or "")
                lifetime = float(body.get("expires_in") or _DEFAULT_TOKEN_SECONDS)
            except (ValueError, AttributeError, TypeError) as exc:
                raise RegistryError(self.host, "the token service answered something that is "
                                    "not a token") from exc
        if not token:
            raise RegistryError(self.host, "the token service answered without a token")
        if not _TOKEN.fullmatch(token):  # no header can carry it, or it is no token at all
            raise RegistryError(self.host, "the token service answered something that is "
                                "not a token", hint=BROKEN_HINT)
        if not 0 < lifetime < math.inf:  # "nan", "-1", "1e999": not a lifetime
            lifetime = _DEFAULT_TOKEN_SECONDS
        self._tokens[scopes] = (token, self._clock() + lifetime - _TOKEN_MARGIN_SECONDS)

    def _basic_header(self) -> dict[str, str]:
        """The credentials as Basic auth, in UTF-8 as the engine sends them (requests'
        own `auth=` takes latin-1 only)."""
        if self._credentials is None:
            return {}
        pair = f"{self._credentials.username}:{self._credentials.password.reveal()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def _authorisation(self, scopes: tuple[str, ...]) -> dict[str, str]:
        if self._basic:
            return self._basic_header()
        cached = self._tokens.get(scopes)
        if cached is None:  # a token asked for more (pull,push) serves a pull as well
            cached = next((token for key, token in tuple(self._tokens.items())
                           if _covers(key, scopes)), None)
        if cached is not None and cached[1] > self._clock():
            return {"Authorization": f"Bearer {cached[0]}"}
        return {}


def _covers(have: Sequence[str], want: Sequence[str]) -> bool:
    """Whether a token asked for the scopes `have` was asked for every action of `want`."""
    held: dict[str, set[str]] = {}
    for scope in have:
        resource, _, actions = scope.rpartition(":")
        held.setdefault(resource, set()).update(actions.split(","))
    return all(set(actions.split(",")) <= held.get(resource, set())
               for resource, _, actions in (scope.rpartition(":") for scope in want))


def _granted_actions(token: str) -> dict[tuple[str, str], set[str]] | None:
    """The `access` claim of a JWT token by (type, name); None when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        access = payload["access"]
        return {(str(a["type"]), str(a["name"])): {str(x) for x in a.get("actions") or ()}
                for a in access}
    except (ValueError, KeyError, TypeError):
        return None


def _url_host(url: str) -> str | None:
    """The host[:port] of an absolute http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not one
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.netloc
