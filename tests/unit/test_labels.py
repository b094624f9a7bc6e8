"""OCI labels: metadata-action's keys and formats, empty values included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dockyard.context import Context
from dockyard.labels import oci_labels, rfc3339

NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
URL = "https://github.com/octocat/Hello-World"


def ctx(**fields: Any) -> Context:
    values: dict[str, Any] = {"provider": "github", "event": "push",
                              "ref": "refs/heads/master", "sha": SHA, "now": NOW,
                              "repository": "octocat/Hello-World", "repo_url": URL}
    values.update(fields)
    return Context(**values)


def test_labels_as_metadata_action_writes_them() -> None:
    assert oci_labels(ctx(), "1.2.3") == {
        "org.opencontainers.image.created": "2020-01-10T00:30:00.000Z",
        "org.opencontainers.image.description": "",
        "org.opencontainers.image.licenses": "",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": URL,
        "org.opencontainers.image.title": "Hello-World",
        "org.opencontainers.image.url": URL,
        "org.opencontainers.image.version": "1.2.3",
    }


def test_repository_facts_from_the_api() -> None:
    labels = oci_labels(ctx(description="This your first repo!", licenses="MIT"), "1")
    assert labels["org.opencontainers.image.description"] == "This your first repo!"
    assert labels["org.opencontainers.image.licenses"] == "MIT"


def test_keys_are_sorted() -> None:
    keys = list(oci_labels(ctx(), "1.2.3"))
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("context", "version", "empty"),
    [
        (ctx(), None, {"version"}),
        (ctx(), "", {"version"}),
        (ctx(sha=""), "1", {"revision"}),
        (ctx(repo_url=None), "1", {"source", "url"}),
        (ctx(repository=None, repo_url=None), "1", {"source", "url", "title"}),
        (ctx(sha="", repository=None, repo_url=None), None,
         {"revision", "version", "source", "url", "title"}),
    ],
)
def test_unknown_values_are_empty(context: Context, version: str | None,
                                  empty: set[str]) -> None:
    """As metadata-action (event_null.env, event_empty.env in its meta.test.ts): every key,
    `org.opencontainers.image.version=` and `revision=` with nothing known."""
    labels = oci_labels(context, version)
    all_keys = {"created", "description", "licenses", "revision", "version", "source", "url",
                "title"}
    assert set(labels) == {f"org.opencontainers.image.{key}" for key in all_keys}
    assert {key.rsplit(".", 1)[1] for key, value in labels.items() if not value} == \
        empty | {"description", "licenses"}


@pytest.mark.parametrize(
    ("context", "title", "expected"),
    [
        (ctx(), "My App", "My App"),
        (ctx(), None, "Hello-World"),
        (ctx(repository="group/sub/project"), None, "project"),
        (ctx(repository=None, repo_url="https://gitlab.example.com/g/app.git"), None, "app"),
        (ctx(repository=None, repo_url="https://example.com/g/app/"), None, "app"),
    ],
)
def test_title(context: Context, title: str | None, expected: str) -> None:
    assert oci_labels(context, None, title=title)["org.opencontainers.image.title"] == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (NOW, "2020-01-10T00:30:00.000Z"),
        (datetime(2020, 1, 10, 9, 30, 0, 987654, tzinfo=timezone(timedelta(hours=9))),
         "2020-01-10T00:30:00.987Z"),
        (datetime(2020, 1, 10, 0, 30), "2020-01-10T00:30:00.000Z"),
        (datetime(5, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "0005-01-02T03:04:05.000Z"),
    ],
)
def test_created_is_rfc3339_utc(when: datetime, expected: str) -> None:
    assert rfc3339(when) == expected
    assert oci_labels(ctx(now=when), None)["org.opencontainers.image.created"] == expected
