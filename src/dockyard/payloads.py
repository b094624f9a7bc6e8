"""Webhook payloads: the release record in the shapes receivers already speak. Pure.

Every builder takes the release record (`pipeline.Result.to_dict()`, which carries its
`event`) and returns JSON-ready mappings; `webhooks` encodes, signs and sends them.

- `dockyard`: the record itself.
- `dockerhub`: Docker Hub's push payload, one per image name that received tags (Docker
  Hub sends one per push; one per image name keeps one deploy per repository rather than
  one per tag of the same digest). Nothing pushed: nothing to send.
- `slack`: an incoming-webhook message (`text` for notifications, `blocks` for reading).
- `cloudevents`: a CloudEvents 1.0 structured-mode JSON event with the record as `data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dockyard.names import DOCKER_HUB, parse_image

EVENTS = ("build.succeeded", "build.failed", "push.succeeded", "push.failed")
FORMATS = ("dockyard", "dockerhub", "slack", "cloudevents")
CLOUDEVENTS_TYPE_PREFIX = "dev.dockyard."
JSON = "application/json"
_CONTENT_TYPES = {"cloudevents": "application/cloudevents+json; charset=utf-8"}
_SLACK_FIELD_LIMIT = 2000  # characters, Slack's limits for a field and a section's text
_SLACK_TEXT_LIMIT = 3000

Payload = dict[str, Any]


def content_type(fmt: str) -> str:
    """The Content-Type a payload of this format is sent with."""
    return _CONTENT_TYPES.get(fmt, JSON)


def render(fmt: str, record: Mapping[str, Any], *, event_id: str) -> list[Payload]:
    """The payloads one webhook of format `fmt` receives for this record, in order."""
    if fmt == "dockyard":
        return [dict(record)]
    if fmt == "dockerhub":
        return dockerhub(record)
    if fmt == "slack":
        return [slack(record)]
    if fmt == "cloudevents":
        return [cloudevent(record, event_id)]
    raise ValueError(f"unknown webhook format {fmt!r}")  # settings validated it: a bug


def dockerhub(record: Mapping[str, Any]) -> list[Payload]:
    """Docker Hub's webhook payload, one per image name that received at least one tag.

    `push_data.tag` is the first tag written (the highest-priority release tag); Dockyard
    adds `push_data.tags` (all written) and `push_data.digest`. Fields Docker Hub fills
    from its own database (stars, descriptions, visibility) are neutral values.
    `callback_url` is empty: Docker Hub no longer supports it either.
    """
    context = record.get("context") or {}
    pushed_at = _epoch(_timings(record).get("finished_at") or context.get("now"))
    payloads = []
    for entry in record.get("registries") or ():
        if not entry.get("pushed"):
            continue
        image = parse_image(entry["name"])
        namespace, _, name = image.path.rpartition("/")
        repo_name = image.repository if image.host != DOCKER_HUB else image.path
        payloads.append({
            "callback_url": "",
            "push_data": {
                "pushed_at": pushed_at,
                "pusher": "dockyard",
                "tag": entry["pushed"][0],
                "tags": list(entry["pushed"]),
                "digest": entry.get("digest"),
                "images": [entry["digest"]] if entry.get("digest") else [],
            },
            "repository": {
                "comment_count": 0,
                "date_created": None,
                "description": "",
                "dockerfile": "",
                "full_description": "",
                "is_official": image.host == DOCKER_HUB and namespace == "library",
                "is_private": False,
                "is_trusted": False,
                "name": name,
                "namespace": namespace,
                "owner": namespace.split("/")[0],
                "repo_name": repo_name,
                "repo_url": _repository_page(image.host, image.path),
                "star_count": 0,
                "status": "Active",
            },
        })
    return payloads


def slack(record: Mapping[str, Any]) -> Payload:
    """A Slack incoming-webhook message: what was released, where, from which commit."""
    event = str(record.get("event") or "")
    context = record.get("context") or {}
    images = [entry["name"] for entry in record.get("registries") or ()]
    images = images or sorted({ref.rsplit(":", 1)[0] for ref in record.get("tags") or ()})
    subject = images[0] if images else "image"
    version = record.get("version") or "(no version)"
    headline = {
        "build.succeeded": "Built",
        "build.failed": "Build failed:",
        "push.succeeded": "Released",
        "push.failed": "Push failed:",
    }.get(event, event)
    icon = ":x:" if event.endswith(".failed") else ":white_check_mark:"
    text = _escape(f"{icon} {headline} {subject} {version}")

    tags = list(dict.fromkeys(tag for entry in record.get("registries") or ()
                              for tag in entry["pushed"]))
    fields = [
        _field("Image", "\n".join(f"`{_escape(name)}`" for name in images) or "(none)"),
        _field("Version", _escape(version)),
        _field("Tags", ", ".join(f"`{_escape(tag)}`" for tag in tags) or "(none pushed)"),
        _field("Commit", _commit_link(context)),
    ]
    if record.get("digest"):
        fields.append(_field("Digest", f"`{_escape(record['digest'])}`"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "fields": fields},
    ]
    if record.get("error"):
        first_line = str(record["error"]).splitlines()[0]
        error = _clip(f"*Error:* {_escape(first_line)}", _SLACK_TEXT_LIMIT)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": error}})
    links = [f"<{url}|{label}>" for label, url in (("View the run", context.get("run_url")),
                                                      ("job", context.get("job_url"))) if url]
    if links:
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": text, "blocks": blocks}


def cloudevent(record: Mapping[str, Any], event_id: str) -> Payload:
    """A CloudEvents 1.0 event in structured JSON mode; `data` is the record."""
    context = record.get("context") or {}
    repository = context.get("repository")
    source = context.get("repo_url") or ("/dockyard/" + repository if repository
                                         else "/dockyard")
    event: Payload = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": CLOUDEVENTS_TYPE_PREFIX + str(record.get("event")),
        "datacontenttype": JSON,
        "data": dict(record),
    }
    finished = _timings(record).get("finished_at")
    if finished:
        event["time"] = finished
    references = record.get("tags") or ()
    if references:
        event["subject"] = references[0]
    return event


def _timings(record: Mapping[str, Any]) -> Mapping[str, Any]:
    timings: Mapping[str, Any] = record.get("timings") or {}
    return timings


def _epoch(moment: str | None) -> int | None:
    if not moment:
        return None
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())


def _repository_page(host: str, path: str) -> str:
    if host == DOCKER_HUB:
        namespace, _, name = path.rpartition("/")
        if namespace == "library":
            return f"https://hub.docker.com/_/{name}"
        return f"https://hub.docker.com/r/{path}"
    return f"https://{host}/{path}"


def _field(title: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(f"*{title}*\n{value}", _SLACK_FIELD_LIMIT)}


def _clip(text: str, limit: int) -> str:
    """Slack refuses a whole message whose block text is over its limit: shorten instead."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _commit_link(context: Mapping[str, Any]) -> str:
    sha = context.get("sha") or ""
    if not sha:
        return "(unknown)"
    short = f"`{sha[:7]}`"
    repo_url = context.get("repo_url")
    return f"<{repo_url}/commit/{sha}|{short}>" if repo_url else short


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
