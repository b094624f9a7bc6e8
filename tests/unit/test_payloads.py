"""Payload builders: each format checked field by field against a real release record."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from dockyard import payloads
from dockyard.context import Context
from dockyard.pipeline import Plan, RegistryResult, Result
from dockyard.tagging import PlannedTag, TagKind

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
DIGEST = "sha256:" + "ab" * 32
REPO_URL = "https://github.com/acme/app"
RUN_URL = "https://github.com/acme/app/actions/runs/42"
FINISHED = "2026-11-28T01:02:03Z"
EVENT_ID = "6f1c2b4e-0000-4000-8000-000000000001"


def record(event: str = "push.succeeded", **changes: Any) -> dict[str, Any]:
    """A release record made by the real Result, as the pipeline makes it."""
    context = Context(provider="github", event="push", ref="refs/tags/v1.2.3", sha=SHA,
                      now=datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc), tag="v1.2.3",
                      repository="acme/app", repo_url=REPO_URL, run_id="42", run_url=RUN_URL,
                      job_url=RUN_URL + "/job/7")
    tags = (PlannedTag("1.2.3", "type=semver,pattern={{version}}", 900, TagKind.RELEASE),
            PlannedTag("latest", "flavor latest=auto", 100, TagKind.VERSION_LINE, ()))
    plan = Plan(version="1.2.3", images=("ghcr.io/acme/app", "nginx"), tags=tags, skipped=(),
                labels={"org.opencontainers.image.version": "1.2.3"}, context=context)
    registries = (
        RegistryResult("ghcr.io/acme/app", "pushed", DIGEST, ("1.2.3", "latest")),
        RegistryResult("nginx", "failed", None, (), (("1.2.3", "not pushed"),), "denied"),
    )
    data = Result(plan=plan, status="success", image_id="sha256:" + "0" * 64,
                  registries=registries).to_dict()
    data["event"] = event
    data["timings"] = {"started_at": "2026-11-28T01:00:00Z", "finished_at": FINISHED,
                       "total_seconds": 123.0}
    data.update(changes)
    return data


def test_dockyard_format_is_the_record_itself() -> None:
    data = record()
    (payload,) = payloads.render("dockyard", data, event_id=EVENT_ID)
    assert payload == data
    assert payloads.content_type("dockyard") == "application/json"


def test_dockerhub_payload_has_docker_hubs_shape_for_each_image_that_got_tags() -> None:
    (payload,) = payloads.render("dockerhub", record(), event_id=EVENT_ID)  # nginx failed
    assert set(payload) == {"callback_url", "push_data", "repository"}
    assert payload["callback_url"] == ""
    assert payload["push_data"] == {
        "pushed_at": int(datetime(2026, 11, 28, 1, 2, 3, tzinfo=timezone.utc).timestamp()),
        "pusher": "dockyard",
        "tag": "1.2.3",
        "tags": ["1.2.3", "latest"],
        "digest": DIGEST,
        "images": [DIGEST],
    }
    assert payload["repository"] == {
        "comment_count": 0, "date_created": None, "description": "", "dockerfile": "",
        "full_description": "", "is_official": False, "is_private": False,
        "is_trusted": False, "name": "app", "namespace": "acme", "owner": "acme",
        "repo_name": "ghcr.io/acme/app", "repo_url": "https://ghcr.io/acme/app",
        "star_count": 0, "status": "Active",
    }


def test_dockerhub_names_hub_images_as_docker_hub_does() -> None:
    registries = [
        {"name": "nginx", "digest": DIGEST, "pushed": ["1.2.3"], "skipped": [],
         "status": "pushed", "error": None},
        {"name": "docker.io/acme/deep/app", "digest": DIGEST, "pushed": ["1"], "skipped": [],
         "status": "pushed", "error": None},
    ]
    official, deep = payloads.dockerhub(record(registries=registries))
    assert official["repository"]["repo_name"] == "library/nginx"
    assert official["repository"]["namespace"] == "library"
    assert official["repository"]["is_official"] is True
    assert official["repository"]["repo_url"] == "https://hub.docker.com/_/nginx"
    assert deep["repository"]["repo_name"] == "acme/deep/app"
    assert (deep["repository"]["namespace"], deep["repository"]["owner"]) == ("acme/deep", "acme")
    assert deep["repository"]["repo_url"] == "https://hub.docker.com/r/acme/deep/app"


def test_dockerhub_sends_nothing_when_nothing_was_pushed() -> None:
    assert payloads.render("dockerhub", record("build.failed", registries=[]),
                           event_id=EVENT_ID) == []


def test_slack_message_says_what_was_released_from_which_commit_with_a_run_link() -> None:
    (payload,) = payloads.render("slack", record(), event_id=EVENT_ID)
    assert payload["text"] == ":white_check_mark: Released ghcr.io/acme/app 1.2.3"
    headline, facts, links = payload["blocks"]
    assert headline == {"type": "section",
                        "text": {"type": "mrkdwn", "text": payload["text"]}}
    assert facts["type"] == "section"
    assert [f["text"] for f in facts["fields"]] == [
        "*Image*\n`ghcr.io/acme/app`\n`nginx`",
        "*Version*\n1.2.3",
        "*Tags*\n`1.2.3`, `latest`",
        f"*Commit*\n<{REPO_URL}/commit/{SHA}|`860c190`>",
        f"*Digest*\n`{DIGEST}`",
    ]
    assert all(f["type"] == "mrkdwn" for f in facts["fields"])
    assert links == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"<{RUN_URL}|View the run> · <{RUN_URL}/job/7|job>"}]}


def test_slack_failure_shows_the_error_escaped() -> None:
    data = record("push.failed", error="ghcr.io <denied> & more\n  hint: log in", digest=None)
    payload = payloads.slack(data)
    assert payload["text"].startswith(":x: Push failed: ghcr.io/acme/app")
    error = {"type": "mrkdwn", "text": "*Error:* ghcr.io &lt;denied&gt; &amp; more"}
    assert {"type": "section", "text": error} in payload["blocks"]


def test_slack_without_ci_links_or_repository() -> None:
    data = record("build.succeeded")
    data["context"] = {**data["context"], "run_url": None, "job_url": None, "repo_url": None}
    payload = payloads.slack(data)
    assert payload["text"] == ":white_check_mark: Built ghcr.io/acme/app 1.2.3"
    assert [b["type"] for b in payload["blocks"]] == ["section", "section"]
    assert "*Commit*\n`860c190`" in [f["text"] for f in payload["blocks"][1]["fields"]]


def test_cloudevent_is_a_structured_cloudevents_1_0_envelope() -> None:
    data = record()
    (event,) = payloads.render("cloudevents", data, event_id=EVENT_ID)
    assert event == {
        "specversion": "1.0",
        "id": EVENT_ID,
        "source": REPO_URL,
        "type": "dev.dockyard.push.succeeded",
        "time": FINISHED,
        "datacontenttype": "application/json",
        "subject": "ghcr.io/acme/app:1.2.3",
        "data": data,
    }
    assert payloads.content_type("cloudevents") == "application/cloudevents+json; charset=utf-8"


def test_cloudevent_source_without_a_repository_url() -> None:
    data = record("build.failed")
    data["context"] = {**data["context"], "repo_url": None}
    assert payloads.cloudevent(data, EVENT_ID)["source"] == "/dockyard/acme/app"
    data["context"]["repository"] = None
    assert payloads.cloudevent(data, EVENT_ID)["source"] == "/dockyard"


@pytest.mark.parametrize("fmt", payloads.FORMATS)
def test_every_payload_is_json(fmt: str) -> None:
    for payload in payloads.render(fmt, record(), event_id=EVENT_ID):
        assert json.loads(json.dumps(payload)) == payload


def test_unknown_format_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown webhook format"):
        payloads.render("xml", record(), event_id=EVENT_ID)


def test_slack_texts_stay_within_slacks_limits() -> None:
    many = [{"name": "ghcr.io/acme/app", "digest": DIGEST, "status": "pushed", "error": None,
             "pushed": [f"tag-{n:04d}" for n in range(400)], "skipped": []}]
    payload = payloads.slack(record("push.failed", registries=many, error="x" * 5000))
    texts = [f["text"] for f in payload["blocks"][1]["fields"]]
    assert max(len(t) for t in texts) == 2000 and texts[2].endswith("…")
    error = payload["blocks"][2]["text"]["text"]
    assert len(error) == 3000 and error.startswith("*Error:* xxx")
