"""Build args and labels checked for secrets before the build (issue 14)."""

from __future__ import annotations

import base64

import pytest

from dockyard import buildinputs, secrets

SECRET = "npm_Tok+en/0123456789"


@pytest.mark.parametrize("name", [
    "NPM_TOKEN", "GITHUB_TOKEN", "npmToken", "DB_PASSWORD", "dbPass", "AWS_SECRET_ACCESS_KEY",
    "API_KEY", "APIKEY", "apiKey", "SSH_PRIVATE_KEY", "REGISTRY_AUTH", "GIT_CREDENTIALS",
    "PYPI_PWD", "SECRET", "GH_PAT",
])
def test_names_that_say_they_hold_a_secret(name: str) -> None:
    assert buildinputs.looks_secret(name)


@pytest.mark.parametrize("name", [
    "KEYRING_VERSION", "AUTHOR", "TOKENIZER_MODEL", "PUBLIC_KEY", "GPG_KEY_ID", "TOKEN_URL",
    "PASSWORD_FILE", "AUTH_USER", "KEY_PATH", "PYTHON_VERSION", "PASSPORT_REGION", "MONKEY",
    "SECRETARY", "", "123",
])
def test_names_that_do_not(name: str) -> None:
    assert not buildinputs.looks_secret(name)


def test_a_registered_secret_in_an_arg_whole_inside_or_encoded_is_refused() -> None:
    secrets.register(SECRET)
    secrets.register("abc")  # short: refused when it is the whole value only
    args = {"WHOLE": SECRET, "INSIDE": f"//registry/:_authToken={SECRET}",
            "ENCODED": base64.b64encode(f"ci:{SECRET}".encode()).decode(),
            "SHORT": "abc", "SHORT_INSIDE": "abcdef", "PLAIN": "3.12"}
    problems = buildinputs.secret_problems(args, {}, {})
    assert [p.split(":")[0] for p in problems] == [
        "build.args.WHOLE", "build.args.INSIDE", "build.args.ENCODED", "build.args.SHORT"]
    assert all("build.secrets" in p and SECRET not in p for p in problems)


def test_labels_name_the_key_they_come_from() -> None:
    secrets.register(SECRET)
    problems = buildinputs.secret_problems(
        {}, {"org.example.token": SECRET, "org.opencontainers.image.source": f"x{SECRET}",
             "ok": "fine"}, {"org.example.token": SECRET})
    assert [p.split(":")[0] for p in problems] == [
        "labels.org.example.token", "the generated label org.opencontainers.image.source"]


def test_nothing_is_refused_when_no_secret_is_registered() -> None:
    assert buildinputs.secret_problems({"NPM_TOKEN": SECRET}, {"a": SECRET}, {}) == []
    assert len(buildinputs.name_warnings({"NPM_TOKEN": "", "MODE": "x"})) == 1


def test_each_problem_and_warning_carries_its_key_and_not_the_value() -> None:
    secrets.register(SECRET)
    baked = buildinputs.baked_secrets({"NPMRC": f"x{SECRET}", "MODE": "fast"},
                                      {"org.example.token": SECRET}, {})
    assert [problem.key for problem in baked] == [
        "build.args.NPMRC", "the generated label org.example.token"]
    assert [str(problem) for problem in baked] == buildinputs.secret_problems(
        {"NPMRC": f"x{SECRET}", "MODE": "fast"}, {"org.example.token": SECRET}, {})
    assert all(SECRET not in str(problem) for problem in baked)
    assert [w.key for w in buildinputs.secret_names({"NPM_TOKEN": SECRET, "MODE": ""})] == [
        "build.args.NPM_TOKEN"]
