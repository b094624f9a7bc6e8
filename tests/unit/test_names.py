"""Image names: hosts, Docker Hub conventions and validation before any network call."""

from __future__ import annotations

import pytest

from dockyard.names import host_problem, image_problem, normalise_host, parse_image


@pytest.mark.parametrize(
    ("name", "host", "path", "repository"),
    [
        ("nginx", "docker.io", "library/nginx", "nginx"),
        ("acme/app", "docker.io", "acme/app", "acme/app"),
        ("docker.io/acme/app", "docker.io", "acme/app", "acme/app"),
        ("index.docker.io/acme/app", "docker.io", "acme/app", "acme/app"),
        ("ghcr.io/acme/app", "ghcr.io", "acme/app", "ghcr.io/acme/app"),
        ("127.0.0.1:5000/acme/app", "127.0.0.1:5000", "acme/app", "127.0.0.1:5000/acme/app"),
        ("localhost/app", "localhost", "app", "localhost/app"),
        ("registry.gitlab.com/g/sub/p", "registry.gitlab.com", "g/sub/p",
         "registry.gitlab.com/g/sub/p"),
    ],
)
def test_parse_image(name: str, host: str, path: str, repository: str) -> None:
    assert image_problem(name) is None
    image = parse_image(name)
    assert (image.host, image.path, image.repository) == (host, path, repository)
    assert image.reference("1.2.3") == f"{name}:1.2.3"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("Acme/App", "'acme/app'"),
        ("ghcr.io/acme/app:latest", "has a tag"),
        ("127.0.0.1:5000/app:v1", "has a tag"),
        ("ghcr.io/acme/app@sha256:abc", "has a digest"),
        ("ghcr.io/acme/-app", "path component '-app'"),
        ("ghcr.io/acme//app", "path component ''"),
        ("ghcr.io/acme/app.", "path component 'app.'"),
        ("bad_host.io:x/app", "not a valid registry host"),
    ],
)
def test_bad_names_are_explained(name: str, fragment: str) -> None:
    problem = image_problem(name)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("GHCR.io", "ghcr.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_normalise_host(host: str, expected: str) -> None:
    assert normalise_host(host) == expected


@pytest.mark.parametrize("name", ["bot:Pw-9931x@127.0.0.1:5000/acme/app",
                                  "tok-9931x@127.0.0.1:5000/acme/app"])
def test_an_image_host_written_with_credentials_is_named_by_its_host_alone(name: str) -> None:
    problem = image_problem(name) or ""
    assert problem.startswith("'127.0.0.1:5000' is written with credentials")
    assert "9931x" not in problem.lower()


def test_a_digest_is_still_a_digest_and_a_registries_key_names_its_host_alone() -> None:
    assert "has a digest" in (image_problem("127.0.0.1:5000/acme/app@sha256:abc") or "")
    assert "has a digest" in (image_problem("app@sha256:abc") or "")
    assert host_problem("bot:pw-9931x@127.0.0.1:5000") == (
        "'127.0.0.1:5000' is written with credentials (user:password@); write the host "
        "alone, and the credentials under `registries:` as username and password")
