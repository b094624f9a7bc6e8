"""docs/ci.md's copy-paste snippets stay true to the wrappers they show."""

from __future__ import annotations

import re

import jsonschema
import yaml
from ci_harness import REPO, load_gitlab, load_schema

from support.gitlab import load_gitlab_text

DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_github_workflow_uses_only_inputs_and_outputs_the_action_has() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    workflows = [yaml.safe_load(b) for b in blocks("yaml") if "dockyard-ci/dockyard@" in b]
    assert len(workflows) == 3  # the first example, the side by side one, the prune one
    for workflow in workflows:
        [job] = workflow["jobs"].values()
        [step] = [s for s in job["steps"] if s.get("uses", "").startswith("dockyard-ci/dockyard@")]
        assert set(step["with"]) <= set(action["inputs"])
    used = set(re.findall(r"steps\.dockyard\.outputs\.([\w-]+)", DOC))
    assert used and used <= set(action["outputs"])


def test_every_metadata_action_output_the_doc_reads_has_its_dockyard_twin() -> None:
    """The side by side workflows: what a step read from metadata-action it reads, under
    the same name, from Dockyard."""
    [theirs] = [b for b in blocks("yaml") if "docker/metadata-action@" in b]
    [ours] = [b for b in blocks("yaml") if "dockyard-ci/dockyard@" in b and "tag-names" in b]
    read = set(re.findall(r"steps\.meta\.outputs\.([\w-]+)", theirs)) - {"annotations",
                                                                          "tags", "labels"}
    assert read and read <= set(re.findall(r"steps\.dockyard\.outputs\.([\w-]+)", ours))


def test_the_gitlab_snippet_is_valid_and_uses_the_templates_job() -> None:
    [snippet] = [load_gitlab_text(b) for b in blocks("yaml")
                 if "- remote:" in b and "deploy:" in b]
    assert jsonschema.Draft7Validator(load_schema("gitlab-ci.schema.json")).is_valid(snippet)
    template = load_gitlab(REPO / ".gitlab-ci-template.yml")
    assert snippet["deploy"]["needs"] == ["dockyard"] and "dockyard" in template
    # a job that needs `dockyard` exists exactly when it does (issue 16)
    assert snippet["deploy"]["rules"] == ["dockyard", "rules"]
    assert snippet["variables"]["DOCKYARD_ENABLED"] == "true"
    job = template[".dockyard"]
    assert f"--dotenv {job['artifacts']['reports']['dotenv']}" in "\n".join(job["script"])


def test_the_prune_workflow_shown_is_the_example_shipped() -> None:
    example = REPO / "examples" / "github" / ".github" / "workflows" / "prune.yml"
    assert example.read_text(encoding="utf-8") in blocks("yaml")


def test_the_jenkins_snippets_call_the_step_with_its_arguments() -> None:
    pipelines = blocks("groovy")
    assert len(pipelines) == 2  # the build and the nightly prune
    step = (REPO / "jenkins" / "vars" / "dockyard.groovy").read_text(encoding="utf-8")
    known = set(re.findall(r"^\s+(\w+)\s*: 'DOCKYARD_", step, flags=re.MULTILINE))
    known |= {"credentials", "output", "command"}
    for pipeline in pipelines:
        call = pipeline[pipeline.index("dockyard(\n") + len("dockyard(\n"):]
        indent = call[:len(call) - len(call.lstrip(" "))]  # the arguments' own indentation
        used = set(re.findall(rf"^{indent}(\w+):", call, flags=re.MULTILINE))
        assert used and used <= known
    assert "command: 'prune'" in pipelines[1]
