"""Webhook settings, and delivery against a real HTTP receiver on loopback (no engine)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard import secrets
from dockyard.errors import ConfigError
from dockyard.secrets import Secret
from dockyard.settings import Webhook, load_settings
from dockyard.webhooks import deliver_all, encode, sign, sign_timestamped, url_warnings
from support.receiver import WebhookReceiver, verify_signature

PAYLOAD = {"event": "push.succeeded", "version": "1.2.3", "digest": "sha256:" + "a" * 64}


def no_sleep(_: float) -> None:
    pass


def test_signature_is_github_compatible() -> None:
    # the value GitHub documents for secret "It's a Secret to Everybody" and "Hello, World!"
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_signed_delivery_verifies_and_carries_event_id_and_timestamp(
    webhook_receiver: WebhookReceiver,
) -> None:
    hook = Webhook(url=webhook_receiver.url, secret=Secret("hook-secret-123"))
    (delivery,) = deliver_all([hook], PAYLOAD, "push.succeeded", sleep=no_sleep,
                              clock=lambda: 1_700_000_000.0)
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("delivered", 1, 200)
    (request,) = webhook_receiver.requests
    assert request.body == encode(PAYLOAD)
    assert json.loads(request.body) == PAYLOAD
    assert verify_signature(request.body, request.header("X-Hub-Signature-256") or "",
                            "hook-secret-123")
    assert request.header("X-Dockyard-Event") == "push.succeeded"
    assert request.header("X-Dockyard-Timestamp") == "1700000000"
    assert len(request.header("X-Dockyard-Delivery") or "") == 36
    assert b"hook-secret-123" not in request.body
    assert all("hook-secret-123" not in value for value in request.headers.values())


def test_unsigned_delivery_has_no_signature_header(webhook_receiver: WebhookReceiver) -> None:
    deliver_all([Webhook(url=webhook_receiver.url)], PAYLOAD, "push.succeeded", sleep=no_sleep)
    assert webhook_receiver.requests[0].header("X-Hub-Signature-256") is None


def test_transient_failures_are_retried_with_the_same_delivery_id(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script([500, 503, 200])
    slept: list[float] = []
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url)], PAYLOAD, "push.succeeded",
                              sleep=slept.append)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert len(webhook_receiver.requests) == 3
    assert len({r.header("X-Dockyard-Delivery") for r in webhook_receiver.requests}) == 1
    assert slept == [1.0, 2.0]


def test_client_errors_are_not_retried(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script([400])
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url, required=True)], PAYLOAD,
                              "push.succeeded", sleep=no_sleep)
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("failed", 1, 400)
    assert delivery.required is True


def test_dead_receiver_is_reported_not_raised(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.kill()
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url, timeout=2)], PAYLOAD,
                              "push.failed", sleep=no_sleep)
    assert delivery.status == "failed"
    assert delivery.attempts == 3
    assert delivery.host == "127.0.0.1"
    assert delivery.error is not None and "could not reach 127.0.0.1" in delivery.error


# --- configuration: events, format, headers, attempts ---------------------------------


def load_hook(tmp_path: Path, hook: str, env: dict[str, str] | None = None) -> Webhook:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "dockyard.yml"
    path.write_text("images: [ghcr.io/acme/app]\nwebhooks:\n  - " + hook.replace("\n", "\n    "))
    (webhook,) = load_settings(path, env or {}).webhooks
    return webhook


def config_problems(tmp_path: Path, hook: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_hook(tmp_path, hook, env)
    return str(caught.value)


def test_webhook_defaults(tmp_path: Path) -> None:
    hook = load_hook(tmp_path, "url: https://hooks.example.com/x")
    assert hook.events == ("build.succeeded", "build.failed", "push.succeeded", "push.failed")
    assert (hook.format, hook.max_attempts, hook.timeout, hook.required) == (
        "dockyard", 3, 10.0, False)
    assert hook.headers == {} and hook.secret is None


def test_webhook_options_are_read(tmp_path: Path) -> None:
    hook = load_hook(tmp_path, """url: https://hooks.example.com/x
events: [push.failed, build.failed]
format: slack
max_attempts: 5
timeout: 2.5
headers:
  Authorization: Bearer ${HOOK_TOKEN}
  X-Team: payments""", {"HOOK_TOKEN": "tok-config-9912"})
    assert hook.events == ("push.failed", "build.failed")
    assert (hook.format, hook.max_attempts, hook.timeout) == ("slack", 5, 2.5)
    assert hook.headers["Authorization"].reveal() == "Bearer tok-config-9912"
    assert "tok-config-9912" not in repr(hook)
    # the whole value and the token alone are both masked wherever they would be shown
    assert secrets.redact("a Bearer tok-config-9912 b") == "a *** b"
    assert secrets.redact("[tok-config-9912]") == "[***]"


@pytest.mark.parametrize(
    ("hook", "fragment"),
    [
        ("url: https://h.example.com/x\nevents: [push.succeded]",
         "webhooks[0].events[0]: unknown event 'push.succeded' (did you mean 'push.succeeded'?)"),
        ("url: https://h.example.com/x\nevents: []", "webhooks[0].events: needs at least 1"),
        ("url: https://h.example.com/x\nformat: slak",
         "webhooks[0].format: unknown format 'slak' (did you mean 'slack'?)"),
        ("url: https://h.example.com/x\nmax_attempts: 0",
         "webhooks[0].max_attempts: must be between 1 and 10"),
        ("url: https://h.example.com/x\nmax_attempts: 2.5",
         "webhooks[0].max_attempts: must be a whole number"),
        ("url: https://h.example.com/x\ntimeout: 0", "webhooks[0].timeout: must be more than 0"),
        ("url: https://h.example.com/x\nheaders: {Content-Type: text/plain}",
         "webhooks[0].headers.Content-Type: is set by Dockyard itself"),
        ("url: https://h.example.com/x\nheaders: {x-hub-signature-256: forged}",
         "webhooks[0].headers.x-hub-signature-256: is set by Dockyard itself"),
        ("url: https://h.example.com/x\nheaders: {X-Dockyard-Event: other}",
         "webhooks[0].headers.X-Dockyard-Event: is set by Dockyard itself"),
        ("url: https://h.example.com/x\nheaders: {'Bad Name': x}",
         "webhooks[0].headers.Bad Name: is not a valid header name"),
        ("url: https://h.example.com/x\nheaders: {X-Token: 3}",
         "webhooks[0].headers.X-Token: must be a string"),
        ("url: ftp://h.example.com/x", "webhooks[0].url: must be an http:// or https:// URL, "
         "such as https://hooks.example.com/deploy; its scheme is 'ftp'"),
        ("url: hooks.example.com/deploy", "webhooks[0].url: must be an http:// or https:// "
         "URL, such as https://hooks.example.com/deploy; it has no scheme"),
        ("url: HTTPS://h.example.com/x", "webhooks[0].url: must be an http:// or https:// "
         "URL, such as https://hooks.example.com/deploy; write its scheme in lower case "
         "(https://)"),
        ("url: https:///x", "webhooks[0].url: must be an http:// or https:// URL, such as "
         "https://hooks.example.com/deploy; it names no host"),
        ("url: https://h.example.com/x\nevent: [push.failed]",
         "webhooks[0].event: unknown key (did you mean 'events'?)"),
    ],
)
def test_bad_webhook_options_are_named(tmp_path: Path, hook: str, fragment: str) -> None:
    assert fragment in config_problems(tmp_path, hook)


def test_a_header_value_with_a_line_break_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    text = config_problems(tmp_path, "url: https://h.example.com/x\n"
                                     "headers: {X-Token: \"line-one-4471\\nInjected: 1\"}")
    assert "webhooks[0].headers.X-Token: the value must be one line" in text
    assert "line-one-4471" not in text


@pytest.mark.parametrize("port", ["99999", "65536", "ab", "0"])
def test_a_webhook_url_whose_port_is_no_port_is_refused_without_showing_it(
    tmp_path: Path, port: str,
) -> None:
    """Not at delivery, three attempts later, as "InvalidURL while sending"."""
    text = config_problems(tmp_path, f"url: 'http://127.0.0.1:{port}/hook-tok-5531'")
    assert "webhooks[0].url: is not a valid URL: its port is not a number from 1 to 65535" \
        in text
    assert "hook-tok-5531" not in text


def test_a_password_cut_by_an_unencoded_slash_is_named_as_such(tmp_path: Path) -> None:
    text = config_problems(tmp_path, "url: 'http://bot:pw+9x/Qm-5531@127.0.0.1:9/hook'")
    assert ("webhooks[0].url: is not a valid URL: its password holds a '/', '?' or '#' "
            "that is not percent-encoded (write %2F, %3F, %23)") in text
    assert "5531" not in text and "pw+9x" not in text


def test_a_header_value_beyond_latin_1_is_refused_without_showing_it(tmp_path: Path) -> None:
    """HTTP carries header values as bytes, latin-1 at most: a '\u20ac' was a failed
    delivery, 'a bug, please report it'."""
    text = config_problems(tmp_path, "url: http://127.0.0.1:9/x\n"
                                     "headers: {X-Token: \"tok-\u20ac-7713\"}")
    assert ("webhooks[0].headers.X-Token: the value has a character no HTTP header can "
            "carry (beyond latin-1)") in text
    assert "7713" not in text
    hook = load_hook(tmp_path, "url: http://127.0.0.1:9/x\nheaders: {X-Team: caf\u00e9}")
    assert hook.headers["X-Team"].reveal() == "caf\u00e9"  # latin-1 is sent as it is


# --- delivery: events, formats, headers, retries ---------------------------------------


def test_a_hook_receives_only_the_events_it_subscribed_to(
    webhook_receiver: WebhookReceiver,
) -> None:
    hooks = [Webhook(url=webhook_receiver.url, events=("push.failed",))]
    assert deliver_all(hooks, PAYLOAD, "push.succeeded", sleep=no_sleep) == ()
    assert webhook_receiver.requests == []
    (delivery,) = deliver_all(hooks, {**PAYLOAD, "event": "push.failed"}, "push.failed",
                              sleep=no_sleep)
    assert delivery.status == "delivered"
    assert webhook_receiver.requests[0].header("X-Dockyard-Event") == "push.failed"


def test_extra_headers_are_sent_and_dockyards_own_cannot_be_shadowed(
    webhook_receiver: WebhookReceiver,
) -> None:
    hook = Webhook(url=webhook_receiver.url, headers={
        "Authorization": Secret("Bearer hdr-token-5150"),
        "content-type": Secret("text/plain"),  # settings refuses this; delivery ignores it
    })
    deliver_all([hook], PAYLOAD, "push.succeeded", sleep=no_sleep)
    (request,) = webhook_receiver.requests
    assert request.header("Authorization") == "Bearer hdr-token-5150"
    assert request.header("Content-Type") == "application/json"
    assert b"hdr-token-5150" not in request.body


def test_timestamped_signature_binds_timestamp_and_delivery_id(
    webhook_receiver: WebhookReceiver,
) -> None:
    hook = Webhook(url=webhook_receiver.url, secret=Secret("hook-secret-123"))
    deliver_all([hook], PAYLOAD, "push.succeeded", sleep=no_sleep, clock=lambda: 1_700_000_000.0)
    (request,) = webhook_receiver.requests
    delivery_id = request.header("X-Dockyard-Delivery") or ""
    message = b"1700000000." + delivery_id.encode() + b"." + request.body
    expected = hmac.new(b"hook-secret-123", message, hashlib.sha256).hexdigest()
    assert request.header("X-Dockyard-Signature-256") == f"sha256={expected}"
    assert sign_timestamped(request.body, "hook-secret-123", 1_700_000_000, delivery_id) == (
        f"sha256={expected}")


def test_registered_secrets_are_scrubbed_from_the_body(webhook_receiver: WebhookReceiver) -> None:
    Secret("leaky-value-30303")
    payload = {**PAYLOAD, "error": "registry said: leaky-value-30303 is wrong",
               "labels": {"leaky-value-30303": "x"}}
    deliver_all([Webhook(url=webhook_receiver.url)], payload, "push.failed", sleep=no_sleep)
    body = webhook_receiver.requests[0].body
    assert b"leaky-value-30303" not in body
    assert json.loads(body)["error"] == "registry said: *** is wrong"


def test_max_attempts_is_per_hook(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script([503, 503, 503, 503, 503])
    slept: list[float] = []
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url, max_attempts=5)], PAYLOAD,
                              "push.succeeded", sleep=slept.append)
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("failed", 5, 503)
    assert delivery.error == "HTTP 503"
    assert slept == [1.0, 2.0, 4.0, 8.0]


def test_one_attempt_means_no_retry(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script([500])
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url, max_attempts=1)], PAYLOAD,
                              "push.succeeded", sleep=no_sleep)
    assert (delivery.status, delivery.attempts) == ("failed", 1)


class RetryAfterReceiver:
    """Answers 429 with a Retry-After header once, then 200: the shared receiver cannot
    send headers, so this small real server on loopback does."""

    def __init__(self, retry_after: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits += 1
                self.send_response(429 if outer.hits == 1 else 200)
                if outer.hits == 1:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("Tue, 14 Nov 2023 22:13:40 GMT", 20.0), ("3600", 30.0), ("soon", 1.0)],
)
def test_429_honours_retry_after(retry_after: str, expected: float) -> None:
    receiver = RetryAfterReceiver(retry_after)
    slept: list[float] = []
    try:
        (delivery,) = deliver_all([Webhook(url=receiver.url)], PAYLOAD, "push.succeeded",
                                  sleep=slept.append, clock=lambda: 1_700_000_000.0)
    finally:
        receiver.close()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert slept == [expected]  # 1_700_000_020 is Tue, 14 Nov 2023 22:13:40 GMT


def test_redirects_are_not_followed(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script([301])
    (delivery,) = deliver_all([Webhook(url=webhook_receiver.url)], PAYLOAD, "push.succeeded",
                              sleep=no_sleep)
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("failed", 1, 301)
    assert delivery.error is not None and "redirects are not followed" in delivery.error


def test_a_receiver_that_never_answers_times_out() -> None:
    # A listening socket nobody accepts from: the connection opens, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        started = time.monotonic()
        (delivery,) = deliver_all([Webhook(url=url, timeout=0.3, max_attempts=2)], PAYLOAD,
                                  "push.succeeded", sleep=no_sleep)
        elapsed = time.monotonic() - started
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.error == "no answer from 127.0.0.1 within 0.3s"
    assert elapsed < 5


def test_deliveries_run_in_parallel(webhook_receiver: WebhookReceiver) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = f"http://127.0.0.1:{silent.getsockname()[1]}/slow"
        hooks = [Webhook(url=slow, timeout=1, max_attempts=1) for _ in range(4)]
        started = time.monotonic()
        deliveries = deliver_all([*hooks, Webhook(url=webhook_receiver.url)], PAYLOAD,
                                 "push.succeeded", sleep=no_sleep)
        elapsed = time.monotonic() - started
    assert [d.status for d in deliveries] == ["failed"] * 4 + ["delivered"]
    assert elapsed < 3  # four one-second timeouts side by side, not one after another


def test_dockerhub_format_posts_once_per_image_name(webhook_receiver: WebhookReceiver) -> None:
    record = {**PAYLOAD, "timings": {"finished_at": "2026-11-28T01:02:03Z"}, "registries": [
        {"name": f"127.0.0.1:5000/acme/{name}", "digest": PAYLOAD["digest"],
         "pushed": ["1.2.3", "latest"], "skipped": [], "status": "pushed", "error": None}
        for name in ("one", "two")]}
    deliveries = deliver_all([Webhook(url=webhook_receiver.url, format="dockerhub")], record,
                             "push.succeeded", sleep=no_sleep)
    assert [d.status for d in deliveries] == ["delivered", "delivered"]
    bodies = sorted((json.loads(r.body) for r in webhook_receiver.requests),
                    key=lambda b: b["repository"]["name"])
    assert [b["repository"]["repo_name"] for b in bodies] == [
        "127.0.0.1:5000/acme/one", "127.0.0.1:5000/acme/two"]
    assert {b["push_data"]["tag"] for b in bodies} == {"1.2.3"}
    ids = {r.header("X-Dockyard-Delivery") for r in webhook_receiver.requests}
    assert len(ids) == 2


def test_cloudevents_are_sent_as_structured_cloudevents(
    webhook_receiver: WebhookReceiver,
) -> None:
    deliver_all([Webhook(url=webhook_receiver.url, format="cloudevents")],
                PAYLOAD, "push.succeeded", sleep=no_sleep)
    (request,) = webhook_receiver.requests
    assert request.header("Content-Type") == "application/cloudevents+json; charset=utf-8"
    event = json.loads(request.body)
    assert event["type"] == "dev.dockyard.push.succeeded"
    assert event["data"] == PAYLOAD


@pytest.mark.parametrize(
    ("url", "warned"),
    [("http://hooks.example.com/x", True), ("https://hooks.example.com/x", False),
     ("http://127.0.0.1:8080/x", False), ("http://127.1.2.3/x", False),
     ("http://localhost:9/x", False), ("http://[::1]:9/x", False), ("http://10.0.0.1/x", True)],
)
def test_plain_http_off_this_machine_is_warned_about(url: str, warned: bool) -> None:
    warnings = url_warnings([Webhook(url=url)])
    assert bool(warnings) is warned
    if warned:
        assert "uses http" in warnings[0] and "/x" not in warnings[0]


def test_credentials_in_a_webhook_url_are_masked(tmp_path: Path) -> None:
    hook = load_hook(tmp_path, "url: https://bot:url-pass-66120@hooks.example.com/")
    assert hook.url == "https://bot:url-pass-66120@hooks.example.com/"
    assert secrets.redact(f"posting to {hook.url}") == "posting to ***"
    assert secrets.redact("auth url-pass-66120 failed") == "auth *** failed"


def test_a_url_path_is_masked_but_a_bare_host_is_not(tmp_path: Path) -> None:
    hook = load_hook(tmp_path, "url: https://hooks.slack.example/services/T1/B2/pathsecret77")
    assert secrets.redact(hook.url) == "***"
    load_hook(tmp_path, "url: https://bare-host-4411.example/")
    assert secrets.redact("https://bare-host-4411.example/") == "https://bare-host-4411.example/"


def test_a_refused_webhook_url_is_not_quoted(tmp_path: Path) -> None:
    """A webhook URL may be a credential (Slack's path is its token): the problem says
    what the URL lacks, never the URL."""
    text = config_problems(tmp_path, "url: hooks.slack.com/services/T0/B0/tokenpart4471")
    assert "webhooks[0].url: must be an http:// or https:// URL" in text
    assert "tokenpart4471" not in text and "***" not in text
