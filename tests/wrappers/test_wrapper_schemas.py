"""The wrapper files validate against the published schemas, and the schemas are not
vacuous: a broken copy of each file fails."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest
import yaml
from ci_harness import REPO, load_gitlab, load_schema

from support.gitlab import GitLabLoader


def errors(document: Any, schema_name: str) -> list[str]:
    validator = jsonschema.Draft7Validator(load_schema(schema_name))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    return data


def test_action_yml_is_a_valid_composite_action() -> None:
    assert errors(action(), "github-action.schema.json") == []
    broken = copy.deepcopy(action())
    broken["runs"]["steps"][0]["shell"] = 42
    assert errors(broken, "github-action.schema.json")


def test_action_maps_every_input_onto_the_cli_and_every_output_from_it() -> None:
    data = action()
    expected_inputs = {"images", "tags", "flavor", "labels", "context", "file", "build-args",
                       "target", "push", "config", "registries", "webhooks",
                       "secrets", "secret-files", "ssh", "platforms", "cache-from",
                       "cache-to", "provenance", "sbom", "builder", "backend",
                       # metadata-action's, under its names (its `context` is
                       # `context-source`: `context` is build-push-action's build context)
                       "annotations", "sep-tags", "sep-labels", "sep-annotations",
                       "bake-target", "context-source", "github-token",
                       # the command, and prune's options
                       "command", "apply", "open-prs", "branches"}
    assert set(data["inputs"]) == expected_inputs
    assert set(data["outputs"]) == {"version", "tags", "labels", "digest", "json",
                                    "tag-names", "pushed", "annotations", "bake-file",
                                    "bake-file-tags", "bake-file-labels",
                                    "bake-file-annotations", "to-delete", "deleted"}
    [run] = [step for step in data["runs"]["steps"] if step.get("id") == "run"]
    passed = {re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)[1]  # type: ignore[index]
              for value in run["env"].values()}
    assert passed == expected_inputs
    # inputs travel as environment variables, never spliced into a script
    for step in data["runs"]["steps"]:
        assert "inputs." not in step["run"]


def test_gitlab_template_is_valid_gitlab_ci() -> None:
    template = load_gitlab(REPO / ".gitlab-ci-template.yml")
    assert errors(template, "gitlab-ci.schema.json") == []
    # The schema lets a hidden job hold anything: check `.dockyard` as the job it becomes.
    as_job = {"dockyard-as-job": template[".dockyard"]}
    assert errors(as_job, "gitlab-ci.schema.json") == []
    broken = copy.deepcopy(as_job)
    broken["dockyard-as-job"]["artifacts"]["when"] = "sometimes"
    assert errors(broken, "gitlab-ci.schema.json")


@pytest.mark.parametrize("condition", ['$CI_PIPELINE_SOURCE == "merge_request_event"',
                                       "$CI_COMMIT_TAG", "$CI_COMMIT_BRANCH"])
def test_gitlab_job_runs_in_branch_tag_and_merge_request_pipelines(condition: str) -> None:
    template = load_gitlab(REPO / ".gitlab-ci-template.yml")
    rules = template[".dockyard"]["rules"]
    assert {"if": condition} in rules
    ready = template["dockyard"]["rules"]
    assert ready[0] == {"if": '$DOCKYARD_ENABLED != "true"', "when": "never"}
    assert ready[1] == [".dockyard", "rules"]  # !reference: the same rules after the switch


def test_the_projects_own_pipeline_and_the_components_jobs_are_valid_gitlab_ci() -> None:
    assert errors(load_gitlab(REPO / ".gitlab-ci.yml"), "gitlab-ci.schema.json") == []
    # The component is a header (spec: inputs) and the configuration, two YAML documents.
    header, body = yaml.load_all((REPO / "templates" / "dockyard.yml").read_text(),
                                 Loader=GitLabLoader)
    inputs = header["spec"]["inputs"]
    assert set(inputs["docker"]["options"]) == {"dind-tls", "dind", "socket", "none"}
    assert set(inputs["command"]["options"]) == {"run", "plan", "prune"}
    # every input reaches the job, the metadata-action ones under action.yml's variables
    job = body["$[[ inputs.job-name ]]"]
    passed = {re.fullmatch(r"\$\[\[ inputs\.([\w-]+) \]\]", str(value))[1]  # type: ignore[index]
              for value in job["variables"].values()}
    assert passed | {"job-name", "stage", "docker"} == set(inputs)
    steps = {step.get("id"): step for step in action()["runs"]["steps"]}
    assert {name for name in job["variables"] if name != "DOCKYARD_IMAGE"} <= \
        set(steps["run"]["env"])
    assert errors(body, "gitlab-ci.schema.json") == []
