"""Stand-ins for the parts of GitHub's runner and GitLab's runner the wrappers rely on.

Only what cannot run here is emulated, and only as far as the wrappers use it: GitHub's
`${{ }}` substitution (inputs, github.action_path, steps.*.outputs), its GITHUB_OUTPUT
file format and workflow commands; GitLab's variable expansion. The scripts themselves
run for real, with bash, against the real engine and registries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "tests" / "schemas"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# Variables a step gets from the machine; everything else is set by the test.
PASSED_THROUGH = ("PATH", "HOME", "DOCKER_HOST", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
                  "LANG", "LC_ALL", "TMPDIR")
# The install steps run offline: tests send traffic only to loopback, so pip may use only
# what this Python already has (the venvs see its site-packages) and must not reach PyPI.
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"}


def machine_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_THROUGH}
    return {**env, **OFFLINE_PIP}


def copy_checkout(target: Path) -> Path:
    """The files `pip install <checkout>` needs, as a checkout of the action would have
    them (pip builds in the source tree, so never in the real one)."""
    target.mkdir(parents=True)
    for name in ("action.yml", "pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "src", target / "src",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return target


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return schema


# --- GitHub Actions ---------------------------------------------------------------------


@dataclass
class ActionRun:
    outputs: dict[str, str]  # the action's outputs, as a workflow would see them
    log: str  # stdout and stderr of every step, as the runner received them
    summary: str  # what the steps wrote to GITHUB_STEP_SUMMARY
    output_files: str  # the raw GITHUB_OUTPUT contents of every step
    codes: list[int] = field(default_factory=list)

    @property
    def masks(self) -> list[str]:
        return [line.removeprefix("::add-mask::") for line in self.log.splitlines()
                if line.startswith("::add-mask::")]

    def shown(self) -> str:
        """The log without the mask commands (the runner consumes those lines)."""
        return "\n".join(line for line in self.log.splitlines()
                         if not line.startswith("::add-mask::"))


def run_composite_action(action_dir: Path, inputs: Mapping[str, str], env: Mapping[str, str],
                         workspace: Path, scratch: Path) -> ActionRun:
    """Run the `run:` steps of a composite action as GitHub's runner would."""
    action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps: dict[str, dict[str, str]] = {}
    # The job's token: none here (a real runner's would reach the GitHub API, and test
    # traffic stays on loopback), so `github-token`'s default is empty: no call.
    contexts: dict[str, Any] = {"github.action_path": str(action_dir), "github.token": "",
                                "steps": steps}
    given = {name: _substitute(str(spec.get("default", "")), contexts)
             for name, spec in action["inputs"].items()}  # defaults are expressions too
    unknown = set(inputs) - set(given)
    assert not unknown, f"the action has no input(s) {unknown}"
    given.update(inputs)
    contexts["inputs"] = given
    log: list[str] = []
    summaries: list[str] = []
    output_files: list[str] = []
    codes: list[int] = []
    for index, step in enumerate(action["runs"]["steps"]):
        assert "run" in step and step.get("shell") == "bash", f"step {index} is not a bash run"
        output = scratch / f"output-{index}"
        summary = scratch / f"summary-{index}"
        output.touch()
        summary.touch()
        script = scratch / f"step-{index}.sh"
        script.write_text(_substitute(step["run"], contexts))
        step_env = {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                    "GITHUB_ACTION_PATH": str(action_dir)}
        step_env.update({k: _substitute(str(v), contexts) for k, v in
                         (step.get("env") or {}).items()})
        # The runner's shell for `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=workspace, env=step_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
        log.append(done.stdout)
        codes.append(done.returncode)
        output_files.append(output.read_text())
        summaries.append(summary.read_text())
        if "id" in step:
            steps[step["id"]] = parse_github_output(output.read_text())
        if done.returncode != 0:
            break
    outputs = {name: _substitute(spec["value"], contexts)
               for name, spec in action.get("outputs", {}).items()}
    return ActionRun(outputs, "".join(log), "".join(summaries), "".join(output_files), codes)


def _substitute(text: str, contexts: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match[1]
        if expression.startswith("inputs."):
            return str(contexts["inputs"][expression.removeprefix("inputs.")])
        if expression in ("github.action_path", "github.token"):
            return str(contexts[expression])
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if found:
            return str(contexts["steps"].get(found[1], {}).get(found[2], ""))
        raise AssertionError(f"the harness does not know the expression {match[0]!r}")

    return _EXPRESSION.sub(value, text)


def parse_github_output(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name=value` or `name<<DELIM` ... `DELIM`."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[index] != delimiter:  # IndexError: the delimiter never came
                body.append(lines[index])
                index += 1
            index += 1
            values[name] = "\n".join(body)
        else:
            name, _, rest = line.partition("=")
            values[name] = rest
    return values


# --- GitLab CI --------------------------------------------------------------------------


class GitLabLoader(yaml.SafeLoader):
    """YAML with GitLab's `!reference [job, key]` tag, kept as the list it names."""


GitLabLoader.add_constructor(
    "!reference", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type, return-value]


def load_gitlab(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=GitLabLoader)  # noqa: S506 -- a SafeLoader subclass
    return data


_GITLAB_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def gitlab_expand(text: str, env: Mapping[str, str]) -> str:
    """GitLab's expansion of a job variable's value: `$VAR`, `${VAR}`; `$$` is a `$`."""
    def value(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1] or match[2], "")

    return _GITLAB_VARIABLE.sub(value, text)


def gitlab_job_env(job: Mapping[str, Any], predefined: Mapping[str, str],
                   project: Mapping[str, str]) -> dict[str, str]:
    """The job's environment: predefined variables, the job's `variables:` (expanded unless
    `expand: false`), then project variables, which override the file's."""
    env = dict(predefined)
    for name, spec in (job.get("variables") or {}).items():
        if isinstance(spec, dict):
            raw, expand = str(spec["value"]), spec.get("expand", True)
        else:
            raw, expand = str(spec), True
        env[name] = gitlab_expand(raw, env) if expand else raw
    env.update(project)
    return env
