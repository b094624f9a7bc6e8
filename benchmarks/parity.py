"""How many of docker/metadata-action's own test cases Dockyard agrees with.

Not a test: run it by hand, on any checkout, and read the count.

    python3 benchmarks/parity.py [--verbose]

Each case is one row of metadata-action's __tests__/meta.test.ts (v5: the `pr` and
`pr-head-sha` tables, the ones issue 15's root causes 1 to 3 fall in), with its inputs
and its expected version, tags and labels. The environment is the one its fixtures
event_pull_request.env and event_pull_request_target.env hold (the payload cut down to
the keys read), run through what `dockyard plan` runs: resolve_context, settings from the
action's inputs, make_plan. Its clock is mocked to 2020-01-10T00:30:00Z, here
SOURCE_DATE_EPOCH; the repository's description and license come from its mocked API
(repo.json), here put into the context as dockyard.ci.github_api would.

A case agrees when version, tags (in order) and labels (every key and value) are
metadata-action's. It runs on whatever `dockyard` is importable, so the same file
measures a branch and main (`PYTHONPATH=/work/main/src python3 benchmarks/parity.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PR_SHA = "a9c8c5828b91be19d9728548b24759e352367ef1"  # event_pull_request.env
TARGET_SHA = "266574110acf203503badf966df2ea24b5d732d7"  # event_pull_request_target.env
HEAD_SHA = "3370e228f2209994d57af4427fe64e71bb79ac96"  # the payloads' pull_request.head.sha
REPO = {"name": "Hello-World", "description": "This your first repo!", "license": "MIT",
        "html_url": "https://github.com/octocat/Hello-World"}


@dataclass(frozen=True)
class Case:
    table: str
    name: str
    event: str  # the fixture
    images: tuple[str, ...]
    tags: tuple[str, ...] = ()
    flavor: tuple[str, ...] = ()
    version: str | None = None
    expected_tags: tuple[str, ...] = ()
    revision: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    def labels(self) -> list[str]:
        oci = "org.opencontainers.image."
        return [f"{oci}created=2020-01-10T00:30:00.000Z",
                f"{oci}description={REPO['description']}", f"{oci}licenses={REPO['license']}",
                f"{oci}revision={self.revision}", f"{oci}source={REPO['html_url']}",
                f"{oci}title={REPO['name']}", f"{oci}url={REPO['html_url']}",
                f"{oci}version={self.version or ''}"]


TWO = ("org/app", "ghcr.io/user/app")


def _cases(table: str, sha_pr: str, sha_target: str, env: Mapping[str, str]) -> list[Case]:
    short_pr, short_target = sha_pr[:7], sha_target[:7]

    def both(*tags: str) -> tuple[str, ...]:
        return tuple(f"{image}:{tag}" for image in TWO for tag in tags)

    raw = ("type=raw,value=mytag-{{base_ref}}",
           "type=raw,mytag-defbranch,enable={{is_default_branch}}")
    pr09 = ("type=ref,event=tag", "type=ref,event=pr", "type=ref,event=branch", "type=sha",
            "type=sha,format=long")
    rows = [
        ("pr01", "pull_request", ("user/app",), (), (), "pr-15", ("user/app:pr-15",)),
        ("pr02", "pull_request", TWO, (), (), "pr-15", both("pr-15")),
        ("pr03", "pull_request", TWO, ("type=ref,event=pr", "type=sha"), (), "pr-15",
         both("pr-15", f"sha-{short_pr}")),
        ("pr04", "pull_request", TWO, ("type=sha,priority=2000", "type=ref,event=pr"), (),
         f"sha-{short_pr}", both(f"sha-{short_pr}", "pr-15")),
        ("pr05", "pull_request", TWO, ("type=ref,event=pr",), ("prefix=glo-", "suffix=-bal"),
         "pr-15-bal", both("pr-15-bal")),
        ("pr06", "pull_request", TWO, ("type=ref,event=pr,prefix=",),
         ("prefix=glo-", "suffix=-bal"), "15-bal", both("15-bal")),
        ("pr07", "pull_request_target", TWO, ("type=sha,priority=2000", "type=ref,event=pr"),
         (), f"sha-{short_target}", both(f"sha-{short_target}", "pr-15")),
        ("pr08", "pull_request_target", TWO, ("type=ref,event=pr,prefix=",),
         ("prefix=glo-", "suffix=-bal"), "15-bal", both("15-bal")),
        ("pr09", "pull_request_target", ("org/app",), pr09, (), "pr-15",
         ("org/app:pr-15", f"org/app:sha-{short_target}", f"org/app:sha-{sha_target}")),
        ("pr10", "pull_request_target", ("org/app",), raw, (), "mytag-master",
         ("org/app:mytag-master",)),
        ("pr11", "pull_request", ("org/app",), raw, (), "mytag-master",
         ("org/app:mytag-master",)),
        ("pr12", "pull_request", ("org/app",),
         ("type=raw,value={{commit_date YYYY-MM-DD-HHmmSS}}",), (), "2020-01-10T00-30-00Z",
         ("org/app:2020-01-10T00-30-00Z",)),
    ]
    return [Case(table, name, event, images, tags, flavor, version, expected,
                 sha_pr if event == "pull_request" else sha_target, env)
            for name, event, images, tags, flavor, version, expected in rows]


CASES = [*_cases("pr", PR_SHA, TARGET_SHA, {}),
         # the pr-head-sha table has pr01 to pr10
         *_cases("pr-head-sha", HEAD_SHA, HEAD_SHA,
                 {"DOCKER_METADATA_PR_HEAD_SHA": "true"})[:10]]


def _environment(case: Case, root: Path) -> dict[str, str]:
    payload = {"number": 15, "pull_request": {
        "number": 15, "head": {"ref": "feature", "sha": HEAD_SHA},
        "base": {"ref": "master", "sha": TARGET_SHA}},
        "repository": {"default_branch": "master", "html_url": REPO["html_url"]}}
    path = root / f"event_{case.event}.json"
    path.write_text(json.dumps(payload))
    target = case.event == "pull_request_target"
    return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": case.event,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REF": "refs/heads/master" if target else "refs/pull/15/merge",
            "GITHUB_SHA": TARGET_SHA if target else PR_SHA,
            "GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "master",
            "GITHUB_REPOSITORY": "octocat/Hello-World", "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "123456789", "GITHUB_RUN_NUMBER": "1",
            "SOURCE_DATE_EPOCH": "1578616200",
            "DOCKYARD_IMAGES": "\n".join(case.images), "DOCKYARD_TAGS": "\n".join(case.tags),
            "DOCKYARD_FLAVOR": "\n".join(case.flavor), **case.env}


def run_case(case: Case, root: Path) -> tuple[bool, bool, str]:
    """Whether Dockyard agrees on version and tags, on labels, and what differs."""
    from dockyard.ci.inputs import read_inputs
    from dockyard.context import resolve_context
    from dockyard.errors import DockyardError
    from dockyard.plan import make_plan
    from dockyard.settings import Overrides, settings_from_inputs

    workdir = root / case.table / case.name
    workdir.mkdir(parents=True)
    (workdir / "Dockerfile").write_text("FROM scratch\n")
    env = _environment(case, root)
    try:
        context = resolve_context(env, workdir)
        fields = {f.name for f in dataclasses.fields(context)}
        if {"description", "licenses"} <= fields:  # what the API gives (repo.json)
            context = dataclasses.replace(context, description=REPO["description"],
                                          licenses=REPO["license"])
        settings = settings_from_inputs(workdir, env,
                                        Overrides(inputs=read_inputs(env, workdir)))
        plan = make_plan(settings, context)
    except DockyardError as exc:
        return False, False, f"error: {exc}"
    got: dict[str, Any] = {"version": plan.version, "tags": plan.references(),
                           "labels": [f"{k}={v}" for k, v in sorted(plan.labels.items())]}
    want: dict[str, Any] = {"version": case.version, "tags": list(case.expected_tags),
                            "labels": case.labels()}
    diff = [f"{key}: {got[key]!r} != {want[key]!r}" for key in want if got[key] != want[key]]
    tags = got["version"] == want["version"] and got["tags"] == want["tags"]
    return tags, got["labels"] == want["labels"], "; ".join(diff)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show each disagreement")
    args = parser.parse_args(argv)
    agree = tags_agree = labels_agree = 0
    with tempfile.TemporaryDirectory() as temp:
        for case in CASES:
            tags, labels, diff = run_case(case, Path(temp))
            agree += tags and labels
            tags_agree += tags
            labels_agree += labels
            if args.verbose and diff:
                print(f"{case.table} {case.name}: {diff}")
    count = len(CASES)
    print(f"{agree} of {count} cases agree ({100 * agree / count:.0f}%); version and tags: "
          f"{tags_agree}; labels: {labels_agree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
