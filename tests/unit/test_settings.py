"""Settings: loading, interpolation, validation with every problem reported together."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dockyard.errors import ConfigError
from dockyard.secrets import Secret, redact
from dockyard.settings import Overrides, find_config, load_settings


def write(tmp_path: Path, text: str, dockerfile: bool = True) -> Path:
    if dockerfile:
        (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "dockyard.yml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env or {})
    assert info.value.exit_code == 2
    return info.value.problems


def test_full_config_is_read_and_frozen(tmp_path: Path) -> None:
    path = write(tmp_path, """
        images:
          - ghcr.io/acme/app
          - 127.0.0.1:5000/acme/app
        tags:
          - type=semver,pattern={{version}}
          - type=sha
        flavor:
          - latest=auto
        labels:
          org.example.team: payments
        build:
          context: .
          dockerfile: Dockerfile
          args: {PYTHON_VERSION: "3.12", DEBUG: false, WORKERS: 4}
          target: runtime
        registries:
          ghcr.io:
            username: ${GITHUB_ACTOR}
            password: ${GITHUB_TOKEN}
        webhooks:
          - url: https://hooks.example.com/deploy
            secret: ${WEBHOOK_SECRET}
            required: true
    """)
    env = {"GITHUB_ACTOR": "octocat", "GITHUB_TOKEN": "ghp_tokenvalue", "WEBHOOK_SECRET": "s3cr3t"}
    settings = load_settings(path, env)
    assert settings.images == ("ghcr.io/acme/app", "127.0.0.1:5000/acme/app")
    assert settings.tag_rules is not None and len(settings.tag_rules) == 2
    assert settings.labels == {"org.example.team": "payments"}
    assert settings.build.context == tmp_path.resolve()
    assert settings.build.args == {"PYTHON_VERSION": "3.12", "DEBUG": "false", "WORKERS": "4"}
    assert settings.build.target == "runtime"
    credentials = settings.credentials_for("ghcr.io/acme/app")
    assert credentials is not None and credentials.username == "octocat"
    assert credentials.password.reveal() == "ghp_tokenvalue"
    assert "ghp_tokenvalue" not in repr(settings)
    assert settings.credentials_for("127.0.0.1:5000/acme/app") is None
    assert settings.webhooks[0].required is True
    assert settings.push is True and settings.force is False
    with pytest.raises(AttributeError):
        settings.push = False  # type: ignore[misc]


def test_secrets_are_registered_for_redaction_when_read(tmp_path: Path) -> None:
    path = write(tmp_path, """
        images: [ghcr.io/acme/app]
        registries:
          ghcr.io: {username: u, password: "${TOKEN}"}
    """)
    load_settings(path, {"TOKEN": "registered-when-read-9731"})
    assert redact("auth failed for registered-when-read-9731!") == "auth failed for ***!"


def test_an_api_token_is_a_secret_beside_the_registry_login(tmp_path: Path) -> None:
    path = write(tmp_path, """
        images: [quay.io/acme/app, registry.gitlab.com/acme/app]
        registries:
          quay.io: {username: "acme+bot", password: p, api_token: "${QUAY_TOKEN}"}
          registry.gitlab.com: {username: u, password: p, api_token: "${GITLAB_TOKEN:-}"}
    """)
    settings = load_settings(path, {"QUAY_TOKEN": "quay-api-token-5521"})
    quay = settings.credentials_for("quay.io/acme/app")
    assert quay is not None and quay.api_token is not None
    assert quay.api_token.reveal() == "quay-api-token-5521"
    assert "quay-api-token-5521" not in repr(settings)
    assert redact("token quay-api-token-5521") == "token ***"
    gitlab = settings.credentials_for("registry.gitlab.com/acme/app")
    assert gitlab is not None and gitlab.api_token is None  # empty: none


def test_defaults_and_flag_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, "images: [acme/app]\npush: true\n")
    assert load_settings(path, {}).tag_rules is None
    assert load_settings(path, {"DOCKYARD_PUSH": "false"}).push is False
    flags_win = load_settings(path, {"DOCKYARD_PUSH": "true"}, Overrides(push=False, force=True))
    assert flags_win.push is False and flags_win.force is True


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ('images: ["acme/${NAME}"]', {"NAME": "app"}, "acme/app"),
        ('images: ["acme/${NAME:-fallback}"]', {}, "acme/fallback"),
        ('images: ["acme/${NAME:-fallback}"]', {"NAME": ""}, "acme/fallback"),
        ('images: ["acme/${NAME:-fallback}"]', {"NAME": "set"}, "acme/set"),
        ('images: ["acme/${A}-${B}"]', {"A": "x", "B": "y"}, "acme/x-y"),
        ("labels: {x: $$HOME}\nimages: [acme/app]", {}, None),
    ],
)
def test_interpolation(tmp_path: Path, text: str, env: dict[str, str],
                       expected: str | None) -> None:
    settings = load_settings(write(tmp_path, text), env)
    if expected is None:
        assert settings.labels == {"x": "$HOME"}
    else:
        assert settings.images == (expected,)


def test_every_problem_is_reported_together_with_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, """
        images:
          - ghcr.io/acme/app
        tagz:
          - type=sha
        build:
          dockerfile: 12
        registries:
          ghcr.io:
            username: someone
        webhooks:
          - url: https://example.com/${MISSING_VAR}
    """)
    problems = problems_of(path)
    text = "\n".join(problems)
    assert "line 4: tagz: unknown key (did you mean 'tags'?)" in text
    assert "line 12: webhooks[0].url: uses ${MISSING_VAR}, which is not set" in text
    assert "line 7: build.dockerfile: must be a string, not a whole number" in text
    assert "line 9: registries.ghcr.io.password: is required" in text
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("images: ghcr.io/acme/app", "images: must be a list, not a string"),
        ("images: []", "images: needs at least 1 item"),
        ("tags: [type=sha]", "images: is required"),
        ("images: [GHCR.io/acme/App_]", "images[0]: 'ghcr.io/acme/app_': path component"),
        ("images: [ghcr.io/acme/app:1.0]", "images[0]: 'ghcr.io/acme/app:1.0' has a tag"),
        ("images: [acme/app, acme/app]", "images[1]: 'acme/app' is listed twice"),
        ("images: [acme/app]\npush: yes please", "push: must be true or false"),
        ("images: [acme/app]\nwebhooks: [{url: ftp://x}]",
         "webhooks[0].url: must be an http:// or https:// URL"),
        ("images: [acme/app]\nwebhooks: [{uri: https://x}]",
         "webhooks[0].uri: unknown key (did you mean 'url'?)"),
        ("images: [acme/app]\nbuild: {dockerfile: Nope}", "build.dockerfile: no Dockerfile"),
        ("images: [acme/app]\nbuild: {context: missing}", "build.context:"),
        ("images: [acme/app]\ntags: [type=nonsense]", "tags[0]:"),
        ("- just\n- a list", "the file must be a mapping"),
        ("images: [acme/app\n", "not valid YAML"),
        ("images: [\"acme/${BROKEN\"]", "is not a valid variable reference"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    problems = problems_of(write(tmp_path, text))
    assert any(fragment in p for p in problems), problems


def test_config_error_message_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "imagez: [acme/app]")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert str(info.value).startswith(f"{path}: 2 problems:")


def test_find_config(tmp_path: Path) -> None:
    assert find_config(tmp_path, None, {}) is None
    write(tmp_path, "images: [acme/app]")
    assert find_config(tmp_path, None, {}) == tmp_path / "dockyard.yml"
    other = tmp_path / "other.yml"
    other.write_text("images: [acme/app]")
    assert find_config(tmp_path, None, {"DOCKYARD_CONFIG": "other.yml"}) == other
    with pytest.raises(ConfigError, match="does not exist"):
        find_config(tmp_path, "nope.yml", {})


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-value")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert "hunter2" not in f"{[secret]}"
    assert secret.reveal() == "hunter2-value"


def test_keys_are_interpolated_and_empty_credentials_fall_back_to_docker_config(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, """
        images: ["${CI_REGISTRY_IMAGE:-registry.gitlab.com/g/p}"]
        registries:
          "${CI_REGISTRY:-registry.gitlab.com}":
            username: ${CI_REGISTRY_USER:-}
            password: ${CI_REGISTRY_PASSWORD:-}
    """)
    outside_ci = load_settings(path, {})
    assert outside_ci.images == ("registry.gitlab.com/g/p",)
    assert outside_ci.registries == {}
    in_ci = load_settings(path, {"CI_REGISTRY_IMAGE": "gitlab.example.com:5050/g/p",
                                 "CI_REGISTRY": "gitlab.example.com:5050",
                                 "CI_REGISTRY_USER": "gitlab-ci-token",
                                 "CI_REGISTRY_PASSWORD": "job-token-value"})
    credentials = in_ci.credentials_for("gitlab.example.com:5050/g/p")
    assert credentials is not None and credentials.username == "gitlab-ci-token"


def test_upper_case_image_names_are_lower_cased_with_a_note(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, 'images: ["ghcr.io/${OWNER}/app"]'),
                             {"OWNER": "Acme-Corp"})
    assert settings.images == ("ghcr.io/acme-corp/app",)
    assert settings.notes == ("images[0]: 'ghcr.io/Acme-Corp/app' is used as "
                              "'ghcr.io/acme-corp/app' (registries only accept lower-case names)",)


def test_registered_secrets_are_listed_for_ci_masking() -> None:
    from dockyard.secrets import known, register

    register("remote-url-token-5150")
    assert "remote-url-token-5150" in known()


def test_registry_key_without_the_port_of_the_images_gets_a_did_you_mean(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, """\
        images: [127.0.0.1:5732/acme/app, ghcr.io/acme/app]
        registries:
          127.0.0.1: {username: ci, password: pw}
          ghcr.oi: {username: ci, password: pw}
          ghcr.io: {username: ci, password: pw}
        """)

    notes = load_settings(path, {}).notes

    assert notes == (
        "registries.127.0.0.1: no image in `images:` is on 127.0.0.1 (they are on "
        "127.0.0.1:5732, ghcr.io), so `run` never logs in with these credentials: did you "
        "mean '127.0.0.1:5732'? (a port is part of the host)",
        "registries.ghcr.oi: no image in `images:` is on ghcr.oi (they are on "
        "127.0.0.1:5732, ghcr.io), so `run` never logs in with these credentials: did you "
        "mean 'ghcr.io'? (a port is part of the host)",
    )


def test_registry_key_matching_no_image_is_noted(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        images: [ghcr.io/acme/app]
        registries:
          quay.io: {username: ci, password: pw}
        """)

    [note] = load_settings(path, {}).notes

    assert note.startswith("registries.quay.io: no image in `images:` is on quay.io")
    assert "did you mean" not in note
    assert "only `promote` to a target on quay.io would" in note


@pytest.mark.parametrize("port", ["99999", "0", "123456"])
def test_registry_key_port_out_of_range_is_a_problem(tmp_path: Path, port: str) -> None:
    path = write(tmp_path, f"""\
        images: [ghcr.io/acme/app]
        registries:
          "127.0.0.1:{port}": {{username: ci, password: pw}}
        """)

    assert problems_of(path) == (
        f"line 3: registries.127.0.0.1:{port}: '127.0.0.1:{port}': port {port} is not a "
        "port; ports go from 1 to 65535",
    )


def test_a_problem_whose_key_has_no_line_is_placed_without_looping() -> None:
    """A dotted path whose top-level key the file has no line for (a CI input, a default)
    once looped forever looking for the enclosing key's line."""
    from dockyard.settings import _locate

    assert _locate("registries.127.0.0.1:99999", "bad port", {}) == \
        "registries.127.0.0.1:99999: bad port"
    assert _locate("webhooks[0].url", "missing", {"webhooks": 4}) == \
        "line 4: webhooks[0].url: missing"
    assert _locate("images", "empty", {}) == "images: empty"


def test_an_item_of_a_list_given_as_one_string_is_placed_on_its_key_line(
        tmp_path: Path) -> None:
    """`platforms: linux/amd64,windows` has no line per item: the problem is on the key's
    line, not on the line of `build:` above it."""
    path = write(tmp_path, """\
        images: [127.0.0.1:5000/acme/app]
        build:
          context: .
          platforms: linux/amd64,windows
          cache_to: "type=registry,mode=max"
        """)
    problems = problems_of(path)
    assert any(p.startswith("line 4: build.platforms[1]: 'windows'") for p in problems), problems
    assert any(p.startswith("line 5: build.cache_to[0]:") for p in problems), problems


def test_a_rule_split_by_a_yaml_flow_list_says_so(tmp_path: Path) -> None:
    """`tags: [type=ref,event=branch]` is two YAML items, `type=ref` and `event=branch`:
    the second's problem says how to write the rule."""
    path = write(tmp_path, "images: [127.0.0.1:5000/acme/app]\n"
                           "tags: [type=ref,event=branch]\n")
    problems = problems_of(path)
    split = [p for p in problems if p.startswith("line 2: tags[1]: unknown attribute 'event'")]
    assert split and "a YAML flow list ([a, b]) splits at every comma" in split[0], problems
    assert '"type=ref,event=branch"' in split[0]


def test_problems_are_listed_in_the_order_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dockyard.yml"
    path.write_text("tags: [type=sha]\nflavour: [latest=false]\nimages: [a/b]\nimages: [a/c]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.problems[:2] == (
        "line 2: flavour: unknown key (did you mean 'flavor'?)",
        "line 4: images: is given twice (also on line 3); keep one")
    assert caught.value.problems[2].startswith("build: no Dockerfile")  # no line: last
