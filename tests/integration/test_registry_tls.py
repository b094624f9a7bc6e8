"""Registries that speak TLS with a private CA, trusted the way Docker trusts them.

Docker reads a registry's CA certificates and client certificate from
`certs.d/HOST:PORT/`; Dockyard's own client reads the same place, so one file makes both
the engine's push and Dockyard's tags, copies and checks work. The registries here are
real `docker-registry` processes serving HTTPS on 127.0.0.1 with certificates made by
openssl; the tests use rootless Docker's location ($XDG_CONFIG_HOME/docker/certs.d) so
that nothing outside the test's directory is touched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from dockyard.registry import RegistryClient, RegistryError, RetryPolicy
from support.cli import Outcome, run_cli
from support.registry import Pair, Registry, RegistryFactory, Tls, self_signed


@pytest.fixture
def certs_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "docker" / "certs.d"


@pytest.fixture
def server(tmp_path: Path) -> Pair:
    return self_signed(tmp_path / "pki", "registry")


def trust(certs_d: Path, host: str, files: dict[str, Path]) -> None:
    """Put `files` ({name in certs.d: source}) into certs.d/HOST:PORT/."""
    directory = certs_d / host
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copy(source, directory / name)


def run(repo: Path, *images: str, insecure: Sequence[str] = ()) -> Outcome:
    (repo / "dockyard.yml").write_text(
        "images:\n" + "".join(f"  - {image}\n" for image in images)
        + "tags:\n  - type=semver,pattern={{version}}\n"
        + f"publish: {{retries: 1, backoff_seconds: 0.01, insecure: [{', '.join(insecure)}]}}\n")
    return run_cli(repo, "run", "--format", "json")


def ca_bundles() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("dockyard-ca-*.pem"))


@pytest.fixture
def project(git_repo: Callable[..., Path], base_image: str) -> Path:
    return git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": "hello over TLS\n"}, tags=("v1.0.0",))


def test_tls_registries_with_a_private_ca_in_certs_d(
    project: Path, registry: Registry, registry_factory: RegistryFactory, certs_d: Path,
    server: Pair,
) -> None:
    tls = Tls(server.certificate, server.key)
    first, last = registry_factory(tls=tls), registry_factory(tls=tls)
    for secure in (first, last):
        trust(certs_d, secure.host, {"ca.crt": server.certificate})
    before = ca_bundles()
    # the engine pushes to the first; Dockyard reads it back over TLS, copies to a plain
    # registry and to another TLS one, and writes every tag
    images = [f"{first.host}/tls/app", f"{registry.host}/tls/app", f"{last.host}/tls/app"]
    outcome = run(project, *images)
    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    assert {outcome.entry(image)["digest"] for image in images} == {digest}
    for target in (first, registry, last):
        assert target.tags("tls/app") == ["1.0.0", "latest"]
        assert target.manifest_digest("tls/app", "1.0.0") == digest
    assert ca_bundles() == before  # the CA bundle lives only as long as its client


def test_an_untrusted_certificate_fails_the_preflight_with_where_to_put_the_ca(
    project: Path, registry_factory: RegistryFactory, certs_d: Path, server: Pair,
    tmp_path: Path,
) -> None:
    secure = registry_factory(tls=Tls(server.certificate, server.key))
    stranger = self_signed(tmp_path / "other", "stranger")
    trust(certs_d, secure.host, {"ca.crt": stranger.certificate})  # the wrong CA
    outcome = run(project, f"{secure.host}/tls/untrusted")
    assert outcome.code == 1
    assert "nothing was built or pushed" in outcome.stderr
    assert "not trusted" in outcome.stderr
    assert f"/etc/docker/certs.d/{secure.host}/ca.crt" in outcome.stderr
    assert secure.tags("tls/untrusted") == []


def test_a_registry_that_wants_a_client_certificate_gets_the_one_in_certs_d(
    project: Path, registry: Registry, registry_factory: RegistryFactory, certs_d: Path,
    server: Pair, tmp_path: Path,
) -> None:
    client = self_signed(tmp_path / "client", "dockyard-client", ip=None)
    mutual = registry_factory(tls=Tls(server.certificate, server.key, client=client))
    released = run(project, f"{registry.host}/tls/source")
    assert released.code == 0, released.stderr
    source, target = f"{registry.host}/tls/source:1.0.0", f"{mutual.host}/tls/copy:1.0.0"

    trust(certs_d, mutual.host, {"ca.crt": server.certificate})  # no client pair yet
    refused = run_cli(project, "promote", source, target, "--format", "json")
    assert refused.code == 1
    assert mutual.tags("tls/copy") == []

    trust(certs_d, mutual.host, {"client.cert": client.certificate,
                                 "client.key": client.key})
    promoted = run_cli(project, "promote", source, target, "--format", "json")
    assert promoted.code == 0, promoted.stderr
    assert mutual.manifest_digest("tls/copy", "1.0.0") == released.json["digest"]


def test_a_registry_that_answers_plain_http_to_https_is_named_as_such(
    project: Path, registry: Registry, certs_d: Path, server: Pair,
) -> None:
    trust(certs_d, registry.host, {"ca.crt": server.certificate})  # so Dockyard speaks TLS
    outcome = run(project, f"{registry.host}/tls/plain")
    assert outcome.code == 1
    assert (f"{registry.host}/tls/plain: cannot reach the registry (it answers plain HTTP, "
            "not HTTPS)") in outcome.stderr
    assert "serve" in outcome.stderr and "with TLS" in outcome.stderr
    assert registry.tags("tls/plain") == []


def test_a_certificate_problem_is_not_retried(
    registry_factory: RegistryFactory, certs_d: Path, server: Pair, tmp_path: Path,
) -> None:
    secure = registry_factory(tls=Tls(server.certificate, server.key))
    stranger = self_signed(tmp_path / "other", "stranger")
    trust(certs_d, secure.host, {"ca.crt": stranger.certificate})
    slept: list[float] = []
    with RegistryClient(secure.host, policy=RetryPolicy(retries=4), sleep=slept.append) \
            as client, pytest.raises(RegistryError, match="TLS failed") as failure:
        client.head_manifest("tls/any", "latest")
    assert slept == []  # retrying cannot mend a certificate
    assert not failure.value.transient


def test_a_ca_directory_in_requests_ca_bundle_does_not_break_the_bundle(
    registry_factory: RegistryFactory, certs_d: Path, server: Pair, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """requests takes a directory there too; the bundle then starts from certifi's."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    secure = registry_factory(tls=Tls(server.certificate, server.key))
    trust(certs_d, secure.host, {"ca.crt": server.certificate})
    with RegistryClient(secure.host) as client:
        assert client.head_manifest("tls/none", "latest") is None  # reached, verified: 404


def test_an_insecure_registry_with_a_certificate_nobody_trusts(
    project: Path, registry_factory: RegistryFactory, server: Pair,
) -> None:
    """As the engine's insecure-registries: HTTPS without checking the certificate."""
    secure = registry_factory(tls=Tls(server.certificate, server.key))  # no certs.d at all
    refused = run(project, f"{secure.host}/tls/insecure")
    assert refused.code == 1
    # spoken to in plain HTTP (loopback, no certs.d), it answers 400: named, with the ways out
    assert "it seems to speak HTTPS" in refused.stderr, refused.stderr
    assert f"/etc/docker/certs.d/{secure.host}/ca.crt" in refused.stderr
    assert f"publish.insecure: [{secure.host}]" in refused.stderr
    assert secure.tags("tls/insecure") == []
    outcome = run(project, f"{secure.host}/tls/insecure", insecure=[secure.host])
    assert outcome.code == 0, outcome.stderr
    assert secure.tags("tls/insecure") == ["1.0.0", "latest"]
    assert "InsecureRequestWarning" not in outcome.stderr


def test_an_insecure_registry_that_speaks_plain_http(registry: Registry) -> None:
    with RegistryClient(registry.host, insecure=True) as client:
        assert client.url == f"https://{registry.host}"
        assert client.head_manifest("tls/none", "latest") is None  # answered: 404
        assert client.url == f"http://{registry.host}"  # it answered TLS in plain HTTP


def test_publish_insecure_must_be_a_list_of_hosts(project: Path, registry: Registry) -> None:
    (project / "dockyard.yml").write_text(
        f"images: [{registry.host}/tls/bad]\npublish: {{insecure: {registry.host}}}\n")
    outcome = run_cli(project, "run", "--format", "json")
    assert outcome.code == 2
    assert "publish.insecure: must be a list" in outcome.stderr
    assert registry.tags("tls/bad") == []
