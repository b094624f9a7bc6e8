"""dockyard.ci.inputs and settings: a CI wrapper's DOCKYARD_* inputs over dockyard.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci.inputs import read_inputs
from dockyard.errors import ConfigError
from dockyard.settings import Overrides, load_settings, settings_from_inputs

FILE = """\
images: [127.0.0.1:5000/acme/from-file]
tags: [type=sha]
labels: {team: core, tier: web}
build:
  args: {A: "1", B: "2"}
registries:
  127.0.0.1:5000: {username: file-user, password: file-pass}
  127.0.0.1:5001: {username: other, password: other-pass}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Other.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "dockyard.yml").write_text(FILE)
    return tmp_path


def settle(project: Path, env: dict[str, str], *, push: bool | None = None):  # type: ignore[no-untyped-def]
    overrides = Overrides(push=push, inputs=read_inputs(env, project))
    return load_settings(project / "dockyard.yml", env, overrides)


def test_lists_replace_and_mappings_merge_by_key(project: Path) -> None:
    settings = settle(project, {
        "DOCKYARD_IMAGES": "# release images\n127.0.0.1:5000/acme/a\n\n 127.0.0.1:5001/acme/a \n",
        "DOCKYARD_TAGS": "type=semver,pattern={{version}}\ntype=ref,event=branch\n",
        "DOCKYARD_LABELS": "tier=api\nnote=a=b\n",
        "DOCKYARD_BUILD_ARGS": "B=two\nC=3",
        "DOCKYARD_REGISTRIES": "127.0.0.1:5000: {username: ci-user, password: ci-pass}",
        "DOCKYARD_TARGET": "runtime",
        "DOCKYARD_CONTEXT": "sub", "DOCKYARD_FILE": "sub/Other.Dockerfile",
    })
    assert settings.images == ("127.0.0.1:5000/acme/a", "127.0.0.1:5001/acme/a")
    assert settings.tag_rules is not None and len(settings.tag_rules) == 2
    assert settings.labels == {"team": "core", "tier": "api", "note": "a=b"}
    assert settings.build.args == {"A": "1", "B": "two", "C": "3"}
    assert settings.build.target == "runtime"
    assert settings.build.context == project / "sub"
    assert Path(settings.build.dockerfile) == project / "sub" / "Other.Dockerfile"
    assert settings.registries["127.0.0.1:5000"].username == "ci-user"
    assert settings.registries["127.0.0.1:5000"].password.reveal() == "ci-pass"
    assert settings.registries["127.0.0.1:5001"].username == "other"


def test_empty_inputs_leave_the_file_alone(project: Path) -> None:
    names = ("IMAGES", "TAGS", "FLAVOR", "LABELS", "CONTEXT", "FILE", "BUILD_ARGS", "TARGET",
             "PUSH", "REGISTRIES", "WEBHOOKS", "DEFAULT_IMAGES")
    settings = settle(project, {f"DOCKYARD_{name}": "" for name in names})
    assert settings.images == ("127.0.0.1:5000/acme/from-file",)
    assert settings.push is True
    assert settings.registries["127.0.0.1:5000"].username == "file-user"


def test_inputs_read_the_environment_like_the_file_and_flags_still_win(project: Path) -> None:
    settings = settle(project, {
        "DOCKYARD_REGISTRIES": '{"127.0.0.1:5002": {"username": "u", "password": "${TOKEN}"},'
                               ' "": {"username": "", "password": "${UNSET:-}"}}',
        "TOKEN": "from-env", "DOCKYARD_PUSH": "true",
    }, push=False)
    assert settings.registries["127.0.0.1:5002"].password.reveal() == "from-env"
    assert "" not in settings.registries  # an unset CI_REGISTRY: nothing to log in to
    assert settings.push is False


def test_default_images_only_when_nothing_else_names_images(project: Path) -> None:
    env = {"DOCKYARD_DEFAULT_IMAGES": "127.0.0.1:5000/group/project"}
    assert settle(project, env).images == ("127.0.0.1:5000/acme/from-file",)
    (project / "dockyard.yml").unlink()
    settings = settings_from_inputs(project, env, Overrides(inputs=read_inputs(env, project)))
    assert settings.images == ("127.0.0.1:5000/group/project",)
    assert settings.push is True and not settings.zero_config
    assert settings.source.startswith("inputs")


def test_a_bad_input_is_reported_by_its_variable_with_the_files_problems(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settle(project, {"DOCKYARD_TAGS": "type=semvr", "DOCKYARD_IMAGES": "bad//name"})
    problems = caught.value.problems
    assert any(p.startswith("tags[0] (from DOCKYARD_TAGS): ") for p in problems)
    assert any(p.startswith("images[0] (from DOCKYARD_IMAGES): ") for p in problems)
    (project / "dockyard.yml").write_text(FILE + "tagz: []\n")
    with pytest.raises(ConfigError) as caught:
        settle(project, {"DOCKYARD_WEBHOOKS": "- url: ftp://hooks.example.com/x"})
    problems = caught.value.problems
    assert any(p.startswith("webhooks[0].url (from DOCKYARD_WEBHOOKS): ") for p in problems)
    assert any(p.startswith("line 9: tagz: unknown key") for p in problems)


def test_malformed_inputs_never_quote_what_may_be_a_secret(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_inputs({"DOCKYARD_BUILD_ARGS": "TOKEN_s3cr3t-value",
                     "DOCKYARD_REGISTRIES": "host: {password: s3cr3t-value"}, project)
    text = str(caught.value)
    assert "DOCKYARD_BUILD_ARGS: line 1 is not NAME=value" in text
    assert "DOCKYARD_REGISTRIES: line 1: not valid YAML" in text
    assert "s3cr3t" not in text
