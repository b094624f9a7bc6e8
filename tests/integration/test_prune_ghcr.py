"""Prune on GHCR: listing through the registry API, deleting through GitHub Packages'
REST API (a loopback stand-in of its documented endpoints, over a real distribution
registry that holds the images)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dockyard.prune import Facts, prune
from dockyard.registry import RegistryClient
from dockyard.settings import Credentials, Overrides, load_settings
from support.images import push_image
from support.packages import PackagesApi
from support.registry import RegistryFactory

TOKEN = "ghp_prunetesttoken0123456789"
CONFIG = """\
images: [ghcr.io/acme/app]
tags: ["type=semver,pattern={{version}}", "type=ref,event=pr", type=sha]
registries:
  ghcr.io: {username: bot, password: "%s"}
retention:
  pull_requests: open
"""


@pytest.fixture
def api(registry_factory: RegistryFactory) -> Iterator[PackagesApi]:
    standin = PackagesApi(registry_factory(), owner_kind="users", token=TOKEN)
    yield standin
    standin.close()


def _push(api: PackagesApi, version: str, *tags: str) -> str:
    labels = {"org.opencontainers.image.version": version}
    digest = push_image(api.registry, "acme/app", "@", labels=labels)
    for tag in tags:
        push_image(api.registry, "acme/app", tag, labels=labels)
    api.add(digest)
    return digest


def _run(api: PackagesApi, tmp_path: Path, *, apply: bool) -> dict[str, object]:
    path = tmp_path / "dockyard.yml"
    path.write_text(CONFIG % TOKEN)
    settings = load_settings(path, {}, Overrides(building=False))

    def connect(host: str, credentials: Credentials | None) -> RegistryClient:
        assert host == "ghcr.io"  # the listing goes to the registry API, on loopback here
        return RegistryClient(api.registry.host)

    result = prune(settings, Facts(datetime.now(timezone.utc), open_prs=frozenset({2})),
                   apply=apply, connect=connect, sleep=lambda _: None,
                   apis={"ghcr.io": api.url})
    (repo,) = result.to_dict()["repositories"]
    assert isinstance(repo, dict)
    return repo


def test_ghcr_images_are_deleted_as_package_versions_paged_and_rate_limited(
        api: PackagesApi, tmp_path: Path) -> None:
    release = _push(api, "1.0.0", "1.0.0", "sha-1111111")
    closed = [_push(api, f"pr-{n}", f"pr-{n}") for n in (1, 3, 4)]
    open_pr = _push(api, "pr-2", "pr-2")
    planned = _run(api, tmp_path, apply=False)
    assert planned["api"] == "github-packages" and api.requests == []

    api.statuses.append(429)  # GitHub's rate limit, with Retry-After: 0
    done = _run(api, tmp_path, apply=True)
    assert done["status"] == "pruned", done["error"]
    assert {d["digest"] for d in done["deleted"]} == set(closed)  # type: ignore[union-attr]
    assert sorted(api.registry.tags("acme/app")) == ["1.0.0", "pr-2", "sha-1111111"]
    assert set(api.versions.values()) == {release, open_pr}
    listing = "/packages/container/app/versions"
    # The first answer was 429 and the request was sent again; an organisation first,
    # then (404) the user's package; every page of versions (5 by 2); one DELETE each.
    assert api.requests[:3] == [("GET", f"/orgs/acme{listing}")] * 2 + [
        ("GET", f"/users/acme{listing}")]
    assert api.requests[3:5] == [("GET", f"/users/acme{listing}")] * 2
    assert [m for m, _ in api.requests[5:]] == ["DELETE"] * 3


def test_a_wrong_token_skips_the_registry_whole(api: PackagesApi, tmp_path: Path) -> None:
    _push(api, "pr-1", "pr-1")
    _push(api, "pr-3", "pr-3")
    api.token = "another"
    done = _run(api, tmp_path, apply=True)
    assert done["status"] == "skipped"
    assert "read:packages and delete:packages" in str(done["error"])
    assert TOKEN not in str(done)
    assert sorted(api.registry.tags("acme/app")) == ["pr-1", "pr-3"]
