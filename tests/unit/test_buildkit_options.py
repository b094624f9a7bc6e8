"""build.* BuildKit keys: read in build-push-action's forms, each problem naming its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard import secrets
from dockyard.ci.inputs import read_inputs
from dockyard.errors import ConfigError
from dockyard.settings import Overrides, load_settings


def settle(repo: Path, build: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (repo / "dockyard.yml").write_text("images: [127.0.0.1:5000/acme/app]\nbuild:\n" + build)
    environment = env or {}
    overrides = Overrides(inputs=read_inputs(environment, repo))
    return load_settings(repo / "dockyard.yml", environment, overrides)


@pytest.fixture
def repo(git_repo: Callable[..., Path]) -> Path:
    return git_repo({"Dockerfile": "FROM scratch\n", "npmrc": "//registry/:_authToken=x\n",
                     "keys/deploy": "a private key\n"})


def test_every_key_in_build_push_actions_forms(repo: Path) -> None:
    kit = settle(repo, """\
  backend: auto
  secrets: {npm_token: "${NPM_TOKEN}"}
  secret_files: {npmrc: npmrc}
  ssh: [default, "deploy=keys/deploy"]
  platforms: linux/amd64,linux/arm64
  cache_from: ["type=registry,ref=127.0.0.1:5000/acme/app:cache", "127.0.0.1:5000/acme/app:old"]
  cache_to: ["type=registry,ref=127.0.0.1:5000/acme/app:cache,mode=max"]
  provenance: mode=max
  sbom: true
  builder: remote-k8s
""", {"NPM_TOKEN": "npm_Secret_Value_99"}).build.buildkit
    assert kit.secrets["npm_token"].reveal() == "npm_Secret_Value_99"
    assert "npm_Secret_Value_99" in secrets.known()  # registered for redaction when read
    assert kit.secret_files == {"npmrc": repo / "npmrc"}
    assert kit.ssh == ("default", f"deploy={repo / 'keys/deploy'}")  # relative to the file
    assert kit.platforms == ("linux/amd64", "linux/arm64")
    assert kit.cache_from[1] == "127.0.0.1:5000/acme/app:old"  # a bare ref: registry cache
    assert kit.cache_to == ("type=registry,ref=127.0.0.1:5000/acme/app:cache,mode=max",)
    assert (kit.provenance, kit.sbom, kit.builder) == ("mode=max", "true", "remote-k8s")
    assert settle(repo, "  sbom: generator=local/syft:1\n").build.buildkit.sbom_generator == \
        "local/syft:1"


def test_every_problem_is_reported_at_once_naming_its_key(repo: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settle(repo, """\
  backend: bildx
  secrets: {"bad id": "${TOKEN}"}
  secret_files: {npmrc: missing.txt}
  ssh: ["deploy=keys/deploy,keys/missing"]
  platforms: [linux/amd64, windows, linux/amd64]
  cache_from: [type=inline, "type=local"]
  cache_to: [type=registry, "type=s4,ref=x"]
  provenance: mode=full
  sbom: "generator="
  builder: "two words"
""", {"TOKEN": "the-Token-Value-12"})
    problems = "\n".join(caught.value.problems)
    for expected in (
        "build.backend: unknown backend 'bildx' (did you mean 'buildx'?)",
        "build.secrets.bad id: a secret id takes letters",
        "build.secret_files.npmrc: 'missing.txt' is not a file",
        "build.ssh[0]: 'keys/missing' does not exist",
        "build.platforms[1]: 'windows' is not a platform",
        "build.platforms[2]: 'linux/amd64' is listed twice",
        "build.cache_from[0]: type=inline is for cache_to",
        "build.cache_from[1]: a local cache needs src=",
        "build.cache_to[0]: a registry cache needs ref=",
        "build.cache_to[1]: unknown cache type 's4'; one of registry",
        "build.provenance: mode must be min or max, not 'full'",
        "build.sbom: generator= names no image",
        "build.builder: 'two words' is not a buildx builder name",
    ):
        assert expected in problems
    assert caught.value.exit_code == 2
    assert "the-Token-Value-12" not in str(caught.value)


def test_ci_inputs_use_build_push_actions_names(repo: Path) -> None:
    settings = settle(repo, "  secrets: {from_file: abc123456}\n", {
        "DOCKYARD_SECRETS": "npm_token=ci-Secret-4242\n",
        "DOCKYARD_PLATFORMS": "linux/amd64,linux/arm64",
        "DOCKYARD_CACHE_FROM": "type=gha\n",
        "DOCKYARD_CACHE_TO": "type=gha,mode=max\n",
        "DOCKYARD_PROVENANCE": "false", "DOCKYARD_SBOM": "true",
        "DOCKYARD_BUILDER": "builder-1", "DOCKYARD_SSH": "default\n",
        "DOCKYARD_BACKEND": "buildx", "DOCKYARD_SECRET_FILES": "npmrc=npmrc\n",
    })
    kit = settings.build.buildkit
    assert {k: v.reveal() for k, v in kit.secrets.items()} == {
        "from_file": "abc123456", "npm_token": "ci-Secret-4242"}  # merged by id
    assert kit.platforms == ("linux/amd64", "linux/arm64")
    assert (kit.cache_from, kit.cache_to) == (("type=gha",), ("type=gha,mode=max",))
    assert (kit.provenance, kit.sbom, kit.builder, kit.backend) == (
        "false", "true", "builder-1", "buildx")
    assert kit.ssh == ("default",)
    assert kit.secret_files == {"npmrc": repo / "npmrc"}


def test_a_bad_input_names_its_variable(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"build.platforms\[0\] \(from DOCKYARD_PLATFORMS\)"):
        settle(repo, "  context: .\n", {"DOCKYARD_PLATFORMS": "amd64"})


CACHE_TOKEN = "ghaTok-cache-8817"
CACHE_KEY = "s3Secret+cache/5521"


def test_a_cache_s_credentials_are_masked_the_moment_they_are_read(repo: Path) -> None:
    """type=gha,token=... or type=s3,secret_access_key=...: credentials, even inside a cache
    entry; the rest of the entry is not."""
    kit = settle(repo, """\
  cache_from: ["type=gha,token=${CACHE_TOKEN},scope=app"]
  cache_to:
    - type=s3,region=eu-west-1,bucket=cache,secret_access_key=${CACHE_KEY},access_key_id=AKIAEXAMPLE
""", {"CACHE_TOKEN": CACHE_TOKEN, "CACHE_KEY": CACHE_KEY}).build.buildkit
    assert kit.cache_from == (f"type=gha,token={CACHE_TOKEN},scope=app",)
    assert secrets.redact(" ".join(kit.cache_from + kit.cache_to)) == (
        "type=gha,token=***,scope=app type=s3,region=eu-west-1,bucket=cache,"
        "secret_access_key=***,access_key_id=AKIAEXAMPLE")


def test_two_caches_with_different_credentials_of_one_kind_are_refused(repo: Path) -> None:
    """buildx reads them from one environment variable per build (ACTIONS_RUNTIME_TOKEN)."""
    with pytest.raises(ConfigError) as caught:
        settle(repo, """\
  cache_from: ["type=gha,token=${CACHE_TOKEN}"]
  cache_to: ["type=gha,token=other-token-3309,mode=max"]
""", {"CACHE_TOKEN": CACHE_TOKEN})
    text = str(caught.value)
    assert ("build.cache_to[0]: its token differs from build.cache_from[0]'s; one build "
            "takes one gha token") in text
    assert CACHE_TOKEN not in text and "other-token-3309" not in text
