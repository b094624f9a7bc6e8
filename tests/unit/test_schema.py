"""The schema is the one source of truth: editors, the docs and the validator agree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from dockyard import configdoc
from dockyard.errors import ConfigError
from dockyard.schema import CONFIG_SCHEMA
from dockyard.settings import load_settings

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_the_configuration_reference_is_generated_from_the_schema() -> None:
    assert DOCS.read_text() == configdoc.render(), (
        "docs/configuration.md is stale: run `python -m dockyard.configdoc > "
        "docs/configuration.md`")


def test_the_schema_is_valid_draft_07() -> None:
    jsonschema.Draft7Validator.check_schema(CONFIG_SCHEMA)


GOOD = [
    "images: [ghcr.io/acme/app]",
    """
    images: [ghcr.io/acme/app, 127.0.0.1:5000/acme/app]
    tags: [type=sha]
    flavor: {latest: "false", prefix: v}
    labels: {a: b}
    build: {context: ., dockerfile: Dockerfile, args: {A: 1, B: x, C: true}, pull: true}
    registries: {ghcr.io: {username: u, password: p}}
    webhooks:
      - url: https://hooks.example.com/x
        secret: s
        required: true
        timeout: 5
        events: [push.succeeded]
        format: slack
        headers: {Authorization: Bearer t}
        max_attempts: 2
    push: false
    publish: {retries: 2, backoff_seconds: 0.5}
    """,
]

# Each is wrong in a way the schema itself can express.
BAD = [
    "tags: [type=sha]",  # images missing
    "images: ghcr.io/acme/app",
    "images: []",
    "images: [acme/app]\ntagz: [type=sha]",
    "images: [acme/app]\npush: maybe",
    "images: [acme/app]\nbuild: {dockerfile: 12}",
    "images: [acme/app]\nbuild: {contexts: .}",
    "images: [acme/app]\nregistries: {ghcr.io: {username: u}}",
    "images: [acme/app]\nregistries: {ghcr.io: {username: u, password: p, token: t}}",
    "images: [acme/app]\nwebhooks: [{secret: s}]",
    "images: [acme/app]\nwebhooks: [{url: ftp://example.com}]",
    "images: [acme/app]\nwebhooks: [{url: 'https://x.example', format: xml}]",
    "images: [acme/app]\nwebhooks: [{url: 'https://x.example', events: [push.done]}]",
    "images: [acme/app]\nwebhooks: [{url: 'https://x.example', max_attempts: 0}]",
    "images: [acme/app]\nlabels: {a: [1]}",
]


@pytest.mark.parametrize("text", GOOD)
def test_both_accept(tmp_path: Path, text: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "dockyard.yml").write_text(textwrap.dedent(text))
    jsonschema.validate(yaml.safe_load(textwrap.dedent(text)), CONFIG_SCHEMA)
    load_settings(tmp_path / "dockyard.yml", {})


@pytest.mark.parametrize("text", BAD)
def test_both_reject(tmp_path: Path, text: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "dockyard.yml").write_text(text)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), CONFIG_SCHEMA)
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "dockyard.yml", {})
