"""Hostile registries and webhook receivers: endless, trickling, huge and malformed
answers end within the configured time, in bounded memory, as runtime failures (exit 1)
with the record written; never a hang, never exit 3.

The servers are `support.hostile`'s, on loopback. Whole runs are separate processes, so
that their time and peak memory are theirs alone.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dockyard import webhooks
from dockyard.registry import RegistryClient, RegistryError, RetryPolicy
from dockyard.registry import client as registry_client
from dockyard.registry.auth import push_scope
from dockyard.secrets import Secret
from dockyard.settings import Credentials, Webhook
from support import hostile
from support.cli import run_cli
from support.hostile import HostileServer
from support.processes import Measured, run_measured
from support.registry import Registry

TIMEOUT = 2.0  # seconds per request: a trickle every second never trips a read timeout
TRICKLE = 1.0
PEAK_MIB = 150.0
STARTUP = 4.0  # a Python process importing dockyard, git, and the engine's first answer
SEMVER = "tags:\n  - type=semver,pattern={{version}}\n  - type=semver,pattern={{major}}\n"


@pytest.fixture
def servers() -> Iterator[Callable[..., HostileServer]]:
    started: list[HostileServer] = []

    def start(faults: dict[str, hostile.Fault] | None = None) -> HostileServer:
        started.append(HostileServer(faults))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def release(git_repo: Callable[..., Path]) -> Path:
    return git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": "hello hostile\n"}, tags=("v1.0.0",))


def run(repo: Path, config: str, *args: str) -> tuple[Measured, dict[str, Any]]:
    """A whole `dockyard run` as its own process; its measurements and the record."""
    (repo / "dockyard.yml").write_text(textwrap.dedent(config))
    measured = run_measured(repo, ["run", "--format", "json", "--output", "record.json",
                                   *args], timeout=60.0)
    assert measured.outcome.code != 3, measured.outcome.stderr
    assert measured.peak_mib < PEAK_MIB, f"peak RSS {measured.peak_mib:.0f} MiB"
    assert (repo / "record.json").exists(), measured.outcome.stderr
    record: dict[str, Any] = json.loads((repo / "record.json").read_text())
    assert json.loads(measured.outcome.stdout) == record
    return measured, record


# ------------------------------------------------------------------ registries

REGISTRY_FAULTS = {
    "endless /v2/": ("/v2/$", hostile.endless, "more than 64 KiB"),
    "trickled headers": ("/v2/$", hostile.trickle_headers(TRICKLE),
                         "did not answer GET /v2/ in 2s"),
    "Retry-After: nan": ("/v2/$", hostile.unavailable("nan"),
                         "still failed with HTTP 503 after 2 attempts"),
    "endless tag list": ("/tags/list", hostile.endless, "more than 4 MiB"),
    "trickled tag list": ("/tags/list", hostile.trickle(TRICKLE),
                          "did not answer GET /v2/hostile/app/tags/list in 2s"),
    "terabyte tag list": ("/tags/list", hostile.huge(), "more than 4 MiB"),
    "terabyte refusal": ("/v2/$", hostile.huge(403), "access denied"),
    "malformed tag list": ("/tags/list", hostile.malformed(), "other than a JSON object"),
    "tag list of objects": ("/tags/list", hostile.malformed(b'{"tags": [{"a": 1}]}'),
                            "other than a list of names"),
    "endless manifest": ("/manifests/sha256:", hostile.endless, "more than 4 MiB"),
    "silent manifest": ("/manifests/sha256:", hostile.silent,
                        "did not answer GET /v2/hostile/app/manifests/sha256:"),
    "stalled blob": ("/blobs/", hostile.stall_after(10), "stalled"),
    "endless image config": ("/blobs/", hostile.endless, "implausibly large"),
}


@pytest.mark.parametrize("case", list(REGISTRY_FAULTS))
def test_a_hostile_registry_fails_the_preflight_in_time_and_memory(
    case: str, release: Path, servers: Callable[..., HostileServer],
) -> None:
    pattern, fault, expected = REGISTRY_FAULTS[case]
    server = servers({pattern: fault})
    retries = 1 if "503" in expected else 0
    measured, record = run(release, f"images: [{server.host}/hostile/app]\n{SEMVER}"
                           f"publish: {{retries: {retries}, backoff_seconds: 0.1, "
                           f"timeout_seconds: {TIMEOUT}}}\n")
    assert measured.outcome.code == 1, measured.outcome.stderr
    assert server.host in record["error"]
    assert expected in record["error"], record["error"]
    assert measured.seconds < (retries + 1) * TIMEOUT + STARTUP, measured.seconds
    assert record["image_id"] is None  # the preflight failed: nothing was built


def test_the_healthy_fake_registry_gets_as_far_as_the_held_release(
    release: Path, servers: Callable[..., HostileServer],
) -> None:
    """The control: the fake holds 1.0.0, built from another revision."""
    server = servers()
    measured, record = run(release, f"images: [{server.host}/hostile/app]\n{SEMVER}")
    assert measured.outcome.code == 1
    assert "already exists, built from revision 000000000000" in record["error"]
    assert any("/blobs/sha256:" in r for r in server.requests)  # it read the image config


def test_a_blob_upload_the_registry_never_answers_fails_in_time(
    servers: Callable[..., HostileServer],
) -> None:
    server = servers({"/uploads/session": hostile.mute})  # opened, then never answered
    policy = RetryPolicy(retries=0, timeout_seconds=TIMEOUT)
    start = time.monotonic()
    with RegistryClient(server.host, policy=policy) as client, \
            pytest.raises(RegistryError, match="did not answer PUT /v2/hostile/app/blobs/"
                                               "uploads/session-1 in 2s"):
        client.upload_blob("hostile/app", hostile.CONFIG_DIGEST, iter([b"{}"]), size=2)
    assert time.monotonic() - start < TIMEOUT + 1


def test_tags_paged_for_ever_end_after_a_bounded_number_of_pages(
    servers: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_client, "_MAX_TAG_PAGES", 100)  # 2,000 take 5s here
    server = servers({"/tags/list": hostile.endless_pages})
    with RegistryClient(server.host, policy=RetryPolicy(retries=0,
                                                        timeout_seconds=TIMEOUT)) as client, \
            pytest.raises(RegistryError, match="in more than 100 pages, and kept paging"):
        client.tags("hostile/app")


def test_a_bug_while_delivering_is_a_failed_delivery_not_a_crash() -> None:
    class Broken(requests.Session):
        def post(self, *_: Any, **__: Any) -> requests.Response:  # type: ignore[override]
            raise RuntimeError("a bug")

    hook = Webhook(url="http://127.0.0.1:9/hook", required=True)
    (delivery,) = webhooks.deliver_all([hook], {"status": "success"}, "push.succeeded",
                                       session=Broken())
    assert delivery.status == "failed" and "RuntimeError" in (delivery.error or "")


def test_a_head_answer_is_not_read_whatever_its_content_length(
    servers: Callable[..., HostileServer],
) -> None:
    """A HEAD of a blob says the blob's size; there is no body to cap."""
    server = servers({"/blobs/": hostile.huge()})
    with RegistryClient(server.host, policy=RetryPolicy(retries=0,
                                                        timeout_seconds=TIMEOUT)) as client:
        assert client.blob_exists("hostile/app", hostile.CONFIG_DIGEST)


# ------------------------------------------------------------------ token services

CREDENTIALS = Credentials("hostile", Secret("hostile-password"))
# a password beyond latin-1: the engine sends it, as any credentials, in UTF-8
EURO_PASSWORD = "h\u00f6stile-\u20ac-password"
TOKEN_FAULTS = {
    "a token beyond ASCII": ({"/token": hostile.malformed('{"token": "t\u20acken"}'.encode())},
                             "answered something that is not a token"),
    "a token that is an object": ({"/token": hostile.malformed(b'{"token": {"a": 1}}')},
                                  "answered something that is not a token"),
    "a realm that is no URL": ({"/v2/$": hostile.bearer("http://[::1")},
                               "its Bearer challenge's realm is not an http(s) URL"),
    "a realm without a scheme": ({"/v2/$": hostile.bearer("::::")},
                                 "its Bearer challenge's realm is not an http(s) URL"),
    "a redirect to a malformed URL": ({"/token": hostile.redirect("http://[::1/x")},
                                      "GET /token: the answer cannot be followed"),
    "a redirect loop": ({"/token": hostile.redirect("/token")},
                        "request failed: TooManyRedirects"),
}


@pytest.mark.parametrize("credentials", [CREDENTIALS, None], ids=["login", "anonymous"])
@pytest.mark.parametrize("case", list(TOKEN_FAULTS))
def test_a_hostile_token_service_is_a_registry_error(
    case: str, credentials: Credentials | None, servers: Callable[..., HostileServer],
) -> None:
    faults, expected = TOKEN_FAULTS[case]
    server = servers({"/v2/$": hostile.bearer(), **faults})
    with RegistryClient(server.host, credentials, policy=RetryPolicy(
            retries=0, timeout_seconds=TIMEOUT)) as client, \
            pytest.raises(RegistryError, match=re.escape(expected)) as raised:
        client.authenticate([push_scope("hostile/app")])
    assert str(raised.value).startswith(server.host)


@pytest.mark.parametrize(("username", "password"), [("hostile", EURO_PASSWORD),
                                                    ("h\u00f6stile-\u20ac", "hostile-password")])
def test_credentials_beyond_latin_1_reach_the_token_service_in_utf_8(
    username: str, password: str, servers: Callable[..., HostileServer],
) -> None:
    server = servers({"/v2/$": hostile.bearer(), "/token": hostile.token_for(username, password)})
    with RegistryClient(server.host, Credentials(username, Secret(password)), policy=RetryPolicy(
            retries=0, timeout_seconds=TIMEOUT)) as client:
        client.authenticate([push_scope("hostile/app")])  # the token opened /v2/
    assert [r.split("?")[0] for r in server.requests] == ["GET /v2/", "GET /token", "GET /v2/"]


def test_a_realm_that_is_no_url_fails_the_run_as_a_runtime_failure(
    release: Path, servers: Callable[..., HostileServer],
) -> None:
    server = servers({"/v2/$": hostile.bearer("http://[::1")})
    measured, record = run(release, f"images: [{server.host}/hostile/app]\n{SEMVER}"
                           f"registries:\n  {server.host}: {{username: hostile, "
                           f"password: hostile-password}}\n"
                           f"publish: {{retries: 0, timeout_seconds: {TIMEOUT}}}\n")
    assert measured.outcome.code == 1, measured.outcome.stderr
    assert f"{server.host}/hostile/app: its Bearer challenge's realm" in record["error"]
    assert record["image_id"] is None  # the preflight failed: nothing was built


def test_a_password_beyond_latin_1_logs_in_for_a_whole_run(
    release: Path, servers: Callable[..., HostileServer],
) -> None:
    """As the healthy control above, behind a token service: it gets as far as the release
    the registry holds, the password sent as the engine sends it and never shown."""
    server = servers({"^/v2/": hostile.bearer(),
                      "/token": hostile.token_for("hostile", EURO_PASSWORD)})
    measured, record = run(release, f"images: [{server.host}/hostile/app]\n{SEMVER}"
                           f"registries:\n  {server.host}: {{username: hostile, "
                           f"password: '{EURO_PASSWORD}'}}\n"
                           f"publish: {{retries: 0, timeout_seconds: {TIMEOUT}}}\n")
    assert measured.outcome.code == 1, measured.outcome.stderr
    assert "already exists, built from revision 000000000000" in record["error"]
    assert EURO_PASSWORD not in measured.outcome.stdout + measured.outcome.stderr


# ------------------------------------------------------------------ webhooks

WEBHOOK_FAULTS = {
    # fault, whether it was delivered (the receiver's status is the answer), seconds
    "endless reply": (hostile.endless, True, 0.0),
    "trickled reply": (hostile.trickle(TRICKLE), True, TIMEOUT),
    "malformed reply": (hostile.malformed(), True, 0.0),
    "trickled headers": (hostile.trickle_headers(TRICKLE), False, TIMEOUT),
    "silent after headers": (hostile.silent, True, TIMEOUT),
    "never answering": (hostile.mute, False, TIMEOUT),
    "terabyte 500": (hostile.huge(500), False, 1.0),
    "Retry-After: nan": (hostile.unavailable("nan"), False, 1.0),
}
# "inf" asks for the longest wait there is: webhooks wait at most 30s, which a whole run
# below would spend; here the wait is not slept.
DELIVERY_FAULTS = {**WEBHOOK_FAULTS, "Retry-After: inf": (hostile.unavailable("inf"), False, 1.0)}


@pytest.mark.parametrize("case", list(DELIVERY_FAULTS))
def test_a_hostile_receiver_ends_its_delivery_in_time(
    case: str, servers: Callable[..., HostileServer],
) -> None:
    fault, delivered, seconds = DELIVERY_FAULTS[case]
    server = servers({"/hook": fault})
    attempts = 2 if "Retry-After" in case else 1
    hook = Webhook(url=f"{server.url}/hook", timeout=TIMEOUT, max_attempts=attempts,
                   required=True)
    start = time.monotonic()
    (delivery,) = webhooks.deliver_all([hook], {"status": "success"}, "push.succeeded",
                                       sleep=lambda _: None)
    elapsed = time.monotonic() - start
    assert (delivery.status == "delivered") is delivered, delivery
    assert elapsed < attempts * seconds + 1.0, elapsed  # each attempt in its time


def test_hostile_receivers_leave_the_run_bounded_and_the_record_written(
    release: Path, servers: Callable[..., HostileServer],
) -> None:
    hooks = {case: servers({"/hook": fault}) for case, (fault, _, _) in WEBHOOK_FAULTS.items()}
    entries = "".join(f"  - {{url: '{server.url}/hook', timeout: {TIMEOUT}, required: true, "
                      "max_attempts: 2}\n" for server in hooks.values())
    measured, record = run(release, f"images: [local/hostile]\n{SEMVER}webhooks:\n{entries}",
                           "--no-push")
    assert measured.outcome.code == 1, measured.outcome.stderr
    assert record["image_id"]  # built; then the receivers did their worst
    statuses = [d["status"] == "delivered" for d in record["webhooks"]]
    assert statuses == [delivered for _, delivered, _ in WEBHOOK_FAULTS.values()]
    # in parallel: the slowest one's two attempts and the one-second wait between them
    assert record["timings"]["webhooks_seconds"] < 2 * TIMEOUT + 1.0 + 1.0
    assert "required webhook delivery failed" in record["error"]


def test_retry_after_nan_after_every_tag_landed_is_a_failed_delivery(
    release: Path, registry: Registry, servers: Callable[..., HostileServer],
) -> None:
    server = servers({"/hook": hostile.unavailable("nan")})
    image = f"{registry.host}/hostile/landed"
    measured, record = run(release, f"images: [{image}]\n{SEMVER}webhooks:\n"
                           f"  - {{url: '{server.url}/hook', required: true, max_attempts: 2, "
                           f"timeout: {TIMEOUT}}}\n")
    assert measured.outcome.code == 1, measured.outcome.stderr
    (entry,) = record["registries"]
    assert entry["status"] == "pushed" and "1.0.0" in entry["pushed"], entry
    assert set(registry.tags("hostile/landed")) >= {"1.0.0", "latest"}
    (delivery,) = record["webhooks"]
    assert (delivery["status"], delivery["attempts"], delivery["http_status"]) == (
        "failed", 2, 503)


@pytest.mark.parametrize("value", [".inf", "1.0e+308", "18446744073709551616", ".nan", "0"])
@pytest.mark.parametrize("key", ["webhook", "publish"])
def test_endless_or_absurd_timeouts_are_bad_config(
    key: str, value: str, release: Path,
) -> None:
    extra = (f"webhooks:\n  - {{url: 'http://127.0.0.1:9/hook', timeout: {value}}}\n"
             if key == "webhook" else f"publish: {{timeout_seconds: {value}}}\n")
    (release / "dockyard.yml").write_text(f"images: [local/absurd]\n{SEMVER}{extra}")
    outcome = run_cli(release, "run", "--no-push")
    assert outcome.code == 2, outcome.stderr
    named = "webhooks[0].timeout" if key == "webhook" else "publish.timeout_seconds"
    assert named in outcome.stderr
    # NaN and infinity are no numbers to any key; the others are out of this key's range
    expected = ("must be a number, not" if value in (".inf", ".nan")
                else "must be more than 0 seconds and at most 3600")
    assert expected in outcome.stderr
