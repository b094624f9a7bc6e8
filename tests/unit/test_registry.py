"""The pure parts of the registry client: challenges, backoff, where a registry lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.registry import (
    RegistryClient,
    RegistryError,
    RetryPolicy,
    base_url,
    parse_challenge,
)
from dockyard.secrets import Secret
from dockyard.settings import Credentials


def test_bearer_challenge_with_quoted_params_and_commas_in_scope() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull,push"')
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.docker.io/token",
                                "service": "registry.docker.io",
                                "scope": "repository:library/nginx:pull,push"}


def test_basic_challenge_and_unquoted_and_escaped_values() -> None:
    assert parse_challenge('Basic realm="dockyard-test"').params == {"realm": "dockyard-test"}
    assert parse_challenge("BASIC realm=plain").scheme == "basic"
    assert parse_challenge('Bearer realm="a\\"b", Service=x').params == {"realm": 'a"b',
                                                                          "service": "x"}


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=10.0)
    assert [policy.delay(n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5, 6)] == [
        1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [policy.delay(n, rand=lambda: 0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_seconds=0.1, max_backoff_seconds=5.0)
    assert policy.delay(1, "3", rand=lambda: 0.0) == 3.0
    assert policy.delay(1, "120", rand=lambda: 0.0) == 5.0
    assert policy.delay(1, "Wed, 21 Oct 2015 07:28:00 GMT", rand=lambda: 0.0) == 0.05


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("127.1.2.3:5000", "http://127.1.2.3:5000"),
    ("localhost:5000", "http://localhost:5000"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("ghcr.io", "https://ghcr.io"),
    ("docker.io", "https://registry-1.docker.io"),
    ("128.0.0.1", "https://128.0.0.1"),
])
def test_loopback_speaks_http_everything_else_https(host: str, url: str) -> None:
    assert base_url(host) == url


def test_loopback_with_tls_settings_in_certs_d_speaks_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    settings = tmp_path / "docker" / "certs.d" / "127.0.0.1:5443"
    settings.mkdir(parents=True)
    assert base_url("127.0.0.1:5443") == "http://127.0.0.1:5443"  # a directory alone: no
    (settings / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    assert base_url("127.0.0.1:5443") == "https://127.0.0.1:5443"
    assert base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_credentials_never_go_to_a_plain_http_token_service_off_loopback() -> None:
    client = RegistryClient("127.0.0.1:9", Credentials("u", Secret("plain-http-pass-1")))
    try:
        with pytest.raises(RegistryError, match="will not send credentials"):
            client._login(("repository:a:pull",),
                          'Bearer realm="http://auth.example.com/token",service="x"')
    finally:
        client.close()
