"""Azure Container Registry's own API, for what its registry API does not do: delete a
tag alone.

ACR serves `DELETE /acr/v1/{name}/_tags/{tag}` beside the registry API, on the same host
and with the same login (a bearer from its token service, for the repository's `delete`
action; the `AcrDelete` role, or Contributor or Owner): it removes one tag and leaves
the image. An image with every tag on it is deleted through the registry API
(`DELETE /v2/<name>/manifests/<digest>`), not here.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from dockyard.registry.auth import delete_scope
from dockyard.registry.client import RegistryClient
from dockyard.registry.transport import RegistryError, deleted

# <name>.azurecr.io, and the sovereign clouds' login servers (China, US Government).
_ACR_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.azurecr\.(?:io|cn|us)$")
_ROLE_HINT = "give these credentials the AcrDelete role (or Contributor) on the registry"


def is_acr(host: str) -> bool:
    return _ACR_HOST.match(host) is not None


def delete_tag(client: RegistryClient, repository: str, tag: str) -> bool:
    """Delete `repository:tag` alone; False when there was no such tag."""
    path = f"/acr/v1/{repository}/_tags/{quote(tag, safe='')}"
    try:
        response = client.send("DELETE", path, (delete_scope(repository),))
    except RegistryError as exc:
        if exc.status != 401:
            raise
        # ACR's token service hands out a token without the delete action rather than
        # refusing: the request is then refused again, whatever the password.
        raise RegistryError(client.host, f"cannot delete the tag {repository}:{tag}: the "
                            "login was given no delete right", status=401,
                            hint=_ROLE_HINT) from None
    with response:  # a 404 after an attempt whose answer was lost: this one deleted it
        return deleted(client, response, f"cannot delete the tag {repository}:{tag}",
                       _ROLE_HINT)
