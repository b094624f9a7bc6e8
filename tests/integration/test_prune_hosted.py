"""Prune on the hosted registries whose registry API does not delete: the listing
through the registry API, deletes through their own APIs, each a loopback stand-in of
its documented endpoints over a real distribution registry that holds the images.

- GHCR: GitHub Packages' REST API deletes package versions (an image, with its tags);
- Docker Hub: its API deletes tags one by one, so a tag on a kept image goes alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.hub import HubApi
from support.packages import PackagesApi
from support.registry import RegistryFactory
from support.standin import prune_hosted

GITHUB_TOKEN = "ghp_prunetesttoken0123456789"
HUB_TOKEN = "dckr_pat_prunetest0123456789"
OPEN = frozenset({2})


def config(image: str, username: str, password: str, *, sha: str = "{}") -> str:
    host = "docker.io" if image.count("/") == 1 else image.split("/", 1)[0]
    return (f"images: [{image}]\n"
            'tags: ["type=semver,pattern={{version}}", "type=ref,event=pr", type=sha]\n'
            f"registries:\n  {host}: {{username: {username}, password: \"{password}\"}}\n"
            f"retention:\n  sha: {sha}\n  pull_requests: open\n")


GHCR = config("ghcr.io/acme/app", "bot", GITHUB_TOKEN)
HUB = config("acme/app", "acmebot", HUB_TOKEN, sha="{keep_last: 0}")


@pytest.fixture
def api(registry_factory: RegistryFactory) -> Iterator[PackagesApi]:
    standin = PackagesApi(registry_factory(), owner_kind="users", token=GITHUB_TOKEN)
    yield standin
    standin.close()


@pytest.fixture
def hub(registry_factory: RegistryFactory) -> Iterator[HubApi]:
    standin = HubApi(registry_factory(), username="acmebot", token=HUB_TOKEN)
    yield standin
    standin.close()


def test_ghcr_images_are_deleted_as_package_versions_paged_and_rate_limited(
        api: PackagesApi, tmp_path: Path) -> None:
    release = api.build("acme/app", "1.0.0", "1.0.0", "sha-1111111")
    closed = [api.build("acme/app", f"pr-{n}", f"pr-{n}") for n in (1, 3, 4)]
    open_pr = api.build("acme/app", "pr-2", "pr-2")
    planned = prune_hosted(api, GHCR, "ghcr.io", tmp_path, apply=False, open_prs=OPEN)
    assert planned["api"] == "github-packages" and api.requests == []

    api.statuses.append(429)  # GitHub's rate limit, with Retry-After: 0
    done = prune_hosted(api, GHCR, "ghcr.io", tmp_path, open_prs=OPEN)
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


def test_a_version_deleted_whose_answer_was_lost_is_in_the_record(
        api: PackagesApi, tmp_path: Path) -> None:
    """GitHub deleted it, the answer never came, the retry's 404 found it gone: it was
    "gone already", left out of the record with its restore command."""
    api.build("acme/app", "1.0.0", "1.0.0")
    closed = {api.build("acme/app", f"pr-{n}", f"pr-{n}") for n in (1, 3)}
    api.lost.append("DELETE")
    done = prune_hosted(api, GHCR, "ghcr.io", tmp_path, open_prs=OPEN)
    assert done["status"] == "pruned", done["error"]
    assert sorted(api.registry.tags("acme/app")) == ["1.0.0"]
    assert [m for m, _ in api.requests].count("DELETE") == 3  # one sent again: 404
    assert {d["digest"] for d in done["deleted"]} == closed  # type: ignore[union-attr]


def test_a_wrong_token_skips_the_registry_whole(api: PackagesApi, tmp_path: Path) -> None:
    api.build("acme/app", "pr-1", "pr-1")
    api.build("acme/app", "pr-3", "pr-3")
    api.token = "another"
    done = prune_hosted(api, GHCR, "ghcr.io", tmp_path, open_prs=OPEN)
    assert done["status"] == "skipped"
    assert "read:packages and delete:packages" in str(done["error"])
    assert GITHUB_TOKEN not in str(done)
    assert sorted(api.registry.tags("acme/app")) == ["pr-1", "pr-3"]


def test_docker_hub_tags_are_deleted_one_by_one_and_a_kept_image_keeps_its_release(
        hub: HubApi, tmp_path: Path) -> None:
    release = hub.build("acme/app", "1.0.0", "1.0.0", "sha-1111111")
    hub.build("acme/app", "pr-1", "pr-1", "sha-2222222")
    hub.build("acme/app", "pr-2", "pr-2")
    hub.statuses.append(429)  # Docker Hub's rate limit, with Retry-After: 0
    done = prune_hosted(hub, HUB, "docker.io", tmp_path, open_prs=OPEN)
    assert done["status"] == "pruned", done["error"]
    assert done["api"] == "docker-hub"
    assert sorted(hub.registry.tags("acme/app")) == ["1.0.0", "pr-2"]
    assert hub.registry.manifest_digest("acme/app", "1.0.0") == release
    how = {tuple(d["tags"]): d["how"] for d in done["deleted"]}  # type: ignore[union-attr]
    assert how == {("sha-1111111",): "tag", ("pr-1", "sha-2222222"): "image"}
    deletes = [p for m, p in hub.requests if m == "DELETE"]
    assert deletes.count("/v2/repositories/acme/app/tags/pr-1/") == 1
    assert hub.requests[:2] == [("POST", "/v2/auth/token")] * 2  # 429, then again


def test_a_token_without_delete_rights_skips_docker_hub_whole(
        hub: HubApi, tmp_path: Path) -> None:
    hub.build("acme/app", "pr-1", "pr-1")
    hub.token = "dckr_pat_another"
    done = prune_hosted(hub, HUB, "docker.io", tmp_path, open_prs=OPEN)
    assert done["status"] == "skipped"
    assert "Read, Write, Delete" in str(done["error"]) and HUB_TOKEN not in str(done)
    assert hub.registry.tags("acme/app") == ["pr-1"]
