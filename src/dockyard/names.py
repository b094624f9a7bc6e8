"""Image names: parsing, validation and registry hosts, following the distribution grammar.

A name is `[host[:port]/]path`, where the host is recognised as in Docker: the first
component is a host when it contains a `.` or a `:`, or is `localhost`; otherwise the
image lives on Docker Hub (`docker.io`, with `library/` for one-part names).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_MAX_NAME = 255
_MAX_PORT = 65535


@dataclass(frozen=True)
class ImageName:
    host: str  # registry host, "docker.io" for Docker Hub
    path: str  # repository path within the registry ("library/nginx" on Docker Hub)
    written: str  # the name as the user wrote it (lower-cased), used in references

    def reference(self, tag: str) -> str:
        return f"{self.written}:{tag}"

    @property
    def repository(self) -> str:
        """The repository as the Docker engine addresses it (host included)."""
        if self.host == DOCKER_HUB:
            return self.path.removeprefix("library/")
        return f"{self.host}/{self.path}"


def normalise_host(host: str) -> str:
    """Registry host as a credentials key: Docker Hub aliases fold to `docker.io`."""
    host = host.strip().lower()
    for scheme in ("https://", "http://"):
        host = host.removeprefix(scheme)
    host = host.split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _has_host(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost"


def parse_image(name: str) -> ImageName:
    """Parse a validated image name (see `image_problem`)."""
    first, _, rest = name.partition("/")
    if rest and _has_host(first):
        host, path = normalise_host(first), rest
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageName(host=host, path=path, written=name)


def image_problem(name: str) -> str | None:
    """Why `name` is not a valid image name without a tag, with the fix; None when valid."""
    if not name.strip():
        return "an image name must not be empty"
    if len(name) > _MAX_NAME:
        return f"'{name[:40]}...' is longer than {_MAX_NAME} characters"
    first, _, rest = name.partition("/")
    if rest and "@" in first:
        return credentials_problem(first)
    if "@" in name:
        return f"'{name}' has a digest; give the name only (e.g. '{name.split('@')[0]}')"
    host_part = first if rest and _has_host(first) else ""
    path = rest if host_part else name
    if ":" in path:
        bare = host_part + "/" * bool(host_part) + path.rsplit(":", 1)[0]
        return f"'{name}' has a tag; give the name only (e.g. '{bare}') and tags under 'tags:'"
    if host_part and not _HOST.fullmatch(host_part):
        return f"'{host_part}' is not a valid registry host"
    port = _port_problem(host_part)
    if port:
        return port
    if path != path.lower():
        return f"'{name}' has upper-case letters; image names must be lower-case: " \
               f"'{host_part + '/' * bool(host_part) + path.lower()}'"
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            return (f"'{name}': path component '{component}' is not allowed; use lower-case "
                    "letters, digits and single separators (. _ __ -) between them")
    return None


_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def tag_problem(tag: str) -> str | None:
    """Why `tag` cannot be a tag (the distribution grammar), with the fix; None when it
    can."""
    if _TAG.fullmatch(tag):
        return None
    shown = tag if len(tag) <= 60 else f"{tag[:60]}..."
    fixed = re.sub(r"[^A-Za-z0-9._-]+", "-", tag).lstrip(".-")[:128]
    example = f" such as '{fixed}'" if fixed and _TAG.fullmatch(fixed) else ""
    return (f"'{shown}' is not a valid tag: a tag is 1 to 128 letters, digits, '_', '.' "
            f"and '-', and does not start with '.' or '-'; write one{example}")


def _port_problem(host: str) -> str | None:
    port = re.search(r":([0-9]+)$", host)
    if port and not (len(port[1]) <= 5 and 1 <= int(port[1]) <= _MAX_PORT):
        return f"'{host}': port {port[1]} is not a port; ports go from 1 to {_MAX_PORT}"
    return None


def credentials_problem(host: str) -> str:
    """What to say of a host written with credentials (`user:password@host`), naming the
    host alone: the rest is a secret, and must not be quoted, lower-cased or not."""
    return (f"'{host.rpartition('@')[2]}' is written with credentials (user:password@); "
            "write the host alone, and the credentials under `registries:` as username "
            "and password")


def host_problem(host: str) -> str | None:
    """Why `host` (a `registries:` key, already normalised) names no registry; None when
    it can."""
    if "@" in host:
        return credentials_problem(host)
    if not _HOST.fullmatch(host):
        return (f"'{host}' is not a registry host; write it as in the image names, such as "
                "ghcr.io or 127.0.0.1:5000")
    return _port_problem(host)


def unused_host_note(host: str, image_hosts: Collection[str]) -> str | None:
    """What to say of credentials for `host` when no image lives there (None when one
    does): the image host it was probably meant for, when one is close."""
    if host in image_hosts or not image_hosts:
        return None
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    meant = sorted(h for h in image_hosts if h.rsplit(":", 1)[0] == bare)
    if not meant:
        import difflib  # for mistakes only

        meant = difflib.get_close_matches(host, sorted(image_hosts), n=1, cutoff=0.6)
    where = ", ".join(sorted(image_hosts))
    unused = (f"no image in `images:` is on {host} (they are on {where}), so `run` never "
              "logs in with these credentials")
    if meant:
        return f"{unused}: did you mean '{meant[0]}'? (a port is part of the host)"
    return f"{unused} (only `promote` to a target on {host} would)"
