"""Hostile dockyard.yml files (issue 13): each a clear exit 2 naming the file and key, fast.

Each case was once an exit 3 (a traceback), a hang or a silent acceptance. The fuzzer in
test_config_fuzz.py looks for more of the same kind.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli import main

# A tag rule for each: the config is valid but for the line under test.
VALID = "images: [ghcr.io/acme/app]\ntags: [type=sha]\n"
SLOW = 5.0  # seconds: every case here is refused in well under one


def plan(repo: Path, text: str | bytes, *args: str) -> tuple[int, str, str]:
    path = repo / "dockyard.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = main(["-C", str(repo), *(args or ("plan",))], env={}, stdout=stdout,
                stderr=stderr)
    assert time.monotonic() - started < SLOW
    return code, stdout.getvalue(), stderr.getvalue()


def refused(repo: Path, text: str | bytes, *fragments: str, command: str = "plan") -> str:
    """Exit 2 with every fragment in the message, which names the file; no traceback."""
    code, _, err = plan(repo, text, command)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert "dockyard.yml" in err or "tag rules" in err
    for fragment in fragments:
        assert fragment in err
    return err


@pytest.fixture
def repo(git_repo: Callable[..., Path]) -> Path:
    return git_repo(tags=("v1.2.3",))


@pytest.mark.parametrize(("text", "fragments"), [
    pytest.param(VALID + "registries: {1: {username: u, password: pw-long}}\n",
                 ("registries.1: the key 1 is a whole number, but keys are strings",),
                 id="non-string key under registries"),
    pytest.param(VALID + "webhooks: [{url: 'https://hooks.example/x', headers: {1: x}}]\n",
                 ("webhooks[0].headers.1: the key 1",), id="non-string key under headers"),
    pytest.param(VALID + "labels: {1: x}\n", ("labels.1: the key 1",),
                 id="non-string key under labels"),
    pytest.param(VALID + "labels: {~: x, true: y}\n",
                 ("labels.None: the key None is empty", "labels.True: the key True"),
                 id="null and boolean keys"),
    pytest.param(VALID + "publish: {backoff_seconds: .nan, max_backoff_seconds: .inf}\n",
                 ("publish.backoff_seconds: must be a number, not nan",
                  "publish.max_backoff_seconds: must be a number, not inf"), id="nan and inf"),
    pytest.param(VALID + "publish: {backoff_seconds: 1" + "0" * 400 + "}\n",
                 ("publish.backoff_seconds: must be a number, not a number too large",),
                 id="an integer past a float"),
    pytest.param(VALID + "webhooks: [{url: 'http://[::1/h'}]\n",
                 ("webhooks[0].url: is not a valid URL",), id="broken IPv6 webhook URL"),
    pytest.param("images: [ghcr.io/acme/app]\ntags: [\"type=raw,value={{sha '²'}}\"]\n",
                 ("length must be a quoted whole number",), id="unicode digit sha length"),
    pytest.param("images: [ghcr.io/acme/app]\ntags: ['type=match,pattern=v(.*),group=²']\n",
                 ("group '²' must be a whole number",), id="unicode digit group"),
    pytest.param("images: [ghcr.io/acme/app]\ntags: ['type=match,pattern=a{99999999999}']\n",
                 ("is not a valid regular expression: the repetition number is too large",),
                 id="huge repetition"),
    pytest.param("images: [ghcr.io/acme/app]\ntags: ['type=match,pattern="
                 + "(" * 1200 + "a" + ")" * 1200 + "']\n",
                 ("is not a valid regular expression: it is longer than 1000 characters",),
                 id="1200 nested parentheses"),
    pytest.param("images: [127.0.0.1:99999/a/b]\n",
                 ("line 1: images[0]: '127.0.0.1:99999': port 99999 is not a port",),
                 id="image port out of range"),
    pytest.param("images: [127.0.0.1:0/a/b]\n", ("port 0 is not a port",), id="port 0"),
    pytest.param(VALID + "push: true\npush: false\n",
                 ("line 4: push: is given twice (also on line 3); keep one",), id="duplicate key"),
    pytest.param(VALID + "labels: {a: b, a: c}\n", ("labels.a: is given twice",),
                 id="duplicate key in a flow mapping"),
    pytest.param(VALID + "labels: \"\\0\"\n", ("labels: must be a mapping",),
                 id="NUL escape"),
    pytest.param(VALID + "labels: {\"a\\0b\": x}\nbuild: {args: {\"\\0\": y}}\n",
                 ("labels.a\\0b: the key must not contain a NUL character",
                  "build.args.\\0: the key must not contain a NUL character"),
                 id="NUL in a key"),
    pytest.param(VALID + "build: {context: \"a\\0b\"}\n",
                 ("build.context: must not contain a NUL character",), id="NUL in a path"),
    pytest.param(VALID + f"build: {{context: {'x' * 300}}}\n", ("is not a directory",),
                 id="a context name too long for the system"),
    pytest.param(VALID + f"build: {{dockerfile: {'x' * 300}}}\n", ("no Dockerfile at",),
                 id="a Dockerfile name too long for the system"),
    pytest.param(VALID + "labels:\n  a: \"x\0y\"\n",
                 ("line 4: the control character U+0000 is not allowed in YAML",),
                 id="NUL byte in the file"),
    pytest.param(VALID + "x: " + "[" * 3000 + "]" * 3000 + "\n",
                 ("nested deeper than 32 levels",), id="3000-deep nesting"),
    pytest.param(VALID + "a: &a [*a]\n", ("an alias refers to a value that contains it",),
                 id="recursive alias"),
])
def test_hostile_config_is_refused_with_exit_2(repo: Path, text: str,
                                               fragments: tuple[str, ...]) -> None:
    # plan builds nothing, so a missing Dockerfile is only a note there: run refuses it
    refused(repo, text, *fragments,
            command="run" if "no Dockerfile at" in fragments else "plan")


def test_null_values_mean_the_default(repo: Path) -> None:
    (repo / "Dockerfile").write_text("FROM scratch\n")
    text = VALID + "build: {context: null, dockerfile: null, pull: ~}\npublish: {retries: null}\n"
    code, out, err = plan(repo, text, "plan", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["tags"]


def test_an_alias_bomb_is_refused_at_once(repo: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for name, alias in zip("bcdefgh", "abcdefg", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{alias}'] * 10)}]")
    err = refused(repo, VALID + "\n".join(lines) + "\n", "more than 100000 values once aliases")
    assert "line " in err


def test_aliases_that_nest_past_the_depth_are_refused(repo: Path) -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [[[*a{i - 1}]]]" for i in range(1, 20)]
    refused(repo, VALID + "\n".join(lines) + "\n", "nested deeper than 32 levels (aliases")


def test_merge_keys_are_not_duplicates(repo: Path) -> None:
    text = (VALID + "webhooks:\n  - &hook {url: 'https://hooks.example/a', required: false}\n"
            "  - {<<: *hook, url: 'https://hooks.example/b'}\n")
    code, _, err = plan(repo, text)
    assert code == 0, err


def test_a_huge_file_is_refused_unread(repo: Path) -> None:
    refused(repo, VALID + "#" * (300 * 1024) + "\n", "larger than 256 KiB")


def test_a_backtracking_pattern_is_stopped(repo: Path) -> None:
    text = ("images: [ghcr.io/acme/app]\n"
            f"tags: ['type=match,pattern=^v(a+)+$,value=v{'a' * 32}!']\n")
    started = time.monotonic()
    refused(repo, text, "took more than 2 s against", "(a+)+")
    assert time.monotonic() - started < 4


def test_a_backtracking_match_is_stopped(repo: Path) -> None:
    text = ("images: [ghcr.io/acme/app]\n"
            f"tags: ['type=semver,pattern={{{{version}}}},match=^(a|aa)+$,value={'a' * 40}!']\n")
    refused(repo, text, "took more than 2 s")


def test_every_problem_of_a_webhook_and_the_missing_dockerfile_together(repo: Path) -> None:
    text = (VALID + "build: {dockerfile: Nope}\n"
            "webhooks:\n  - {url: 'https://hooks.example/x', max_attempts: many, format: xml,"
            " events: [sucess], headers: {Host: x}}\n")
    err = refused(repo, text, "webhooks[0].max_attempts: must be a whole number",
                  "webhooks[0].format: unknown format 'xml'",
                  "webhooks[0].events[0]: unknown event 'sucess'",
                  "webhooks[0].headers.Host: is set by Dockyard itself",
                  "build.dockerfile: no Dockerfile at", command="run")
    assert "5 problems" in err


def test_a_refused_value_is_not_reported_twice(repo: Path) -> None:
    """A refused context is not followed by 'no Dockerfile' in the default one."""
    err = refused(repo, VALID + "build: {context: 5}\nimages: []\n", "build.context: must be")
    assert "no Dockerfile" not in err
    assert err.count("images") == 2  # the duplicate key, and the empty list


def test_json_and_the_record_on_a_config_error(repo: Path) -> None:
    code, out, err = plan(repo, VALID + "push: maybe\n", "run", "--format", "json",
                          "--output", "out/record.json")
    assert code == 2, err
    printed = json.loads(out)
    assert printed == json.loads((repo / "out" / "record.json").read_text())
    assert printed["status"] == "failed" and printed["exit_code"] == 2
    assert printed["problems"] == ["line 3: push: must be true or false, not a string"]
    assert "dockyard.yml" in printed["error"]


def test_json_on_bad_tag_rules_at_plan_time(repo: Path) -> None:
    text = "images: [a]\ntags:\n  - type=semver,pattern={{major}}\n  - type=raw,value=1\n"
    code, out, _ = plan(repo, text, "plan", "--format", "json")
    assert code == 2
    assert json.loads(out)["problems"][0].startswith("[1] ")


def test_text_format_prints_nothing_on_stdout_for_a_config_error(repo: Path) -> None:
    code, out, _ = plan(repo, VALID + "push: maybe\n", "plan")
    assert (code, out) == (2, "")
