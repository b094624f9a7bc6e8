"""The CLI contract: commands, --format json on stdout only, exit codes, redaction.

`plan` needs no engine and no network, so these run against real git repos only.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard import __version__, plan
from dockyard.cli import main
from dockyard.secrets import Secret


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(repo), *args], env=env or {}, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_plan_json_is_one_object_on_stdout(git_repo: Callable[..., Path]) -> None:
    repo = git_repo(tags=("v1.2.3",))
    (repo / "dockyard.yml").write_text(
        "images: [ghcr.io/acme/app, 127.0.0.1:5000/acme/app]\n"
        "tags:\n  - type=semver,pattern={{version}}\n  - type=semver,pattern={{major}}\n"
        "  - type=ref,event=branch\n  - type=sha\n")
    code, out, err = dockyard(repo, "plan", "--format", "json")
    assert code == 0, err
    plan: dict[str, Any] = json.loads(out)
    sha = head(repo)
    assert plan["version"] == "1.2.3"
    assert plan["tags"] == [
        "ghcr.io/acme/app:1.2.3", "ghcr.io/acme/app:1", f"ghcr.io/acme/app:sha-{sha[:7]}",
        "ghcr.io/acme/app:latest",
        "127.0.0.1:5000/acme/app:1.2.3", "127.0.0.1:5000/acme/app:1",
        f"127.0.0.1:5000/acme/app:sha-{sha[:7]}", "127.0.0.1:5000/acme/app:latest",
    ]
    assert plan["labels"]["org.opencontainers.image.revision"] == sha
    assert plan["labels"]["org.opencontainers.image.version"] == "1.2.3"
    assert plan["context"]["sha"] == sha and plan["context"]["tag"] == "v1.2.3"
    explained = {e["tag"]: e for e in plan["explain"] if e["tag"]}
    assert explained["1.2.3"]["rule"] == "type=semver,pattern={{version}}"
    assert explained["1.2.3"]["floating"] is False
    assert explained["1"]["floating"] is True
    assert explained["latest"]["floating"] is True
    reasons = {e["rule"]: e["reason"] for e in plan["explain"] if e["tag"] is None}
    assert "type=ref,event=branch" in reasons


def test_plan_text_explains_each_tag(git_repo: Callable[..., Path]) -> None:
    repo = git_repo(tags=("v2.0.0",))
    (repo / "dockyard.yml").write_text(
        "images: [acme/app]\ntags:\n  - type=semver,pattern={{version}}\n")
    code, out, _ = dockyard(repo, "plan")
    assert code == 0
    assert "version: 2.0.0" in out
    assert "acme/app:2.0.0" in out and "acme/app:latest" in out


def test_zero_config_plan_uses_the_directory_name(git_repo: Callable[..., Path]) -> None:
    repo = git_repo(branch="feature/x")
    code, out, err = dockyard(repo, "plan", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    name = repo.name.lower()
    assert plan["tags"] == [f"{name}:feature-x", f"{name}:sha-{head(repo)[:7]}"]
    assert "no dockyard.yml here" in err and "images:" in err


def test_zero_config_without_a_dockerfile_exits_2_for_run(tmp_path: Path) -> None:
    code, out, err = dockyard(tmp_path, "run")
    assert code == 2
    assert out == ""
    assert "no Dockerfile" in err

    code, out, err = dockyard(tmp_path, "plan")  # plan builds nothing: a note
    assert code == 0
    assert "note: build: no Dockerfile at" in err


def test_bad_config_exits_2_for_plan_too(git_repo: Callable[..., Path]) -> None:
    repo = git_repo()
    (repo / "dockyard.yml").write_text("images: [acme/app]\nflavour: [latest=true]\n")
    code, out, err = dockyard(repo, "plan", "--format", "json")
    assert code == 2
    assert "flavour: unknown key (did you mean 'flavor'?)" in err
    failure = json.loads(out)  # still one object on stdout, saying why
    assert failure["status"] == "failed" and failure["exit_code"] == 2
    assert failure["problems"] == ["line 2: flavour: unknown key (did you mean 'flavor'?)"]


def test_missing_config_file_named_by_flag(git_repo: Callable[..., Path]) -> None:
    code, _, err = dockyard(git_repo(), "plan", "--config", "nope.yml")
    assert code == 2
    assert "nope.yml" in err and "does not exist" in err


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["--version"], 0, f"dockyard {__version__}"),
        (["--help"], 0, "usage: dockyard"),
        (["run", "--help"], 0, "--no-push"),
        (["plan", "--help"], 0, "--format"),
        ([], 2, "required"),
        (["launch"], 2, "invalid choice"),
        (["plan", "--format", "xml"], 2, "invalid choice"),
    ],
)
def test_usage(argv: list[str], code: int, fragment: str) -> None:
    completed = subprocess.run([sys.executable, "-m", "dockyard", *argv], capture_output=True,
                               text=True, check=False)
    assert completed.returncode == code
    assert fragment in completed.stdout + completed.stderr


@pytest.mark.parametrize("argv", [
    ["run", "--format", "json", "--no-such-flag"],
    ["plan", "--format=json", "extra"],
    ["prune", "--format", "json", "--open-prs"],
])
def test_a_command_line_that_does_not_parse_still_answers_json(argv: list[str]) -> None:
    completed = subprocess.run([sys.executable, "-m", "dockyard", *argv], capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 2
    failure = json.loads(completed.stdout)  # one object on stdout, as for any input error
    assert failure["status"] == "failed" and failure["exit_code"] == 2
    assert "--help" in failure["error"] and failure["problems"] == [failure["error"]]
    assert "usage: dockyard" in completed.stderr and "error:" in completed.stderr


def test_a_command_line_that_does_not_parse_prints_no_json_in_text_mode() -> None:
    completed = subprocess.run([sys.executable, "-m", "dockyard", "run", "--no-such-flag"],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "unrecognized arguments: --no-such-flag" in completed.stderr


def test_a_bug_exits_3_with_how_to_report_and_no_secret(
    git_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = git_repo()
    (repo / "dockyard.yml").write_text("images: [acme/app]\n")
    leaked = Secret("bug-secret-4471")

    def broken(*_: object) -> None:  # fault injection: the boundary must catch anything
        raise RuntimeError(f"unexpected state while holding {leaked.reveal()}")

    monkeypatch.setattr(plan, "make_plan", broken)
    code, out, err = dockyard(repo, "plan")
    assert code == 3
    assert "internal error: this is a bug in Dockyard" in err
    assert "RuntimeError" in err
    assert "bug-secret-4471" not in err + out


# What `plan` must not load: the engine and HTTP stacks, and what only other commands, CI
# platforms or rare rules use. (GitPython, which reads the checkout, brings logging, uuid
# and traceback with it.) A fresh interpreter runs the CLI, so the modules it loads are
# the ones `plan` needs (start-up's own are left out).
_NEVER_FOR_PLAN = {
    "docker", "requests", "urllib3", "rich", "concurrent", "zoneinfo", "difflib",
    "dockyard.engine", "dockyard.publish", "dockyard.registry", "dockyard.webhooks",
    "dockyard.pipeline", "dockyard.progress",
}
_LOADED_BY_PLAN = """\
import io, json, sys
before = set(sys.modules)
from dockyard.cli import main
code = main(["-C", sys.argv[1], "plan", "--format", "json"], stdout=io.StringIO())
print(json.dumps({"code": code, "loaded": sorted(set(sys.modules) - before)}))
"""


def _loaded_by_plan(repo: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _LOADED_BY_PLAN, str(repo)],
                          capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(done.stdout)
    assert result["code"] == 0, done.stderr
    return {name for name in result["loaded"] if not name.startswith("_")}


def test_plan_of_a_release_loads_no_engine_or_http(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo(tags=("v1.2.3",))
    (repo / "dockyard.yml").write_text(
        "images: [ghcr.io/acme/app]\ntags:\n  - type=semver,pattern={{version}}\n")

    loaded = _loaded_by_plan(repo)

    assert {"dockyard.plan", "yaml", "semver", "git"} <= loaded  # the check sees what it should
    assert loaded.isdisjoint(_NEVER_FOR_PLAN), loaded & _NEVER_FOR_PLAN


def test_plan_of_a_branch_without_config_loads_no_yaml_or_semver(
    git_repo: Callable[..., Path],
) -> None:
    loaded = _loaded_by_plan(git_repo(branch="feature/x"))

    assert "dockyard.plan" in loaded
    assert loaded.isdisjoint({*_NEVER_FOR_PLAN, "yaml", "semver"}), (
        loaded & {*_NEVER_FOR_PLAN, "yaml", "semver"})


def test_config_flag_naming_a_directory_says_which_file_was_meant(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    (repo / "deploy").mkdir()
    (repo / "deploy" / "dockyard.yml").write_text("images: [ghcr.io/acme/app]\n")
    (repo / "empty").mkdir()

    code, _, err = dockyard(repo, "plan", "--config", "deploy")
    assert code == 2
    assert "error: deploy: 1 problem" in err
    assert "is a directory, not a config file: did you mean deploy/dockyard.yml?" in err
    assert "does not exist" not in err

    code, _, err = dockyard(repo, "plan", env={"DOCKYARD_CONFIG": "empty"})
    assert code == 2
    assert "error: empty: 1 problem" in err
    assert "is a directory, not a config file, and holds no dockyard.yml" in err


_NEEDS_SECRETS = """\
images: [ghcr.io/acme/app]
tags: ["type=semver,pattern={{version}}"]
registries:
  ghcr.io: {username: ci, password: "${REGISTRY_TOKEN}"}
webhooks:
  - url: https://hooks.example.com/deploy
    secret: ${WEBHOOK_SECRET}
"""
_NEEDS_BUILD_SECRET = _NEEDS_SECRETS + 'build:\n  secrets: {npm: "${NPM_TOKEN}"}\n'


def test_plan_needs_no_secrets_and_no_dockerfile_and_says_what_push_would_need(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo({"dockyard.yml": _NEEDS_BUILD_SECRET}, tags=("v1.2.3",))
    (repo / "Dockerfile").unlink(missing_ok=True)

    code, out, err = dockyard(repo, "plan", "--format", "json")

    assert code == 0, err
    assert json.loads(out)["tags"] == ["ghcr.io/acme/app:1.2.3", "ghcr.io/acme/app:latest"]
    assert ("note: registries.ghcr.io.password uses ${REGISTRY_TOKEN}, which is not set: "
            "`run` needs it to push or notify; `plan` goes on without it") in err
    assert "note: webhooks[0].secret uses ${WEBHOOK_SECRET}, which is not set" in err
    assert ("note: build.secrets.npm uses ${NPM_TOKEN}, which is not set: `run` needs it to "
            "build; `plan` goes on without it") in err
    # the secret's id is still there: the plan says the build needs BuildKit for it
    assert json.loads(out)["backend"]["reasons"] == ["build.secrets"]
    assert "note: build: no Dockerfile at" in err and "`plan` needs none, `run` will" in err
    assert "the password is empty" not in err  # unset for plan, which pushes nothing


def test_run_still_needs_the_secrets_and_the_dockerfile(git_repo: Callable[..., Path]) -> None:
    repo = git_repo({"dockyard.yml": _NEEDS_SECRETS}, tags=("v1.2.3",))
    (repo / "Dockerfile").unlink(missing_ok=True)

    code, _, err = dockyard(repo, "run", "--format", "json")

    assert code == 2
    assert "registries.ghcr.io.password: uses ${REGISTRY_TOKEN}, which is not set" in err
    assert "webhooks[0].secret: uses ${WEBHOOK_SECRET}, which is not set" in err
    assert "build: no Dockerfile at" in err

    (repo / "dockyard.yml").write_text(_NEEDS_BUILD_SECRET)
    code, _, err = dockyard(repo, "run", "--format", "json")
    assert code == 2
    assert "build.secrets.npm: uses ${NPM_TOKEN}, which is not set" in err


def test_outside_git_plan_and_run_say_there_is_no_commit_to_name(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "dockyard.yml").write_text(
        "images: [ghcr.io/acme/app]\ntags: [type=sha, 'type=ref,event=branch']\n")

    code, out, err = dockyard(tmp_path, "plan", "--format", "json")

    assert code == 0
    assert json.loads(out)["tags"] == []
    assert "warning: no tag rule produced a tag for this context" in err
    assert "there is no commit to name" in err
    assert "such as `type=raw,value=dev`" in err
    assert "such as `type=sha`" not in err  # it is configured, and cannot apply here

    # run (and merge) refuse the empty plan with the same explanation, before any build
    from dockyard.context import resolve_context
    from dockyard.errors import InputError
    from dockyard.publish import Release
    from dockyard.settings import load_settings

    empty = plan.make_plan(load_settings(tmp_path / "dockyard.yml", {}),
                           resolve_context({}, tmp_path))
    with pytest.raises(InputError) as refused:
        Release.of(empty)
    assert refused.value.exit_code == 2
    assert "there is no commit to name" in str(refused.value)
    assert refused.value.hint is not None and "type=raw,value=dev" in refused.value.hint


def test_detached_head_without_type_sha_suggests_it(git_repo: Callable[..., Path]) -> None:
    repo = git_repo()
    subprocess.run(["git", "checkout", "--quiet", "--detach"], cwd=repo, check=True)
    (repo / "dockyard.yml").write_text(
        "images: [ghcr.io/acme/app]\ntags: ['type=ref,event=branch']\n")

    code, _, err = dockyard(repo, "plan")

    assert code == 0
    assert "no branch or tag is known (HEAD is detached and carries no tag)" in err
    assert "or add `type=sha`, which names the commit" in err


def test_a_missing_c_directory_is_named_not_built_by_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    code, out, err = dockyard(missing, "plan", "--format", "json")
    assert code == 2
    assert json.loads(out)["error"].startswith(f"-C {missing}: no such directory")
    assert "no dockyard.yml here" not in err  # not taken for a zero-config build


def test_the_text_says_a_registry_that_had_everything_got_nothing_written() -> None:
    from dockyard.cli import _registry_lines

    entry = {"name": "r.io/acme/app", "status": "pushed", "digest": "sha256:" + "a" * 64,
             "pushed": [], "skipped": [{"tag": "1.0.0", "reason": "already published"}]}
    assert _registry_lines([entry])[0] == f"r.io/acme/app: holds sha256:{'a' * 64}, nothing written"
    wrote = {**entry, "pushed": ["1.0.0"], "skipped": []}
    assert _registry_lines([wrote]) == [f"r.io/acme/app: pushed sha256:{'a' * 64}",
                                       "  pushed  1.0.0"]


_ENDS = """
import atexit, sys, threading, time
from dockyard.cli import end

atexit.register(lambda: print("atexit ran", flush=True))
worker = threading.Thread(target=lambda: (time.sleep(0.2), print("worker done")))
worker.start()
sys.stdout.write("buffered, not flushed;")  # a pipe: block-buffered
sys.stderr.write("err;")
end(7)
"""


def test_the_process_ends_without_teardown_but_with_what_must_run_at_exit() -> None:
    """`end` skips the interpreter's module teardown, not what a normal exit does: the
    buffered output is written, a worker that is not a daemon finishes first, atexit
    handlers run, and the exit code is the one given."""
    done = subprocess.run([sys.executable, "-c", _ENDS], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 7
    assert done.stdout.split() == ["buffered,", "not", "flushed;worker", "done", "atexit",
                                   "ran"]
    assert done.stderr == "err;"


def test_python_m_dockyard_exits_with_the_command_s_code(tmp_path: Path) -> None:
    """`python -m dockyard` goes through `end`: the code and the JSON record come out."""
    done = subprocess.run([sys.executable, "-m", "dockyard", "plan", "--format", "json",
                           "--config", str(tmp_path / "missing.yml")], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert json.loads(done.stdout)["exit_code"] == 2


def test_under_a_profiler_the_process_exits_as_usual(tmp_path: Path) -> None:
    """cProfile (like a coverage tracer) writes its data at the normal exit: `end` must
    not skip it, or `python -m cProfile -o F -m dockyard ...` writes nothing."""
    stats = tmp_path / "dockyard.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m",
                           "dockyard", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and __version__ in done.stdout
    assert stats.stat().st_size > 0
