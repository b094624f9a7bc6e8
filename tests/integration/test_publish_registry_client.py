"""The registry client against real registries on loopback, with faults from the proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from dockyard import secrets
from dockyard.publish.repository import Identity, Repository
from dockyard.registry import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    Manifest,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    digest_of,
    push_scope,
)
from dockyard.secrets import Secret
from dockyard.settings import Credentials
from support.proxy import FaultProxy
from support.registry import Registry

FAST = RetryPolicy(retries=4, backoff_seconds=0.001, max_backoff_seconds=0.01,
                   timeout_seconds=10)


def upload_image(registry: Registry, name: str, tag: str, labels: dict[str, str]) -> Manifest:
    """Put a tiny image (one layer, a config with `labels`) into `registry` over the API."""
    http = requests.Session()
    http.trust_env = False
    if registry.username and registry.password:
        http.auth = (registry.username, registry.password)
    try:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Labels": labels},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = b"layer for " + name.encode() + tag.encode()
        for blob in (config, layer):
            with http.post(f"{registry.url}/v2/{name}/blobs/uploads/", timeout=10) as started:
                assert started.status_code == 202, started.text
                location = urljoin(registry.url, started.headers["Location"])
            with http.put(location, params={"digest": digest_of(blob)}, data=blob,
                          timeout=10) as done:
                assert done.status_code == 201, done.text
        content = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": digest_of(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(layer), "digest": digest_of(layer)}],
        }, indent=3).encode()  # unusual whitespace: the bytes, not the JSON, must survive
        with http.put(f"{registry.url}/v2/{name}/manifests/{tag}", data=content,
                      headers={"Content-Type": DOCKER_MANIFEST}, timeout=10) as put:
            assert put.status_code == 201, put.text
        return Manifest(content, DOCKER_MANIFEST, digest_of(content))
    finally:
        http.close()


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(registry.host)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def bearer_proxy(registry: Registry) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(registry.host, bearer=("robot", "token-pass-3391"))
    yield fault_proxy
    fault_proxy.close()


BEARER_PASSWORD = "token-pass-3391"


def bearer_credentials(password: str = BEARER_PASSWORD) -> Credentials:
    return Credentials("robot", Secret(password))


def test_manifest_bytes_survive_a_retag_and_the_digest_stays(registry: Registry) -> None:
    original = upload_image(registry, "client/retag", "1.0.0", {"a": "b"})
    with RegistryClient(registry.host, policy=FAST) as client:
        fetched = client.get_manifest("client/retag", "1.0.0")
        assert fetched == original
        assert client.put_manifest("client/retag", "stable", fetched) == original.digest
        head = client.head_manifest("client/retag", "stable")
        assert head is not None and head.digest == original.digest
        assert head.media_type == DOCKER_MANIFEST
        assert client.get_manifest("client/retag", "missing") is None
        assert client.head_manifest("client/retag", "missing") is None
        labels = client.image_config("client/retag", fetched)["config"]["Labels"]
        assert labels == {"a": "b"}
        assert sorted(client.tags("client/retag")) == ["1.0.0", "stable"]
        assert client.tags("client/never-pushed") == []


def test_an_index_is_stored_as_is_and_names_a_build_by_its_own_annotations(
    registry: Registry,
) -> None:
    image = upload_image(registry, "client/index", "amd64", {
        "org.opencontainers.image.version": "sha-1a2b3c4-amd64",
        "org.opencontainers.image.revision": "1a2b3c4"})
    entries = [{"mediaType": DOCKER_MANIFEST, "digest": image.digest, "size": len(image.content),
                "platform": {"os": "linux", "architecture": "amd64"}}]
    bare = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": entries}).encode()
    noted = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
                        "annotations": {"org.opencontainers.image.version": "2.0.0"}}).encode()
    with RegistryClient(registry.host, policy=FAST) as client:
        for tag, content in (("bare", bare), ("noted", noted)):
            client.put_manifest("client/index", tag, Manifest(content, OCI_INDEX,
                                                              digest_of(content)))
        fetched = client.get_manifest("client/index", "noted")
        assert fetched is not None and fetched.is_index and fetched.content == noted
        repo = Repository(f"{registry.host}/client/index", client)
        # the guards read an index's own annotation, never a child's label...
        assert repo.identity(digest_of(noted)) == Identity("2.0.0", None)
        # ...and only an index without any falls back to its first image's
        assert repo.identity(digest_of(bare)) == Identity("sha-1a2b3c4-amd64", "1a2b3c4")


def test_tags_follow_link_pagination(registry: Registry, proxy: FaultProxy) -> None:
    image = upload_image(registry, "client/pages", "t0", {})
    with RegistryClient(proxy.host, policy=FAST) as client:
        for n in range(1, 7):
            client.put_manifest("client/pages", f"t{n}", image)
        proxy.reset_counts()
        proxy.tag_page_size = 2
        assert sorted(client.tags("client/pages", page_size=2)) == [f"t{n}" for n in range(7)]
    assert proxy.count("GET", "/tags/list") == 4


def test_blob_mount_and_streamed_blob(registry: Registry) -> None:
    image = upload_image(registry, "client/source", "1", {"x": "y"})
    layer = image.json()["layers"][0]["digest"]
    with RegistryClient(registry.host, policy=FAST) as client:
        assert not client.blob_exists("client/target", layer)
        assert client.mount_blob("client/target", layer, "client/source")
        assert client.blob_exists("client/target", layer)
        with client.open_blob("client/target", layer) as chunks:
            assert b"".join(chunks) == b"layer for client/source1"


def test_transient_faults_are_retried(registry: Registry, proxy: FaultProxy) -> None:
    image = upload_image(registry, "client/flaky", "1", {})
    slept: list[float] = []
    proxy.fail("/manifests/", 503, times=2)
    proxy.drop("/manifests/", times=1)
    proxy.fail("/manifests/", 429, times=1, retry_after="0")
    with RegistryClient(proxy.host, policy=FAST, sleep=slept.append) as client:
        assert client.put_manifest("client/flaky", "2", image) == image.digest
    assert len(slept) == 4
    assert proxy.count("PUT", "/manifests/2") == 5


def test_a_registry_that_stays_down_fails_after_the_retries(
    registry: Registry, proxy: FaultProxy,
) -> None:
    proxy.fail("/v2/", 503, times=None)
    with RegistryClient(proxy.host, policy=FAST, sleep=lambda _: None) as client, \
            pytest.raises(RegistryError) as caught:
        client.head_manifest("client/down", "1")
    assert caught.value.transient and caught.value.status == 503
    assert proxy.host in str(caught.value) and "run again later" in str(caught.value)
    assert proxy.count() == 5


def test_permanent_errors_fail_at_once(registry: Registry, proxy: FaultProxy) -> None:
    proxy.fail("/manifests/", 400, times=1)
    with RegistryClient(proxy.host, policy=FAST) as client, pytest.raises(RegistryError) as caught:
        client.get_manifest("client/bad", "1")
    assert caught.value.status == 400 and not caught.value.transient
    assert proxy.count() == 1


def test_basic_auth_with_good_and_bad_credentials(auth_registry: Registry) -> None:
    assert auth_registry.username and auth_registry.password
    good = Credentials(auth_registry.username, Secret(auth_registry.password))
    with RegistryClient(auth_registry.host, good, policy=FAST) as client:
        client.authenticate([push_scope("client/basic")])
        assert client.tags("client/basic") == []
    bad = Credentials(auth_registry.username, Secret("wrong-basic-pass-1"))
    with RegistryClient(auth_registry.host, bad, policy=FAST) as client, \
            pytest.raises(RegistryError) as caught:
        client.authenticate([push_scope("client/basic")])
    assert caught.value.status == 401
    assert "registries:" in str(caught.value)
    assert "wrong-basic-pass-1" not in repr(caught.value) + str(caught.value)
    with RegistryClient(auth_registry.host, None, policy=FAST) as client, \
            pytest.raises(RegistryError, match="none is configured"):
        client.authenticate([push_scope("client/basic")])


def test_bearer_tokens_are_fetched_once_per_scope_and_renewed_when_they_expire(
    registry: Registry, bearer_proxy: FaultProxy,
) -> None:
    image = upload_image(registry, "client/bearer", "1", {})
    with RegistryClient(bearer_proxy.host, bearer_credentials(), policy=FAST) as client:
        client.authenticate([push_scope("client/bearer")])
        for tag in ("a", "b", "c"):
            client.put_manifest("client/bearer", tag, image)
        # the preflight's push token serves every later push in the same repository
        assert bearer_proxy.count("GET", "^/token$") == 1
        bearer_proxy.expire_tokens()
        client.put_manifest("client/bearer", "d", image)
        assert bearer_proxy.count("GET", "^/token$") == 2
    token_requests = [s for s in bearer_proxy.seen if s.path == "/token"]
    assert "scope=repository%3Aclient%2Fbearer%3Apull%2Cpush" in token_requests[0].query
    assert all(s.authorization.startswith("Basic ") for s in token_requests)
    assert all(not s.authorization.startswith("Basic ")
               for s in bearer_proxy.seen if s.path != "/token")


def test_bearer_bad_password_and_missing_push_permission(
    registry: Registry, bearer_proxy: FaultProxy,
) -> None:
    with RegistryClient(bearer_proxy.host, bearer_credentials("nope-9931"), policy=FAST) \
            as client, pytest.raises(RegistryError, match="bad username or password"):
        client.authenticate([push_scope("client/denied")])
    bearer_proxy.grant = {"pull"}
    with RegistryClient(bearer_proxy.host, bearer_credentials(), policy=FAST) as client, \
            pytest.raises(RegistryError, match="no push permission") as caught:
        client.authenticate([push_scope("client/denied")])
    assert "push (write) access" in str(caught.value)


def test_unreachable_registry_says_so(registry: Registry) -> None:
    gone = FaultProxy(registry.host)
    gone.close()  # its port is free now: nothing listens there
    with RegistryClient(gone.host, policy=FAST, sleep=lambda _: None) as client, \
            pytest.raises(RegistryError, match="connection refused") as caught:
        client.authenticate([push_scope("client/gone")])
    assert "that the registry is up" in str(caught.value)


def test_secrets_never_reach_error_messages(auth_registry: Registry) -> None:
    password = "never-show-me-4411"
    credentials = Credentials("someone", Secret(password))
    with RegistryClient(auth_registry.host, credentials, policy=FAST) as client, \
            pytest.raises(RegistryError) as caught:
        client.put_manifest("client/secret", "1", Manifest(b"{}", DOCKER_MANIFEST,
                                                           digest_of(b"{}")))
    text = str(caught.value) + repr(caught.value) + repr(caught.value.__cause__)
    assert password not in text
    assert secrets.redact(password) == secrets.MASK


def test_a_missing_repository_is_named_with_how_to_create_it(registry: Registry) -> None:
    upload_image(registry, "client/exists", "1", {})
    with RegistryClient(registry.host, policy=FAST) as client:
        client.require_repository("client/exists")
        with pytest.raises(RegistryError, match="client/nothing does not exist") as caught:
            client.require_repository("client/nothing")
    assert "create it first" in str(caught.value)


@pytest.mark.parametrize("fixture", ["registry", "auth_registry"])
def test_distribution_2_8_does_not_delete_tags_and_the_tag_stays(
    fixture: str, request: pytest.FixtureRequest,
) -> None:
    registry: Registry = request.getfixturevalue(fixture)
    image = upload_image(registry, "client/untag", "1.0.0", {})
    credentials = (Credentials(registry.username, Secret(registry.password))
                   if registry.username and registry.password else None)
    with RegistryClient(registry.host, credentials, policy=FAST) as client:
        client.put_manifest("client/untag", "latest", image)
        # distribution 2.8 deletes manifests by digest only: a tag gets 400 DIGEST_INVALID
        assert client.delete_tag("client/untag", "latest") is False
        head = client.head_manifest("client/untag", "latest")
        assert head is not None and head.digest == image.digest
    assert sorted(registry.tags("client/untag")) == ["1.0.0", "latest"]


@pytest.mark.parametrize(("status", "deleted"), [(202, True), (200, True), (405, False)])
def test_delete_tag_reads_what_the_registry_answers(
    registry: Registry, proxy: FaultProxy, status: int, deleted: bool,
) -> None:
    # answers distribution 2.8 cannot be made to give (a registry of OCI distribution 1.1,
    # one that refuses the method): the proxy gives them instead
    proxy.fail("/manifests/old$", status, method="DELETE")
    with RegistryClient(proxy.host, policy=FAST) as client:
        assert client.delete_tag("client/answers", "old") is deleted
    assert proxy.count("DELETE", "/manifests/old") == 1


@pytest.mark.parametrize("status", [403, 404, 400])
def test_delete_tag_refusals_that_are_not_unsupported_raise(
    registry: Registry, proxy: FaultProxy, status: int,
) -> None:
    proxy.fail("/manifests/old$", status, method="DELETE")  # with code UNAVAILABLE
    with RegistryClient(proxy.host, policy=FAST) as client, \
            pytest.raises(RegistryError, match="cannot delete the tag client/refused:old") \
            as caught:
        client.delete_tag("client/refused", "old")
    assert caught.value.status == status and not caught.value.transient


def test_a_client_kept_across_a_build_opens_fresh_connections_and_keeps_its_token(
    registry: Registry, bearer_proxy: FaultProxy,
) -> None:
    """The preflight's client goes on into the publish after the build (one token for
    the run); its idle connections are closed in between, as a NAT may have dropped
    them without a word: the next request comes on a new connection, with the token."""
    upload_image(registry, "client/kept", "1.0.0", {})
    with RegistryClient(bearer_proxy.host, bearer_credentials(), policy=FAST) as client:
        client.authenticate([push_scope("client/kept")])
        assert client.tags("client/kept") == ["1.0.0"]
        before = {s.peer for s in bearer_proxy.seen if s.path != "/token"}
        client.close_connections()
        assert client.tags("client/kept") == ["1.0.0"]
    listed = [s for s in bearer_proxy.seen if s.path.endswith("/tags/list")]
    assert listed[-1].peer not in before and listed[-1].status == 200
    assert listed[-1].authorization.startswith("Bearer ")
    assert len([s for s in bearer_proxy.seen if s.path == "/token"]) == 1
