"""The pure decisions of publishing: version order, which tags are guarded, release tags."""

from __future__ import annotations

import pytest

from dockyard.publish import Release, held_back, is_guarded, parse_version
from dockyard.tagging import PlannedTag


def tag(name: str, rule: str, floating: bool = True) -> PlannedTag:
    return PlannedTag(name=name, rule=rule, priority=900, floating=floating)


@pytest.mark.parametrize(("text", "parsed"), [
    ("1.2.3", "1.2.3"), ("v2.0.0", "2.0.0"), ("1.4", "1.4.0"), ("3", "3.0.0"),
    ("2.0.0-rc.1", "2.0.0-rc.1"), ("main", None), ("sha-abc1234", None), ("", None),
    (None, None),
])
def test_versions_are_read_as_semver_or_not_at_all(text: str | None,
                                                   parsed: str | None) -> None:
    version = parse_version(text)
    assert (str(version) if version else None) == parsed


def test_a_backport_never_moves_latest_backwards() -> None:
    assert held_back("latest", "2.0.0", "1.4.2") == \
        "held back: latest points at 2.0.0, newer than 1.4.2"
    assert held_back("1", "1.4.1", "1.4.2") is None
    assert held_back("latest", "1.4.2", "2.0.0") is None


def test_semver_order_not_string_order() -> None:
    assert held_back("latest", "1.10.0", "1.9.0") is not None
    assert held_back("latest", "1.9.0", "1.10.0") is None
    assert held_back("latest", "2.0.0", "2.0.0-rc.1") is not None  # a pre-release is lower
    assert held_back("latest", "2.0.0-rc.1", "2.0.0") is None
    assert held_back("latest", "v2.0.0", "2.0.1") is None


def test_same_version_moves_and_unknown_versions_do_not_block() -> None:
    assert held_back("latest", "2.0.0", "2.0.0") is None  # a --force rebuild of the release
    assert held_back("latest", None, "1.0.0") is None
    assert held_back("main", "main", "main") is None


def test_a_non_semver_build_does_not_take_a_tag_from_a_release() -> None:
    reason = held_back("latest", "2.0.0", "main")
    assert reason is not None and "not a semver version" in reason


def test_only_latest_and_version_lines_are_guarded() -> None:
    assert is_guarded(tag("latest", "flavor latest=auto"))
    assert is_guarded(tag("latest", "type=raw,value=latest"))
    assert is_guarded(tag("1.2", "type=semver,pattern={{major}}.{{minor}}"))
    assert is_guarded(tag("1", "type=pep440,pattern={{major}}"))
    assert not is_guarded(tag("main", "type=ref,event=branch"))
    assert not is_guarded(tag("nightly", "type=schedule"))


def test_release_tags_carry_the_upload_and_floating_tags_follow() -> None:
    tags = (tag("1.2.3", "type=semver,pattern={{version}}", floating=False),
            tag("sha-abc1234", "type=sha", floating=False),
            tag("1.2", "type=semver,pattern={{major}}.{{minor}}"),
            tag("latest", "flavor latest=auto"))
    release = Release(images=("a",), tags=tags, version="1.2.3", revision="abc")
    assert release.release_tags == ["1.2.3", "sha-abc1234"]
    assert [t.name for t in release.floating_tags] == ["1.2", "latest"]


def test_a_plan_of_floating_tags_only_uploads_under_its_first_tag() -> None:
    release = Release(images=("a",), tags=(tag("main", "type=ref,event=branch"),
                                           tag("edge", "type=edge")),
                      version="main", revision="abc")
    assert release.release_tags == ["main"]
    assert [t.name for t in release.floating_tags] == ["edge"]
