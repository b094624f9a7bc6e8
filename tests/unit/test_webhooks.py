"""Webhook delivery against a real HTTP receiver on loopback (no engine needed)."""

from __future__ import annotations

import json

from dockyard.secrets import Secret
from dockyard.settings import Webhook
from dockyard.webhooks import deliver_all, encode, sign
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
