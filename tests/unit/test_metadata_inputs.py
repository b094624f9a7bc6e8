"""metadata-action's inputs beyond tags and flavor: labels and annotations (templates,
levels, lines without `=`) and image attributes, from dockyard.yml and the action's
DOCKYARD_* inputs to the plan. Expected values follow metadata-action's README and
__tests__/meta.test.ts (clock and commit date 2020-01-10T00:30:00Z, as there)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dockyard.ci.inputs import read_inputs
from dockyard.context import Context
from dockyard.errors import ConfigError, InputError
from dockyard.image_entry import ImageEntry, parse_image_entry
from dockyard.plan import make_plan
from dockyard.settings import Overrides, Settings, load_settings

NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
OCI = "org.opencontainers.image."


def context(**fields: object) -> Context:
    values: dict[str, object] = {
        "provider": "github", "event": "push", "ref": "refs/heads/dev", "sha": SHA, "now": NOW,
        "commit_date": datetime(2020, 1, 9, 23, 59, 58, 123000, tzinfo=timezone.utc),
        "default_branch": "master", "repository": "octocat/Hello-World",
        "repo_url": "https://github.com/octocat/Hello-World"}
    values.update(fields)
    return Context(**values)  # type: ignore[arg-type]


def settings(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "dockyard.yml"
    path.write_text(textwrap.dedent(text))
    env = env or {}
    return load_settings(path, env, Overrides(inputs=read_inputs(env, tmp_path)))


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, text, env)
    assert info.value.exit_code == 2
    return "\n".join(info.value.problems)


# --- labels -----------------------------------------------------------------------------


def test_label_values_are_templates(tmp_path: Path) -> None:
    """metadata-action's README: `labels` use the global expressions."""
    plan = make_plan(settings(tmp_path, """
        images: [user/app]
        labels:
          org.opencontainers.image.created: "{{commit_date 'YYYY-MM-DDTHH:mm:ss.SSS[Z]'}}"
          com.example.built: "{{date 'YYYYMMDD'}} on {{branch}} at {{sha}}"
          com.example.plain: no template
    """), context())

    assert plan.labels[f"{OCI}created"] == "2020-01-09T23:59:58.123Z"
    assert plan.labels["com.example.built"] == "20200110 on dev at 860c190"
    assert plan.labels["com.example.plain"] == "no template"
    assert list(plan.labels) == sorted(plan.labels)  # custom keys sorted in, as there


def test_empty_labels_are_emitted(tmp_path: Path) -> None:
    """meta.test.ts event_null.env: `version=` and `revision=` with nothing known."""
    plan = make_plan(settings(tmp_path, "images: [user/app]\ntags: ['type=ref,event=tag']\n"),
                     context(sha="", ref=""))

    assert plan.version is None
    assert plan.labels[f"{OCI}version"] == ""
    assert plan.labels[f"{OCI}revision"] == ""


def test_an_unknown_expression_in_a_label_is_an_input_error(tmp_path: Path) -> None:
    loaded = settings(tmp_path, 'images: [user/app]\nlabels: {a.b: "{{nope}}"}\n')
    with pytest.raises(InputError, match=r"labels\.a\.b: unknown expression") as info:
        make_plan(loaded, context())
    assert info.value.exit_code == 2


def test_a_labels_line_without_equals_is_ignored(tmp_path: Path) -> None:
    """As metadata-action: such a line is no label (DOCKYARD_LABELS was an error)."""
    env = {"DOCKYARD_LABELS": "maintainer=CrazyMax\nnot a label\n\ncom.x=a=b\n"}
    loaded = settings(tmp_path, "images: [user/app]\n", env)
    assert dict(loaded.labels) == {"maintainer": "CrazyMax", "com.x": "a=b"}


def test_build_args_without_equals_stay_an_error(tmp_path: Path) -> None:
    text = problems(tmp_path, "images: [user/app]\n", {"DOCKYARD_BUILD_ARGS": "NAME\n"})
    assert "DOCKYARD_BUILD_ARGS: line 1 is not NAME=value" in text


# --- annotations ------------------------------------------------------------------------


def test_annotations_are_the_oci_labels_at_the_manifest_by_default(tmp_path: Path) -> None:
    plan = make_plan(settings(tmp_path, """
        images: [user/app]
        labels: {com.example.label-only: x}
        annotations: {org.opencontainers.image.title: "{{branch}} app"}
    """), context())

    assert [str(a) for a in plan.annotations] == [
        f"manifest:{OCI}created=2020-01-10T00:30:00.000Z",
        f"manifest:{OCI}description=",
        f"manifest:{OCI}licenses=",
        f"manifest:{OCI}revision={SHA}",
        f"manifest:{OCI}source=https://github.com/octocat/Hello-World",
        f"manifest:{OCI}title=dev app",
        f"manifest:{OCI}url=https://github.com/octocat/Hello-World",
        f"manifest:{OCI}version=dev",
    ]
    assert plan.to_dict()["annotations"] == [str(a) for a in plan.annotations]


def test_annotation_levels_from_metadata_actions_variable(tmp_path: Path) -> None:
    env = {"DOCKER_METADATA_ANNOTATIONS_LEVELS": "manifest,index",
           "DOCKYARD_ANNOTATIONS": "com.example.team=payments\nno equals here\n"}
    plan = make_plan(settings(tmp_path, "images: [user/app]\nannotation_levels: [index]\n",
                              env), context())

    levels = [a.level for a in plan.annotations]
    assert levels == ["manifest"] * 9 + ["index"] * 9
    assert "index:com.example.team=payments" in [str(a) for a in plan.annotations]


@pytest.mark.parametrize(("text", "env", "where"), [
    ("annotation_levels: [manifest, image]\n", {}, "annotation_levels"),
    ("", {"DOCKER_METADATA_ANNOTATIONS_LEVELS": "index,layer"},
     "DOCKER_METADATA_ANNOTATIONS_LEVELS"),
])
def test_an_unknown_level_is_a_config_error(tmp_path: Path, text: str, env: dict[str, str],
                                            where: str) -> None:
    found = problems(tmp_path, "images: [user/app]\n" + text, env)
    assert where in found
    assert "unknown annotation level" in found


# --- images -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "entry"), [
    ("ghcr.io/user/app", ImageEntry("ghcr.io/user/app")),
    ("name=ghcr.io/user/app", ImageEntry("ghcr.io/user/app")),
    ("ghcr.io/user/app,enable=false", ImageEntry("ghcr.io/user/app", enabled=False)),
    ("name=user/app,enable=true", ImageEntry("user/app")),
    ("enablement/app", ImageEntry("enablement/app")),
])
def test_image_entries(text: str, entry: ImageEntry) -> None:
    assert parse_image_entry(text) == entry


@pytest.mark.parametrize(("text", "problem"), [
    ("user/app,enable=maybe", "enable 'maybe' is not allowed"),
    ("user/app,push=false", "unknown image attribute 'push'"),
    ("enable=true", "names no image"),
    ("user/app,other/app", "names two images"),
])
def test_bad_image_entries(text: str, problem: str) -> None:
    found = parse_image_entry(text)
    assert isinstance(found, str)
    assert problem in found


def test_a_switched_off_image_is_left_out(tmp_path: Path) -> None:
    """meta.test.ts: `ghcr.io/user/app,enable=false` drops that image's tags only."""
    env = {"DOCKYARD_IMAGES": "org/app\nghcr.io/user/app,enable=false\nname=ghcr.io/o/b\n"}
    loaded = settings(tmp_path, "images: [x/y]\n", env)

    assert loaded.images == ("org/app", "ghcr.io/o/b")
    assert any("ghcr.io/user/app' is switched off" in note for note in loaded.notes)
    assert make_plan(loaded, context()).references() == ["org/app:dev", "ghcr.io/o/b:dev"]


def test_every_image_switched_off_is_a_config_error(tmp_path: Path) -> None:
    found = problems(tmp_path, "images: ['user/app,enable=false']\n")
    assert "every image is switched off" in found


def test_a_bad_image_attribute_names_the_entry(tmp_path: Path) -> None:
    found = problems(tmp_path, "images: [user/app, 'org/app,enable=yes']\n")
    assert "images[1]" in found
    assert "enable 'yes' is not allowed; use true or false" in found
