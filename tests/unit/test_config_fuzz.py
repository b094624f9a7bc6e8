"""A config fuzzer: every key of a full dockyard.yml, mutated into odd types and values.

Whatever the file says, `dockyard plan` ends in seconds with exit 0 or 2 (never 3, never a
traceback), and `--format json` prints exactly one JSON object. A file that is refused is
refused by `run` too, before the engine is reached (DOCKER_HOST points at a loopback port
nobody listens on: reaching it would be an exit 1), so nothing is built or pushed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard import secrets
from dockyard.cli import main
from dockyard.context import resolve_context
from dockyard.errors import ConfigError, InputError
from dockyard.plan import make_plan
from dockyard.settings import load_settings

FULL: dict[str, Any] = {
    "images": ["ghcr.io/acme/app", "127.0.0.1:5000/acme/app"],
    "tags": [
        "type=schedule,pattern=nightly-{{date 'YYYYMMDD' tz='Europe/Paris'}}",
        "type=semver,pattern={{version}}",
        "type=semver,pattern={{major}}.{{minor}},match=v(\\d+\\.\\d+\\.\\d+)",
        "type=pep440,pattern={{version}}",
        "type=match,pattern=v(\\d+),group=1",
        "type=edge,branch=main",
        "type=ref,event=branch",
        "type=ref,event=pr",
        "type=raw,value=build-{{sha '12'}},priority=150",
        "type=sha,format=long",
    ],
    "flavor": {"latest": "auto", "prefix": "", "suffix": "", "prefix_onlatest": False,
               "suffix_onlatest": False},
    "labels": {"org.example.team": "payments"},
    "build": {"context": ".", "dockerfile": "Dockerfile",
              "args": {"PYTHON": "3.12", "DEBUG": False, "WORKERS": 4},
              "target": "runtime", "pull": False, "no_cache": False},
    "registries": {"ghcr.io": {"username": "octocat", "password": "fuzz-registry-password"}},
    "webhooks": [{"url": "https://hooks.example.com/deploy", "secret": "fuzz-webhook-secret",
                  "required": False, "timeout": 5, "events": ["push.succeeded", "push.failed"],
                  "format": "dockyard", "headers": {"Authorization": "Bearer fuzz-token-1"},
                  "max_attempts": 2}],
    "push": True,
    "publish": {"retries": 2, "backoff_seconds": 1, "max_backoff_seconds": 5,
                "timeout_seconds": 10, "upload": "once", "insecure": ["127.0.0.1:5000"]},
}

# Strings that once crashed or hung something, or look like they could.
HOSTILE_STRINGS = [
    "", " ", "\0", "a\0b", "\x1b[31m", "\u202e", "²", "٣", "${", "${UNSET}", "$$", "{{",
    "{{sha '²'}}", "{{sha '99999999999999999999'}}", "{{date 'Y' tz='Mars/Base'}}",
    "type=match,pattern=v(.*),group=²", "type=match,pattern=a{99999999999}",
    "type=match,pattern=" + "(" * 1200 + "a" + ")" * 1200,
    "type=match,pattern=^v(a+)+$,value=v" + "a" * 32 + "!",
    "type=semver,pattern={{version}},match=(a|aa)+$,value=" + "a" * 40 + "!",
    "type=raw,value=" + "9" * 5000, "type=sha,priority=" + "9" * 5000,
    "type=raw,value=x,priority=1e3", "type=unknown", 'type=raw,"value=a', "http://[::1/h",
    "http://h:99999/x", "https://user:pw@hooks.example/x", "127.0.0.1:99999/a/b",
    "[::1]:5000/a", "UPPER/Case", "a" * 300, "x" * 70_000, "../../../etc", "/proc/self/environ",
    "latest=sometimes", "prefix=a,onlatest=maybe", ".nan", "true", "null", "~",
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.just(2**64), st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(HOSTILE_STRINGS),
)
ODD = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.one_of(st.integers(), st.booleans(), st.none(), st.floats()),
                    SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=2),
    st.integers(min_value=1, max_value=60).map(_nested),
)
# Text-level damage that a dict cannot carry: what the YAML reader and composer see.
BOMB = "\n".join(['z0: &z0 ["a","a","a","a","a","a","a","a","a","a"]']
                 + [f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 10)}]" for i in range(1, 8)])
TEXT_DAMAGE: list[Callable[[str], str]] = [
    lambda text: text + "push: false\n",  # a duplicate key
    lambda text: text.replace("images:", "images:\0", 1),
    lambda text: text + "loop: &loop [*loop]\n",
    lambda text: text + "deep: " + "[" * 3000 + "]" * 3000 + "\n",
    lambda text: text + BOMB + "\n",
    lambda text: text + "\t\x07\n",
    lambda text: text[: len(text) // 2],  # cut anywhere
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in the full config: mappings' keys and lists' indexes."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


PATHS = [path for path in _paths(FULL) if path]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when there: 10x faster


@st.composite
def configs(draw: st.DrawFn) -> str:
    mutations = draw(st.lists(st.tuples(st.sampled_from(PATHS), ODD), min_size=1, max_size=3))
    config = copy.deepcopy(FULL)
    for path, value in mutations:
        extra = draw(st.one_of(st.none(), st.none(), st.integers(), st.booleans()))
        with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier mutation
            _merge(config, path, value, extra)  # took this path away
    text = yaml.dump(config, Dumper=DUMPER, allow_unicode=draw(st.booleans()), sort_keys=False)
    damage = draw(st.one_of(st.none(), st.sampled_from(TEXT_DAMAGE)))
    return text if damage is None else damage(text)


def _merge(config: dict[str, Any], path: tuple[Any, ...], value: Any, extra: Any) -> None:
    """Set the value at `path`; with `extra`, also under that odd key beside it."""
    parent: Any = config
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    if isinstance(parent, dict) and extra is not None:
        parent[extra] = value


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support import gitrepo

    repo = gitrepo.make_repo(tmp_path_factory.mktemp("fuzz") / "repo", tags=("v1.2.3",))
    (repo / "Dockerfile").write_text("FROM scratch\n")
    return repo


ENV = {
    "DOCKER_HOST": "tcp://127.0.0.1:9",  # discard port: nothing listens there
    "GITHUB_ACTOR": "octocat",
}


HANG = 30  # seconds: a call still running then has hung (each takes well under 5)


class Hung(BaseException):
    """Raised into a hung call; a BaseException, so no `except Exception` can take it."""


def _dockyard(repo: Path, *args: str) -> tuple[int, str, str, float]:
    """One in-process call; a hang fails the example instead of stalling the suite."""
    def hung(signum: int, frame: object) -> None:
        raise Hung(f"dockyard {' '.join(args)} did not return in {HANG} s")

    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG)
    try:
        code = main(["-C", str(repo), *args], env=dict(ENV), stdout=stdout, stderr=stderr)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, stdout.getvalue(), stderr.getvalue(), time.monotonic() - started


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(text=configs())
def test_no_config_crashes_hangs_or_pushes(fuzz_repo: Path, text: str) -> None:
    with secrets._lock:  # each example's secrets are its own: a short one would mask
        secrets._known.clear()  # text of the next example's JSON
    (fuzz_repo / "dockyard.yml").write_text(text, encoding="utf-8")
    code, out, err, took = _dockyard(fuzz_repo, "plan", "--format", "json")
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert took < 5, f"plan took {took:.1f} s"
    printed = json.loads(out)  # exactly one object: trailing text would fail here
    assert isinstance(printed, dict)
    if code == 2:
        assert printed["status"] == "failed" and printed["exit_code"] == 2
        if "dockyard.yml" in printed["error"]:  # refused on reading: run stops there too
            code, out, err, took = _dockyard(fuzz_repo, "run", "--format", "json")
            assert code == 2, err
            assert took < 5
            assert json.loads(out)["status"] == "failed"


# Every key, list item and nested key gets each of these in the sweep below: hypothesis
# samples the space, the sweep makes sure no key is skipped by chance.
ODD_VALUES: list[Any] = [
    None, True, -1, 10**400, math.nan, math.inf, "", "²", "\0",
    "x" * 300,  # past a file name's 255 bytes
    [None], {1: "x"}, _nested(40),
]


PLANNED = ("images", "tags", "flavor", "labels")  # what make_plan reads of the settings


def test_every_key_with_every_odd_value(fuzz_repo: Path) -> None:
    """Load every one-key mutation of the full config; plan those that load. Nothing but
    a ConfigError (or an InputError from the tag rules) may come out."""
    context = resolve_context(dict(ENV), fuzz_repo)
    path = fuzz_repo / "dockyard.yml"
    for key_path in PATHS:
        for value in ODD_VALUES:
            with secrets._lock:
                secrets._known.clear()
            config = copy.deepcopy(FULL)
            _merge(config, key_path, value, None)
            path.write_text(yaml.dump(config, Dumper=DUMPER), encoding="utf-8")
            try:
                loaded = load_settings(path, dict(ENV))
            except ConfigError:
                continue
            if key_path[0] in PLANNED:  # each plan matches two patterns in a child (~30 ms)
                with contextlib.suppress(InputError):
                    make_plan(loaded, context)


def test_the_full_config_is_valid(fuzz_repo: Path) -> None:
    """The fuzzer starts from a config that plans: each refusal is the mutation's doing."""
    (fuzz_repo / "dockyard.yml").write_text(yaml.safe_dump(FULL), encoding="utf-8")
    code, out, err, _ = _dockyard(fuzz_repo, "plan", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["version"] == "1.2.3"
    assert len(PATHS) > 50  # every key, list item and nested key is a target
