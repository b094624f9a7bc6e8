"""dockyard.ci.outputs: GITHUB_OUTPUT, the job summary, annotations, masks, GitLab's dotenv
report and sections; and the CLI choosing them from the CI's variables."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ci_harness import parse_github_output

from dockyard.ci import outputs
from dockyard.cli import main
from dockyard.errors import BuildError, ConfigError

DIGEST = "sha256:" + "ab" * 32


def record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "1.2.3",
        "tags": ["127.0.0.1:5000/acme/app:1.2.3", "127.0.0.1:5000/acme/app:latest"],
        "labels": {"org.opencontainers.image.version": "1.2.3", "multi": "line one"},
        "status": "success",
        "error": None,
        "image_id": "sha256:" + "cd" * 32,
        "digest": DIGEST,
        "registries": [
            {"name": "127.0.0.1:5000/acme/app", "status": "pushed", "digest": DIGEST,
             "pushed": ["1.2.3", "latest"], "skipped": [], "error": None},
            {"name": "127.0.0.1:5001/acme/app", "status": "partial", "digest": DIGEST,
             "pushed": ["1.2.3"], "skipped": [{"tag": "latest", "reason": "held | back"}],
             "error": None},
        ],
    }
    data.update(changes)
    return data


def test_github_outputs_survive_values_that_contain_newlines_and_delimiter_lookalikes() -> None:
    marks = itertools.count()
    data = record(version="EOF\n1.2.3\nEOF")
    text = outputs.github_outputs(data, lambda: f"EOF{next(marks)}" if next(marks) else "EOF")
    parsed = parse_github_output(text)
    assert parsed["version"] == "EOF\n1.2.3\nEOF"
    assert parsed["tags"].splitlines() == data["tags"]
    assert parsed["digest"] == DIGEST
    assert "multi=line one" in parsed["labels"].splitlines()
    assert set(parsed) == set(outputs.GITHUB_OUTPUTS)


def test_summary_is_a_table_of_registries_tags_and_digests() -> None:
    summary = outputs.summary_markdown(record())
    assert "| Image | Status | Tags | Digest |" in summary
    assert f"| `127.0.0.1:5000/acme/app` | pushed | `1.2.3` `latest` | `{DIGEST}` |" in summary
    assert "`latest` not pushed: held \\| back" in summary  # a pipe cannot break the table
    failed = outputs.summary_markdown(record(status="failed", error="push failed: denied"))
    assert ":x:" in failed and "push failed: denied" in failed


def test_config_problems_become_annotations_on_their_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "deploy" / "dockyard.yml"
    config.parent.mkdir()
    config.write_text("images: []\n")
    error = ConfigError(str(config), ["line 3: tags[0]: unknown type 'semvr', with: a, b",
                                      "tags (from DOCKYARD_TAGS): bad"])
    lines = outputs.error_commands(error, str(tmp_path))
    assert lines[0] == ("::error file=deploy/dockyard.yml,line=3,title=Dockyard configuration"
                        "::tags[0]: unknown type 'semvr', with: a, b")
    assert lines[1] == (f"::error title=Dockyard configuration::{config}: "
                        "tags (from DOCKYARD_TAGS): bad")  # an input is on no line of the file
    [build] = outputs.error_commands(BuildError("the build failed\nat step 2"), None)
    assert build == "::error title=Dockyard BuildError::the build failed%0Aat step 2"


def test_dotenv_keeps_within_gitlabs_limits_and_leaves_out_what_does_not_fit() -> None:
    many = [f"127.0.0.1:5000/acme/app:tag-{n:04d}" for n in range(400)]
    text = outputs.dotenv(record(tags=many, version="bad\nversion"))
    lines = text.splitlines()
    assert len(text.encode()) <= outputs.DOTENV_MAX_BYTES
    assert len(lines) <= outputs.DOTENV_MAX_VARIABLES
    names = [line.split("=", 1)[0] for line in lines]
    assert names == ["DOCKYARD_DIGEST", "DOCKYARD_TAG", "DOCKYARD_STATUS", "DOCKYARD_IMAGE_ID",
                     "DOCKYARD_PUSHED"]
    assert all(line and "'" not in line and '"' not in line for line in lines)
    small = outputs.dotenv(record())
    assert "DOCKYARD_TAGS=127.0.0.1:5000/acme/app:1.2.3 127.0.0.1:5000/acme/app:latest" in small
    # planned beside landed: the second registry held `latest` back
    assert ("DOCKYARD_PUSHED=127.0.0.1:5000/acme/app:1.2.3 127.0.0.1:5000/acme/app:latest "
            "127.0.0.1:5001/acme/app:1.2.3") in small


def test_gitlab_sections_use_the_runners_markers() -> None:
    stream = io.StringIO()
    reporter = outputs.GitLabReporter(stream, clock=lambda: 1700000000.0)
    with reporter.section("dockyard run", "Build and push"):
        stream.write("inside\n")
    assert stream.getvalue() == (
        "\x1b[0Ksection_start:1700000000:dockyard_run[collapsed=true]\r\x1b[0KBuild and push\n"
        "inside\n\x1b[0Ksection_end:1700000000:dockyard_run\r\x1b[0K\n")


def test_under_github_a_bad_config_is_annotated_and_secrets_are_masked_first(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\n",
                     "dockyard.yml": "images: [127.0.0.1:9/acme/app]\n"
                                     "registries:\n  127.0.0.1:9: {username: u, password: p4ss}\n"
                                     "tags:\n  - type=semvr\n"})
    stderr = io.StringIO()
    code = main(["-C", str(repo), "plan"], env={"GITHUB_ACTIONS": "true",
                                                "GITHUB_WORKSPACE": str(repo)},
                stdout=io.StringIO(), stderr=stderr)
    assert code == 2
    annotation = next(line for line in stderr.getvalue().splitlines()
                      if line.startswith("::error "))
    assert annotation.startswith("::error file=dockyard.yml,line=5,title=Dockyard configuration::")
    assert "tags[0]" in annotation


def test_plan_under_github_writes_outputs_and_masks_before_anything_else(
    git_repo: Callable[..., Path], tmp_path: Path,
) -> None:
    repo = git_repo(tags=("v3.1.4",))
    output, summary = tmp_path / "output", tmp_path / "summary"
    stderr = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), "DOCKYARD_IMAGES": "127.0.0.1:9/acme/app",
           "DOCKYARD_REGISTRIES": "127.0.0.1:9:\n  username: u\n  password: \"${TOKEN}\"\n",
           "DOCKYARD_WEBHOOKS": "- {url: 'https://hooks.example.com/T0/B0/xyzzy', "
                                "secret: hook-secret}",
           "TOKEN": "tok-multi\nline-secret"}
    assert main(["-C", str(repo), "plan"], env=env, stdout=io.StringIO(), stderr=stderr) == 0
    lines = stderr.getvalue().splitlines()
    assert lines[:4] == ["::add-mask::tok-multi", "::add-mask::line-secret",
                         "::add-mask::hook-secret",
                         "::add-mask::https://hooks.example.com/T0/B0/xyzzy"]
    parsed = parse_github_output(output.read_text())
    assert parsed["version"] == "v3.1.4"  # metadata-action's default rules: the git tag
    assert parsed["tags"].splitlines() == ["127.0.0.1:9/acme/app:v3.1.4",
                                           "127.0.0.1:9/acme/app:latest"]
    assert parsed["digest"] == ""
    assert "`127.0.0.1:9/acme/app:v3.1.4`" in summary.read_text()
    assert "tok-multi" not in output.read_text() + summary.read_text()


def test_without_a_ci_nothing_extra_is_printed(git_repo: Callable[..., Path]) -> None:
    repo = git_repo(tags=("v1.0.0",))
    stderr = io.StringIO()
    assert main(["-C", str(repo), "plan"], env={"DOCKYARD_IMAGES": "127.0.0.1:9/acme/app"},
                stdout=io.StringIO(), stderr=stderr) == 0
    assert "::" not in stderr.getvalue() and "section_start" not in stderr.getvalue()
    assert type(outputs.reporter_for({}, io.StringIO())) is outputs.Reporter


def test_plan_writes_the_record_bake_files_and_dotenv_a_gitlab_or_jenkins_wrapper_reads(
    git_repo: Callable[..., Path],
) -> None:
    """`command: plan` in the GitLab job and the Jenkins step: the plan as the record, the
    bake definitions beside it and the dotenv report, with nothing built or pushed."""
    import json

    repo = git_repo(tags=("v3.1.4",))
    env = {"DOCKYARD_IMAGES": "127.0.0.1:9/acme/app", "DOCKYARD_BAKE_TARGET": "meta",
           "DOCKYARD_REGISTRIES": "127.0.0.1:9: {username: u, password: plan-s3cret}"}
    assert main(["-C", str(repo), "plan", "--output", "out/plan.json", "--dotenv", "plan.env"],
                env=env, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    record = json.loads((repo / "out" / "plan.json").read_text())
    assert record["version"] == "v3.1.4" and "digest" not in record
    bake = json.loads((repo / "out" / "plan.bake-tags.json").read_text())
    assert bake["target"]["meta"]["tags"] == record["tags"]
    dotenv = dict(line.split("=", 1) for line in (repo / "plan.env").read_text().splitlines())
    assert dotenv["DOCKYARD_VERSION"] == "v3.1.4"
    assert dotenv["DOCKYARD_TAG"] == "127.0.0.1:9/acme/app:v3.1.4"
    assert dotenv["DOCKYARD_DIGEST"] == ""  # nothing was pushed
    written = "".join(p.read_text() for p in repo.rglob("*.json")) + \
        (repo / "plan.env").read_text()
    assert "plan-s3cret" not in written


def test_prunes_dotenv_report_keeps_within_gitlabs_limits() -> None:
    def prune(count: int) -> dict[str, Any]:
        return {"command": "prune", "status": "success", "applied": True, "repositories": [
            {"name": "127.0.0.1:5000/acme/app",
             "delete": [{"tag": f"sha-{n:07x}"} for n in range(count)],
             "deleted": [{"digest": DIGEST, "tags": ["pr-7", "pr-8"], "how": "image"},
                         {"digest": DIGEST, "tags": [], "how": "platform image"}]}]}

    text = outputs.dotenv(prune(400))
    assert len(text.encode()) <= outputs.DOTENV_MAX_BYTES
    assert text.splitlines() == [
        "DOCKYARD_PRUNE_STATUS=success", "DOCKYARD_PRUNE_APPLIED=true",
        "DOCKYARD_PRUNE_DELETED=127.0.0.1:5000/acme/app:pr-7 127.0.0.1:5000/acme/app:pr-8"]
    few = outputs.dotenv(prune(2))
    assert "DOCKYARD_PRUNE_DELETE=127.0.0.1:5000/acme/app:sha-0000000 " \
           "127.0.0.1:5000/acme/app:sha-0000001" in few
