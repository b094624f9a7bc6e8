"""What the wrapper tests share: the checkout's files, its schemas, an offline pip, and a
reader of GITHUB_OUTPUT's format (for the unit tests of Dockyard's own writer; the
wrappers themselves run under the real tools, see ci_tools.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from support.gitlab import load_gitlab as load_gitlab  # re-exported for the wrapper tests

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
