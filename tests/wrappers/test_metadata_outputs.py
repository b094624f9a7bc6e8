"""metadata-action's outputs from Dockyard's record: names, separators, the json object,
bake definitions, DOCKER_METADATA_OUTPUT_* variables, and `pushed` beside `tags`.

Expected shapes are metadata-action's README ("outputs", "bake definition", "JSON output
object"), with its example values."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ci_harness import parse_github_output

from dockyard.ci import metadata_outputs, outputs
from dockyard.ci.metadata_outputs import Separators, action_outputs, bake_definitions
from dockyard.cli import main

OCI = "org.opencontainers.image."


def record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "1.2.3",
        "images": ["name/app", "127.0.0.1:5001/name/app"],
        "tags": ["name/app:1.2.3", "name/app:1.2", "name/app:latest",
                 "127.0.0.1:5001/name/app:1.2.3", "127.0.0.1:5001/name/app:1.2",
                 "127.0.0.1:5001/name/app:latest"],
        "tag-names": ["1.2.3", "1.2", "latest"],
        "labels": {f"{OCI}title": "Hello-World", f"{OCI}version": "1.2.3"},
        "annotations": [f"manifest:{OCI}title=Hello-World", f"manifest:{OCI}version=1.2.3"],
        "digest": "sha256:" + "ab" * 32,
        "registries": [
            {"name": "name/app", "status": "pushed", "pushed": ["1.2.3", "1.2", "latest"],
             "skipped": []},
            {"name": "127.0.0.1:5001/name/app", "status": "partial", "pushed": ["1.2.3"],
             "skipped": [{"tag": "1.2", "reason": "a newer 1.2.x is there"},
                         {"tag": "latest", "reason": "a newer release is there"}]},
        ],
    }
    data.update(changes)
    return data


def test_outputs_under_metadata_actions_names() -> None:
    values = action_outputs(record())

    assert values["version"] == "1.2.3"
    assert values["tags"].split("\n") == record()["tags"]
    assert values["tag-names"] == "1.2.3\n1.2\nlatest"
    assert values["labels"] == f"{OCI}title=Hello-World\n{OCI}version=1.2.3"
    assert values["annotations"] == (f"manifest:{OCI}title=Hello-World\n"
                                     f"manifest:{OCI}version=1.2.3")


def test_tags_are_planned_and_pushed_is_what_landed() -> None:
    values = action_outputs(record())

    assert len(values["tags"].split("\n")) == 6  # held-back tags too, as metadata-action
    assert values["pushed"].split("\n") == ["name/app:1.2.3", "name/app:1.2", "name/app:latest",
                                            "127.0.0.1:5001/name/app:1.2.3"]


def test_separators() -> None:
    separators = Separators.from_env({"DOCKYARD_SEP_TAGS": ",", "DOCKYARD_SEP_LABELS": " ",
                                      "DOCKYARD_SEP_ANNOTATIONS": ""})
    values = action_outputs(record(), separators)

    assert values["tags"] == ",".join(record()["tags"])
    assert values["tag-names"] == "1.2.3,1.2,latest"
    assert values["labels"] == f"{OCI}title=Hello-World {OCI}version=1.2.3"
    assert "\n" in values["annotations"]  # empty: the default, as metadata-action


def test_bake_definitions_as_metadata_action_writes_them() -> None:
    found = bake_definitions(record(), "build")

    assert found["bake-file-tags"] == {"target": {"build": {
        "tags": record()["tags"],
        "args": {"DOCKER_META_IMAGES": "name/app,127.0.0.1:5001/name/app",
                 "DOCKER_META_VERSION": "1.2.3"}}}}
    assert found["bake-file-labels"] == {"target": {"build": {"labels": record()["labels"]}}}
    assert found["bake-file-annotations"] == {"target": {"build": {
        "annotations": record()["annotations"]}}}
    assert set(found["bake-file"]["target"]["build"]) == {"tags", "labels", "args"}


def test_env_names() -> None:
    assert metadata_outputs.env_name("tag-names") == "DOCKER_METADATA_OUTPUT_TAG_NAMES"
    assert metadata_outputs.env_name("bake-file-labels") == \
        "DOCKER_METADATA_OUTPUT_BAKE_FILE_LABELS"


def github(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_ENV": str(tmp_path / "env"), "RUNNER_TEMP": str(tmp_path / "temp"),
            **extra}


def test_the_reporter_writes_outputs_variables_and_bake_files(tmp_path: Path) -> None:
    reporter = outputs.reporter_for(github(tmp_path, DOCKYARD_BAKE_TARGET="meta"),
                                    io.StringIO())
    reporter.publish(record())

    parsed = parse_github_output((tmp_path / "output").read_text())
    assert set(parsed) == {*outputs.GITHUB_OUTPUTS, *metadata_outputs.BAKE_KINDS}
    assert json.loads(parsed["json"])["tag-names"] == ["1.2.3", "1.2", "latest"]
    bake = json.loads(Path(parsed["bake-file-labels"]).read_text())
    assert bake == {"target": {"meta": {"labels": record()["labels"]}}}
    variables = parse_github_output((tmp_path / "env").read_text())
    assert variables["DOCKER_METADATA_OUTPUT_VERSION"] == "1.2.3"
    assert variables["DOCKER_METADATA_OUTPUT_TAG_NAMES"] == parsed["tag-names"]
    assert json.loads(variables["DOCKER_METADATA_OUTPUT_JSON"]) == json.loads(parsed["json"])
    assert variables["DOCKER_METADATA_OUTPUT_BAKE_FILE_TAGS"] == parsed["bake-file-tags"]


def test_set_output_env_false_exports_nothing(tmp_path: Path) -> None:
    env = github(tmp_path, DOCKER_METADATA_SET_OUTPUT_ENV="false")
    outputs.reporter_for(env, io.StringIO()).publish(record())

    assert (tmp_path / "output").read_text()
    assert not (tmp_path / "env").exists()


def test_secrets_stay_out_of_bake_files_and_variables(tmp_path: Path) -> None:
    from dockyard import secrets

    secrets.register("s3cr3t-label-value")
    data = record(labels={"com.example.token": "s3cr3t-label-value"},
                  annotations=["manifest:com.example.token=s3cr3t-label-value"])
    outputs.reporter_for(github(tmp_path), io.StringIO()).publish(data)

    written = [p.read_text() for p in (tmp_path / "temp").rglob("*.json")]
    written += [(tmp_path / "env").read_text(), (tmp_path / "output").read_text()]
    assert len(written) == 6
    assert not [text for text in written if "s3cr3t-label-value" in text]


def test_plan_under_github_gives_metadata_actions_outputs(
    git_repo: Callable[..., Path], tmp_path: Path,
) -> None:
    repo = git_repo(tags=("v3.1.4",))
    env = github(tmp_path, DOCKYARD_IMAGES="127.0.0.1:9/acme/app,enable=true\nx/y,enable=false",
                 DOCKYARD_SEP_TAGS=",", DOCKER_METADATA_ANNOTATIONS_LEVELS="index",
                 DOCKYARD_LABELS="org.opencontainers.image.vendor=Acme {{tag}}")
    assert main(["-C", str(repo), "plan"], env=env, stdout=io.StringIO(),
                stderr=io.StringIO()) == 0

    parsed = parse_github_output((tmp_path / "output").read_text())
    assert parsed["tags"] == "127.0.0.1:9/acme/app:v3.1.4,127.0.0.1:9/acme/app:latest"
    assert parsed["tag-names"] == "v3.1.4,latest"
    assert f"{OCI}vendor=Acme v3.1.4" in parsed["labels"].splitlines()
    assert f"{OCI}version=v3.1.4" in parsed["labels"].splitlines()
    assert f"index:{OCI}version=v3.1.4" in parsed["annotations"].splitlines()
    assert parsed["pushed"] == ""  # a plan pushes nothing
    combined = json.loads(Path(parsed["bake-file"]).read_text())
    assert combined["target"]["docker-metadata-action"]["args"] == {
        "DOCKER_META_IMAGES": "127.0.0.1:9/acme/app", "DOCKER_META_VERSION": "v3.1.4"}
