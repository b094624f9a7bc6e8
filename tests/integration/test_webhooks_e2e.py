"""Webhooks through the real `dockyard run`: real engine, registries and HTTP receivers.

Every test pushes to repositories named after itself, so the shared registries stay
independent between tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from support.cli import Outcome, run_cli
from support.receiver import RecordedRequest, WebhookReceiver, verify_signature
from support.registry import Registry

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"
SECRET = "whsec-hooks-e2e-7781"
HEADER_TOKEN = "hdr-tok-e2e-40213"
PATH_TOKEN = "XyZpathtoken93817"  # a Slack-style URL: the path is the credential


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    return run_cli(repo, *args, env=env)


def write_config(repo: Path, images: list[str], hooks: str, extra: str = "") -> None:
    text = "images:\n" + "".join(f"  - {image}\n" for image in images)
    text += "tags:\n  - type=semver,pattern={{version}}\n  - type=semver,pattern={{major}}\n"
    text += extra + "webhooks:\n" + textwrap.indent(textwrap.dedent(hooks).strip(), "  ") + "\n"
    (repo / "dockyard.yml").write_text(text)


def head_sha(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def by_path(receiver: WebhookReceiver, suffix: str) -> list[RecordedRequest]:
    return [r for r in receiver.requests if r.path.endswith(suffix)]


def documented_verify() -> Callable[..., bool]:
    """The `verify` recipe from docs/webhooks.md, run as written: the docs can't drift."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Verifying a delivery"):]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/webhooks.md lost its verification recipe"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 -- our docs
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@pytest.fixture
def repo(git_repo: Callable[..., Path], base_image: str) -> Path:
    return git_repo(tags=("v1.2.3",))


def test_every_format_is_received_field_by_field(
    repo: Path, registry: Registry, auth_registry: Registry,
    webhook_receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    images = [f"{registry.host}/acme/formats", f"{auth_registry.host}/acme/formats"]
    url = webhook_receiver.url
    write_config(repo, images, f"""
        - {{url: "{url}/dockyard", secret: "${{HOOK_SECRET}}"}}
        - {{url: "{url}/dockerhub", format: dockerhub}}
        - {{url: "{url}/slack", format: slack}}
        - {{url: "{url}/cloudevents", format: cloudevents}}
        """, extra=f"registries:\n  {auth_registry.host}:\n"
                   "    username: ${REG_USER}\n    password: ${REG_PASSWORD}\n")
    sha = head_sha(repo)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"repository": {"default_branch": "main"}}))
    env = {"HOOK_SECRET": SECRET, "REG_USER": auth_registry.username or "",
           "REG_PASSWORD": auth_registry.password or "",
           # a GitHub Actions run, so that the record has run URLs to link to
           "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push",
           "GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_SHA": sha,
           "GITHUB_REPOSITORY": "acme/formats", "GITHUB_RUN_ID": "4242",
           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_EVENT_PATH": str(event_file)}
    outcome = dockyard(repo, "run", "--format", "json", env=env)
    assert outcome.code == 0, outcome.stderr
    record = outcome.json
    digest = record["digest"]
    run_url = "https://github.example/acme/formats/actions/runs/4242"
    assert record["context"]["run_url"] == run_url
    assert record["event"] == "push.succeeded"

    # dockyard: the record as it stood when notifications went out
    (request,) = by_path(webhook_receiver, "/dockyard")
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Dockyard-Event") == "push.succeeded"
    assert verify_signature(request.body, request.header("X-Hub-Signature-256") or "", SECRET)
    sent = json.loads(request.body)
    assert sent["webhooks"] == [] and "total_seconds" not in sent["timings"]
    for key in ("event", "status", "version", "tags", "labels", "context", "digest",
                "image_id", "registries", "explain", "warnings"):
        assert sent[key] == record[key], key
    assert {k: v for k, v in sent["timings"].items()} == {
        k: v for k, v in record["timings"].items() if k in sent["timings"]}

    # dockerhub: one POST per image name
    hub = sorted((json.loads(r.body) for r in by_path(webhook_receiver, "/dockerhub")),
                 key=lambda p: p["repository"]["repo_name"])
    assert [p["repository"]["repo_name"] for p in hub] == sorted(images)
    finished = datetime.fromisoformat(record["timings"]["finished_at"].replace("Z", "+00:00"))
    for payload, image in zip(hub, sorted(images), strict=True):
        assert payload["callback_url"] == ""
        assert payload["push_data"]["tag"] == "1.2.3"
        assert payload["push_data"]["pushed_at"] == int(finished.timestamp())
        assert payload["push_data"]["pusher"] == "dockyard"
        assert payload["push_data"]["digest"] == digest
        assert payload["push_data"]["images"] == [digest]
        assert set(payload["push_data"]["tags"]) == {"1.2.3", "1", "latest"}
        repository = payload["repository"]
        assert (repository["name"], repository["namespace"], repository["owner"]) == (
            "formats", "acme", "acme")
        assert repository["repo_url"] == f"https://{image}"
        assert repository["status"] == "Active"
        assert repository["is_private"] is False

    # slack: readable, with image, version, tags, commit and the run link
    (request,) = by_path(webhook_receiver, "/slack")
    message = json.loads(request.body)
    assert message["text"] == f":white_check_mark: Released {images[0]} 1.2.3"
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert fields[0] == "*Image*\n" + "\n".join(f"`{image}`" for image in images)
    assert fields[1] == "*Version*\n1.2.3"
    assert fields[2] == "*Tags*\n`1.2.3`, `1`, `latest`"
    assert fields[3] == f"*Commit*\n<https://github.example/acme/formats/commit/{sha}|`{sha[:7]}`>"
    assert fields[4] == f"*Digest*\n`{digest}`"
    assert message["blocks"][-1]["elements"][0]["text"] == f"<{run_url}|View the run>"

    # cloudevents: a structured CloudEvents 1.0 envelope around the record
    (request,) = by_path(webhook_receiver, "/cloudevents")
    assert request.header("Content-Type") == "application/cloudevents+json; charset=utf-8"
    event = json.loads(request.body)
    assert event["specversion"] == "1.0"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert event["source"] == "https://github.example/acme/formats"
    assert event["type"] == "dev.dockyard.push.succeeded"
    assert event["time"] == record["timings"]["finished_at"]
    assert event["datacontenttype"] == "application/json"
    assert event["subject"] == f"{images[0]}:1.2.3"
    assert event["data"] == sent

    assert len(record["webhooks"]) == 5  # 1 + 2 (dockerhub) + 1 + 1
    assert {d["status"] for d in record["webhooks"]} == {"delivered"}


def test_signature_verifies_with_the_documented_recipe(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver,
) -> None:
    write_config(repo, [f"{registry.host}/acme/signed"],
                 f'- {{url: "{webhook_receiver.url}", secret: "${{HOOK_SECRET}}"}}')
    outcome = dockyard(repo, "run", env={"HOOK_SECRET": SECRET})
    assert outcome.code == 0, outcome.stderr
    (request,) = webhook_receiver.requests
    headers = CaseInsensitiveDict(request.headers)
    verify = documented_verify()
    sent = int(headers["X-Dockyard-Timestamp"])
    assert verify(SECRET.encode(), request.body, headers, now=sent + 5)
    assert not verify(SECRET.encode(), request.body, headers, now=sent + 6)  # a replay
    fresh = CaseInsensitiveDict({**headers, "X-Dockyard-Delivery": "another-id"})
    assert not verify(SECRET.encode(), request.body, fresh, now=sent)  # id is signed
    assert not verify(SECRET.encode(), request.body + b" ", headers, now=sent)
    assert not verify(b"wrong-secret", request.body, headers, now=sent)
    later = CaseInsensitiveDict({**headers, "X-Dockyard-Delivery": "stale-id"})
    assert not verify(SECRET.encode(), request.body, later, now=sent + 301)
    # GitHub's scheme still verifies the same body
    assert verify_signature(request.body, headers["X-Hub-Signature-256"], SECRET)


def test_a_receiver_failing_twice_gets_exactly_three_attempts(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script([503, 500, 200])
    write_config(repo, [f"{registry.host}/acme/retried"], f"- url: {webhook_receiver.url}")
    outcome = dockyard(repo, "run", "--format", "json")
    assert outcome.code == 0, outcome.stderr
    assert len(webhook_receiver.requests) == 3
    assert len({r.header("X-Dockyard-Delivery") for r in webhook_receiver.requests}) == 1
    assert len({r.body for r in webhook_receiver.requests}) == 1
    (delivery,) = outcome.json["webhooks"]
    assert (delivery["status"], delivery["attempts"], delivery["http_status"]) == (
        "delivered", 3, 200)


def test_a_dead_optional_receiver_leaves_the_run_green_and_the_record_says_so(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    webhook_receiver.kill()
    write_config(repo, [f"{registry.host}/acme/deadoptional"],
                 f"- {{url: {webhook_receiver.url}, max_attempts: 2}}")
    outcome = dockyard(repo, "run", "--output", str(tmp_path / "record.json"))
    assert outcome.code == 0, outcome.stderr
    assert "webhook 127.0.0.1: failed after 2 attempt(s)" in outcome.stdout
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["status"] == "success"
    assert record["webhooks"] == [{"webhook": 0, "format": "dockyard",
                                   "host": "127.0.0.1", "status": "failed", "attempts": 2,
                                   "required": False, "http_status": None,
                                   "error": "could not reach 127.0.0.1: the connection failed"}]
    assert set(registry.tags("acme/deadoptional")) == {"1", "1.2.3", "latest"}


def test_a_dead_required_receiver_fails_the_run_after_pushing(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.kill()
    write_config(repo, [f"{registry.host}/acme/deadrequired"],
                 f"- {{url: {webhook_receiver.url}, required: true, max_attempts: 1}}")
    outcome = dockyard(repo, "run", "--format", "json")
    assert outcome.code == 1
    assert "required webhook delivery failed: 127.0.0.1 (could not reach" in outcome.stderr
    record = outcome.json
    assert record["status"] == "failed"
    assert record["event"] == "push.succeeded"  # what the receiver would have been told
    assert record["webhooks"][0]["required"] is True
    assert set(registry.tags("acme/deadrequired")) == {"1", "1.2.3", "latest"}


def test_a_4xx_answer_is_final_and_fails_a_required_hook(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script([403])
    write_config(repo, [f"{registry.host}/acme/refused"],
                 f"- {{url: {webhook_receiver.url}, required: true}}")
    outcome = dockyard(repo, "run", "--format", "json")
    assert outcome.code == 1
    assert len(webhook_receiver.requests) == 1
    assert outcome.json["webhooks"][0]["http_status"] == 403


def test_hooks_receive_only_their_events(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
    webhook_receiver: WebhookReceiver,
) -> None:
    url = webhook_receiver.url
    hooks = f"""
        - {{url: "{url}/failures", events: [build.failed, push.failed]}}
        - {{url: "{url}/all"}}
        - {{url: "{url}/pushes", events: [push.succeeded]}}
        - {{url: "{url}/builds", events: [build.succeeded]}}
        """
    good = git_repo(tags=("v1.2.3",))
    write_config(good, [f"{registry.host}/acme/events"], hooks)
    assert dockyard(good, "run").code == 0
    assert dockyard(good, "run", "--no-push").code == 0
    broken = git_repo({"Dockerfile": "FROM scratch\nRUN exit 1\n"}, tags=("v1.2.4",))
    write_config(broken, [f"{registry.host}/acme/events"], hooks)
    assert dockyard(broken, "run").code == 1

    def events(suffix: str) -> list[str | None]:
        return [r.header("X-Dockyard-Event") for r in by_path(webhook_receiver, suffix)]

    assert events("/all") == ["push.succeeded", "build.succeeded", "build.failed"]
    assert events("/pushes") == ["push.succeeded"]
    assert events("/builds") == ["build.succeeded"]
    assert events("/failures") == ["build.failed"]
    for request in webhook_receiver.requests:
        assert json.loads(request.body)["event"] == request.header("X-Dockyard-Event")


def test_no_secret_reaches_a_payload_a_log_line_or_the_record(
    repo: Path, registry: Registry, auth_registry: Registry,
    webhook_receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    assert auth_registry.password is not None
    url = webhook_receiver.url
    dead = "http://127.0.0.1:9/hook"  # discard port: nothing listens, so errors get logged
    write_config(repo, [f"{registry.host}/acme/nosecret", f"{auth_registry.host}/acme/nosecret"],
                 f"""
        - url: "{url}/services/T0/B0/${{PATH_TOKEN}}"
          secret: "${{HOOK_SECRET}}"
          headers: {{Authorization: "Bearer ${{HEADER_TOKEN}}", X-Api-Key: "${{HEADER_TOKEN}}"}}
        - {{url: "{url}/slack", format: slack, secret: "${{HOOK_SECRET}}"}}
        - {{url: "{url}/hub", format: dockerhub, headers: {{X-Token: "${{HEADER_TOKEN}}"}}}}
        - {{url: "{url}/ce", format: cloudevents, secret: "${{HOOK_SECRET}}"}}
        - {{url: "{dead}", required: true, max_attempts: 1, secret: "${{HOOK_SECRET}}",
            headers: {{Authorization: "Bearer ${{HEADER_TOKEN}}"}}}}
        """, extra=f"registries:\n  {auth_registry.host}:\n"
                   "    username: ${REG_USER}\n    password: ${REG_PASSWORD}\n")
    env = {"HOOK_SECRET": SECRET, "HEADER_TOKEN": HEADER_TOKEN, "PATH_TOKEN": PATH_TOKEN,
           "REG_USER": auth_registry.username or "", "REG_PASSWORD": auth_registry.password}
    record_file = tmp_path / "out" / "record.json"
    outcome = dockyard(repo, "run", "--format", "json", "--output", str(record_file), env=env)
    assert outcome.code == 1  # the required dead hook
    assert "required webhook delivery failed" in outcome.stderr
    assert len(webhook_receiver.requests) == 5  # 1 + slack + 2 dockerhub + cloudevents

    secrets = (auth_registry.password, SECRET, HEADER_TOKEN, PATH_TOKEN)
    texts = {"stdout": outcome.stdout, "stderr": outcome.stderr,
             "record file": record_file.read_text()}
    texts |= {f"body of {r.path}": r.body.decode() for r in webhook_receiver.requests}
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
    # headers carry the token only where it was configured, and never the webhook secret
    for request in webhook_receiver.requests:
        for name, value in request.headers.items():
            assert SECRET not in value and auth_registry.password not in value
            if HEADER_TOKEN in value:
                assert name.lower() in ("authorization", "x-api-key", "x-token")
    (first,) = [r for r in webhook_receiver.requests if PATH_TOKEN in r.path]
    assert first.header("Authorization") == f"Bearer {HEADER_TOKEN}"
    assert first.header("X-Api-Key") == HEADER_TOKEN
    assert {d["host"] for d in outcome.json["webhooks"]} == {"127.0.0.1"}


def test_plain_http_to_another_host_is_warned_about(
    repo: Path, registry: Registry,
) -> None:
    # subscribed to failures only: the run succeeds, so nothing is sent anywhere
    write_config(repo, [f"{registry.host}/acme/plainhttp"],
                 "- {url: 'http://hooks.example.invalid/x', events: [push.failed]}")
    outcome = dockyard(repo, "run", "--format", "json")
    assert outcome.code == 0, outcome.stderr
    warning = ("webhook hooks.example.invalid uses http: the payload, its signature and any "
               "headers travel unencrypted; use https")
    assert f"warning: {warning}" in outcome.stderr
    assert outcome.json["warnings"] == [warning]
    assert outcome.json["webhooks"] == []


def test_the_record_file_is_the_printed_record_with_utc_timings(
    repo: Path, registry: Registry, webhook_receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    write_config(repo, [f"{registry.host}/acme/record"], f"- url: {webhook_receiver.url}")
    before = datetime.now(timezone.utc).replace(microsecond=0)  # the record keeps ms
    outcome = dockyard(repo, "run", "--format", "json", "--output", "record.json")
    after = datetime.now(timezone.utc)
    assert outcome.code == 0, outcome.stderr
    record = json.loads((repo / "record.json").read_text())
    assert record == outcome.json
    timings = record["timings"]
    started = datetime.fromisoformat(timings["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(timings["finished_at"].replace("Z", "+00:00"))
    assert timings["started_at"].endswith("Z") and timings["finished_at"].endswith("Z")
    assert before <= started <= finished <= after
    for key in ("build_seconds", "push_seconds", "webhooks_seconds", "total_seconds"):
        assert timings[key] >= 0, key
    assert timings["total_seconds"] >= timings["build_seconds"]
    assert record["context"]["sha"] == head_sha(repo)
    assert record["context"]["ref"] == "refs/tags/v1.2.3"
    (entry,) = record["registries"]
    assert entry["digest"] == record["digest"] and entry["digest"].startswith("sha256:")
    assert set(entry["pushed"]) == {"1.2.3", "1", "latest"} and entry["skipped"] == []
    assert record["labels"]["org.opencontainers.image.version"] == "1.2.3"
    assert record["event"] == "push.succeeded" and record["warnings"] == []
    assert record["webhooks"][0]["status"] == "delivered"


def test_a_refused_registry_sends_push_failed_with_what_landed_where(
    repo: Path, registry: Registry, auth_registry: Registry, webhook_receiver: WebhookReceiver,
) -> None:
    wrong = "wrong-pass-e2e-5521"
    url = webhook_receiver.url
    images = [f"{registry.host}/acme/refusedpush", f"{auth_registry.host}/acme/refusedpush"]
    write_config(repo, images, f"""
        - {{url: "{url}/failures", events: [push.failed], secret: "${{HOOK_SECRET}}"}}
        - {{url: "{url}/successes", events: [push.succeeded]}}
        """, extra=f"registries:\n  {auth_registry.host}:\n"
                   "    username: ${REG_USER}\n    password: ${REG_PASSWORD}\n")
    outcome = dockyard(repo, "run", "--format", "json",
                       env={"HOOK_SECRET": SECRET, "REG_USER": auth_registry.username or "",
                            "REG_PASSWORD": wrong})
    assert outcome.code == 1
    assert by_path(webhook_receiver, "/successes") == []
    (request,) = by_path(webhook_receiver, "/failures")
    assert request.header("X-Dockyard-Event") == "push.failed"
    payload = json.loads(request.body)
    assert payload["event"] == "push.failed" and payload["status"] == "failed"
    entries = {e["name"]: e for e in payload["registries"]}
    refused = entries[f"{auth_registry.host}/acme/refusedpush"]
    assert refused["status"] == "failed" and refused["error"]
    assert refused["pushed"] == [] and refused["skipped"]
    assert all(s["reason"] for e in entries.values() for s in e["skipped"])
    assert payload["error"]
    for text in (request.body.decode(), outcome.stdout, outcome.stderr):
        assert wrong not in text and SECRET not in text
