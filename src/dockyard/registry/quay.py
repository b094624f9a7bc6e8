"""Quay's own API, for what its registry API does not do: delete a tag alone.

Quay (quay.io, Red Hat Quay) serves its API beside the registry API, on the same host:
`DELETE {registry}/api/v1/repository/{namespace}/{name}/tag/{tag}` removes one tag and
leaves its image while another tag names it. It takes an OAuth access token with the
`repo:write` scope as a bearer (`registries.<host>.api_token`, or the registry password
itself when the username is `$oauthtoken`). An image with every tag on it is deleted
through the registry API (`DELETE /v2/<name>/manifests/<digest>`), not here.

Requests go through `transport.Transport`: the same timeouts, and retries of 5xx and
429 (with Retry-After) as the registry API's.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

from dockyard.registry.transport import Transport, deleted
from dockyard.retry import RetryPolicy, Sleep

QUAY = "quay.io"
OAUTH_USER = "$oauthtoken"  # Quay's registry login with an OAuth token as the password
_ACCESS_HINT = ("use an OAuth access token with repo:write (Quay > Organization > "
               "Applications > Generate token) as registries.<host>.api_token")


class QuayApi:
    """One Quay host's API, as one OAuth token sees it. Close it when done."""

    def __init__(self, token: str, *, api_url: str, policy: RetryPolicy = RetryPolicy(),
                 sleep: Sleep = time.sleep) -> None:
        self.api_url = api_url.rstrip("/")
        self._transport = Transport(urlsplit(self.api_url).netloc, policy=policy, sleep=sleep)
        self._headers = {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self._transport.close()

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete `namespace/name:tag` alone; False when there was no such tag."""
        namespace, _, name = path.partition("/")
        url = (f"{self.api_url}/api/v1/repository/{quote(namespace, safe='')}/"
               f"{quote(name, safe='')}/tag/{quote(tag, safe='')}")
        with self._transport.send("DELETE", url, headers=self._headers) as response:
            return deleted(self._transport, response, f"cannot delete the tag {path}:{tag}",
                           _ACCESS_HINT)
