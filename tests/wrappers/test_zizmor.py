"""zizmor (PyPI) audits action.yml and every workflow this repository ships (the examples,
the release workflow) offline, with its pedantic persona: nothing above informational.
The example as it was before issue 16 is flagged, so the audit is not vacuous."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ci_harness import REPO
from ci_tools import run, tool, tool_env

AUDITED = ["action.yml", *sorted(str(p.relative_to(REPO)) for p in
                                 [*REPO.glob(".github/workflows/*.yml"),
                                  *REPO.glob("examples/*/.github/workflows/*.yml")])]


def zizmor(*paths: str, cwd: Path = REPO) -> list[dict[str, Any]]:
    done = run([tool("zizmor"), "--offline", "--persona", "pedantic", "--format", "json",
                "--config", str(REPO / ".github" / "zizmor.yml"), "--no-exit-codes", *paths],
               cwd, tool_env())
    assert done.code == 0, done.log
    start = done.log.index("[")  # stderr's progress lines come first
    findings: list[dict[str, Any]] = json.loads(done.log[start:done.log.rindex("]") + 1])
    return findings


def test_the_action_and_the_workflows_have_no_finding_above_informational() -> None:
    assert "examples/github/.github/workflows/image.yml" in AUDITED
    findings = zizmor(*AUDITED)
    above = [(f["ident"], f["determinations"]["severity"],
              f["locations"][0]["symbolic"]["key"]) for f in findings
             if f["determinations"]["severity"] not in ("Informational", "Unknown")]
    assert above == []


OLD_EXAMPLE = """\
on: {push: {branches: [main]}, pull_request: {}}
jobs:
  image:
    runs-on: ubuntu-latest
    permissions: {contents: read, packages: write}
    steps:
      - uses: actions/checkout@v4
      - id: dockyard
        uses: dockyard-ci/dockyard@v0.1.0
      - run: echo "pushed ${{ steps.dockyard.outputs.digest }}"
"""


def test_the_audit_flags_the_example_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "image.yml").write_text(OLD_EXAMPLE)
    idents = {f["ident"] for f in zizmor("image.yml", cwd=tmp_path)}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= idents
