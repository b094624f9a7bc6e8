"""Docker Hub's own API, for what its registry API does not do: delete.

Docker Hub answers the distribution API's DELETE with an error; a tag is deleted with
`DELETE https://hub.docker.com/v2/repositories/{namespace}/{name}/tags/{tag}/` (the
endpoint Docker Hub's web UI and tools such as werf use), the bearer token coming from
`POST /v2/auth/token` (`{"identifier": user, "secret": personal access token}` ->
`{"access_token": ...}`). The token needs the *Read, Write, Delete* scope. An image
left with no tag stays in the repository, untagged.

Requests go through `transport.Transport`: the same timeouts, and retries of 5xx and
429 (Docker Hub sends Retry-After with its rate limit) as the registry API's.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlsplit

from dockyard.registry.transport import RegistryError, Transport, deleted
from dockyard.retry import RetryPolicy, Sleep
from dockyard.secrets import register

HUB_API = "https://hub.docker.com"
_SCOPE_HINT = ("use a personal access token with the Read, Write, Delete scope "
               "(Docker Hub > Account settings > Personal access tokens)")


class DockerHubApi:
    """One account's view of Docker Hub's API. Close it when done."""

    def __init__(self, username: str, token: str, *, api_url: str = HUB_API,
                 policy: RetryPolicy = RetryPolicy(), sleep: Sleep = time.sleep) -> None:
        self.api_url = api_url.rstrip("/")
        self._transport = Transport(urlsplit(self.api_url).netloc, policy=policy, sleep=sleep)
        self._login = {"identifier": username, "secret": token}
        self._bearer: str | None = None

    def close(self) -> None:
        self._transport.close()

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete `namespace/name:tag`; False when there was no such tag."""
        namespace, _, name = path.partition("/")
        url = (f"{self.api_url}/v2/repositories/{quote(namespace, safe='')}/"
               f"{quote(name, safe='')}/tags/{quote(tag, safe='')}/")
        with self._transport.send("DELETE", url, headers={
                "Authorization": f"Bearer {self._token()}"}) as response:
            return deleted(self._transport, response, f"cannot delete {path}:{tag}",
                           _SCOPE_HINT)

    def _token(self) -> str:
        if self._bearer is None:
            with self._transport.send("POST", f"{self.api_url}/v2/auth/token",
                                      data=json.dumps(self._login).encode(),
                                      headers={"Content-Type": "application/json"}) as response:
                if response.status_code != 200:
                    raise RegistryError(self._transport.host, "refused the login for deleting "
                                        f"tags: HTTP {response.status_code}",
                                        status=response.status_code, hint=_SCOPE_HINT)
                try:
                    token = response.json().get("access_token")
                except (ValueError, AttributeError):
                    token = None
            if not isinstance(token, str) or not token:
                raise RegistryError(self._transport.host, "answered the login with no token",
                                    hint="the API, or a proxy before it, is broken")
            register(token)  # masked wherever it could show up
            self._bearer = token
        return self._bearer
