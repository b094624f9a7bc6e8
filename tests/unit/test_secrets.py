"""Redaction: every registered secret, in every form it takes in text that leaves."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from dockyard import secrets
from dockyard.cli import main
from dockyard.secrets import MASK, Secret

PASSWORD = "reg+S3CR3T/pw=="  # the characters that encodings change: + / =
QUOTED = 'q"uo\\te<&>-7731'  # and the ones JSON escapes


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("leak", [
    PASSWORD,
    quote(PASSWORD, safe=""),  # reg%2BS3CR3T%2Fpw%3D%3D, as in a request URL's query
    quote(PASSWORD),
    quote_plus(PASSWORD),
    quote(PASSWORD, safe="").replace("%2B", "%2b").replace("%2F", "%2f"),
    quote_plus(json.dumps({"PW": PASSWORD})),  # docker-py's buildargs=... in the URL
    json.dumps({"password": PASSWORD}),
    _b64(PASSWORD),
    _b64url(PASSWORD),
    _b64(f"dockyard-ci:{PASSWORD}"),  # a Basic auth header, a docker config's "auth"
    _b64(f"ab:{PASSWORD}"),
    _b64(f"abc:{PASSWORD}"),
    _b64url(json.dumps({"username": "bob", "password": PASSWORD})),  # X-Registry-Auth
    _b64(f"x{PASSWORD}yz"),  # in the middle of something longer, at each offset
    _b64(f"xy{PASSWORD}yz"),
    _b64(f"xyz{PASSWORD}yz"),
])
def test_a_secret_is_masked_in_every_form(leak: str) -> None:
    secrets.register(PASSWORD)
    masked = secrets.redact(f"before {leak} after")
    assert MASK in masked
    for form in (PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD), "S3CR3T"):
        assert form not in masked


@pytest.mark.parametrize("leak", [
    json.dumps(QUOTED)[1:-1],
    json.dumps(QUOTED, ensure_ascii=False)[1:-1],
    json.dumps(QUOTED)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e")
    .replace("&", "\\u0026"),  # Go's encoder: the engine's and registries' JSON
])
def test_a_secret_is_masked_json_escaped(leak: str) -> None:
    Secret(QUOTED)
    assert secrets.redact(f"[{leak}]") == f"[{MASK}]"


def test_a_secret_is_masked_json_escaped_inside_base64() -> None:
    Secret(QUOTED)
    encoded = _b64(json.dumps({"password": QUOTED}))
    assert MASK in secrets.redact(encoded)


@pytest.mark.parametrize("value", ["", " ", "ab", "  x  "])
def test_empty_or_trivially_short_values_are_never_registered(value: str) -> None:
    before = secrets.known()
    Secret(value)
    secrets.register(value)
    assert secrets.known() == before
    assert not secrets.maskable(value)


def test_ordinary_text_is_left_alone() -> None:
    Secret("tok-ordinary-5521")
    text = "sha256:0f3c2b1a digest, Bearer, Basic, cGFzc3dvcmQ= and https://example.com/x"
    assert secrets.redact(text) == text


def test_a_url_with_a_token_in_its_path_is_masked_however_it_is_quoted() -> None:
    url = "https://hooks.slack.example/services/T0/B0/slk-path-token-81"
    secrets.register_url(url)
    for quoted in (url, "hooks.slack.example/services/T0/B0/slk-path-token-81",
                   quote(url, safe="")):
        assert secrets.redact(f"bad url '{quoted}'") == f"bad url '{MASK}'"


def test_a_url_s_userinfo_is_masked_but_its_host_is_not() -> None:
    secrets.register_url("https://bot:userinfo-pw-4471@hooks.example.org")
    assert secrets.redact("hooks.example.org said userinfo-pw-4471") == \
        f"hooks.example.org said {MASK}"


def test_a_malformed_url_is_masked_whole() -> None:
    secrets.register_url("http://[::1/malformed-hook-9192")
    assert secrets.redact("url 'http://[::1/malformed-hook-9192'") == f"url '{MASK}'"


def test_data_is_redacted_in_its_strings_keys_included() -> None:
    secrets.register("s3cr3t-value")
    data = {"a": "x s3cr3t-value y", "s3cr3t-value": [1, True, None, ("s3cr3t-value",)]}
    assert secrets.redact_data(data) == {"a": f"x {MASK} y", MASK: [1, True, None, [MASK]]}


def test_json_output_stays_json_whatever_secret_is_registered(
    git_repo: Callable[..., Path],
) -> None:
    """A short password (`tru`) masked in the serialised text would break `true`: every
    JSON the CLI prints or writes is redacted as data, then serialised."""
    repo = git_repo(tags=("v1.2.3",))
    (repo / "dockyard.yml").write_text(
        "images: [registry.example.com/acme/app]\n"
        "registries: {registry.example.com: {username: bot, password: tru}}\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), "plan", "--format", "json"], env={}, stdout=stdout,
                stderr=stderr)
    assert code == 0, stderr.getvalue()
    plan = json.loads(stdout.getvalue())
    assert any(entry.get("floating") is True for entry in plan["explain"])
    assert "tru" not in stdout.getvalue().replace("true", "")
