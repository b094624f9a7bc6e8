"""The pure decisions of publishing: version order, tag kinds, lines, release tags."""

from __future__ import annotations

import pytest

from dockyard import versions
from dockyard.publish import Release, held_back, promoted_tag
from dockyard.publish.policy import (
    newest_in_line,
    release_affixes,
    release_versions,
    rollback,
)
from dockyard.tagging import PlannedTag, TagKind

RELEASE, LINE, CHANNEL = TagKind.RELEASE, TagKind.VERSION_LINE, TagKind.CHANNEL


def tag(name: str, kind: TagKind, line: tuple[int, ...] | None = None) -> PlannedTag:
    return PlannedTag(name=name, rule="type=test", priority=900, kind=kind, line=line)


@pytest.mark.parametrize(("text", "parsed"), [
    ("1.2.3", "1.2.3"), ("v2.0.0", "2.0.0"), ("1.4", "1.4.0"), ("3", "3.0.0"),
    ("2.0.0-rc.1", "2.0.0-rc.1"), ("main", None), ("sha-abc1234", None), ("", None),
    (None, None),
])
def test_labels_are_read_as_semver_or_not_at_all(text: str | None, parsed: str | None) -> None:
    version = versions.parse(text, partial=True)
    assert (str(version) if version else None) == parsed


def test_only_labels_may_leave_out_minor_and_patch() -> None:
    assert versions.parse("1.4") is None
    assert str(versions.parse("v1.4.0")) == "1.4.0"


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


def test_a_channel_moving_to_a_lower_version_is_a_rollback() -> None:
    assert rollback("stable", "1.3.0", "1.0.1") == "rollback: stable moves from 1.3.0 back to 1.0.1"
    assert rollback("stable", "1.0.1", "1.3.0") is None
    assert rollback("stable", None, "1.0.1") is None
    assert rollback("stable", "main", "1.0.1") is None


@pytest.mark.parametrize(("name", "kind", "line"), [
    ("latest", LINE, ()), ("1", LINE, (1,)), ("v1.2", LINE, (1, 2)), ("1.2.3", RELEASE, None),
    ("v2.0.0-rc.1", RELEASE, None), ("stable", CHANNEL, None), ("prod-2026", CHANNEL, None),
    ("1.2.3.4", CHANNEL, None),
])
def test_promoted_tags_get_their_kind_from_their_name(name: str, kind: TagKind,
                                                      line: tuple[int, ...] | None) -> None:
    promoted = promoted_tag(name, 0)
    assert (promoted.kind, promoted.line) == (kind, line)


def test_other_builds_release_tags_are_read_back_as_versions() -> None:
    tags = (tag("v1.2.3-alpine", RELEASE), tag("sha-abc1234", RELEASE), tag("1.2", LINE, (1, 2)))
    affixes = release_affixes(tags, versions.parse("1.2.3"))
    assert affixes == [("v", "-alpine")]
    found = release_versions(["v1.2.4-alpine", "v1.3.0-alpine", "1.2.5", "v-alpine",
                              "vmain-alpine", "v1.2.6-rc.1-alpine"], affixes)
    assert {name: str(v) for name, v in found.items()} == {
        "v1.2.4-alpine": "1.2.4", "v1.3.0-alpine": "1.3.0", "v1.2.6-rc.1-alpine": "1.2.6-rc.1"}


def test_the_newest_release_of_a_line_above_this_build() -> None:
    held = {name: v for name in ("1.2.4", "1.3.0", "2.0.0-rc.1", "1.2.9-beta")
            if (v := versions.parse(name)) is not None}
    ours = versions.parse("1.2.3")
    assert newest_in_line((1, 2), ours, held) == ("1.2.4", versions.parse("1.2.4"))
    assert newest_in_line((1,), ours, held) == ("1.3.0", versions.parse("1.3.0"))
    assert newest_in_line((), ours, held) == ("1.3.0", versions.parse("1.3.0"))  # no rc
    assert newest_in_line((2,), ours, held) is None
    assert newest_in_line((1, 2), versions.parse("1.2.4"), held) is None


def test_release_tags_carry_the_upload_and_floating_tags_follow() -> None:
    tags = (tag("1.2.3", RELEASE), tag("sha-abc1234", RELEASE), tag("1.2", LINE, (1, 2)),
            tag("latest", LINE, ()), tag("main", CHANNEL))
    release = Release(images=("a",), tags=tags, version="1.2.3", revision="abc")
    assert release.release_tags == ["1.2.3", "sha-abc1234"]
    assert [t.name for t in release.floating_tags] == ["1.2", "latest", "main"]


def test_a_plan_of_channels_only_uploads_under_its_first_tag() -> None:
    release = Release(images=("a",), tags=(tag("main", CHANNEL), tag("edge", CHANNEL)),
                      version="main", revision="abc")
    assert release.release_tags == ["main"]
    assert release.immutable_tags == []
    assert [t.name for t in release.floating_tags] == ["edge"]
