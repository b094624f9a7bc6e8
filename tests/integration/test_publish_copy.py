"""Several registries: the engine pushes once, the others get a copy read once.

Each registry here is a real `docker-registry` behind a counting proxy, so the tests
see who sent what: the engine (User-Agent docker/...) or Dockyard's own client.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.publish import copy_to_many
from dockyard.registry import (
    DOCKER_MANIFEST,
    Manifest,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    digest_of,
)
from support.cli import Outcome, run_cli
from support.proxy import FaultProxy, Seen
from support.registry import Registry, RegistryFactory

FAST_RETRIES = "publish: {retries: 3, backoff_seconds: 0.01, max_backoff_seconds: 0.05}\n"
RULES = """\
tags:
  - type=semver,pattern={{version}}
  - type=semver,pattern={{major}}.{{minor}}
  - type=semver,pattern={{major}}
"""
LAYER_BYTES = 6 * 1024 * 1024  # more than the copy's per-target queue holds (4 MiB)


def dockyard(repo: Path, *args: str) -> Outcome:
    return run_cli(repo, "run", "--format", "json", *args)


def configure(repo: Path, *images: str, publish: str = FAST_RETRIES) -> None:
    lines = "images:\n" + "".join(f"  - {image}\n" for image in images)
    (repo / "dockyard.yml").write_text(lines + RULES + textwrap.dedent(publish))


@pytest.fixture
def project(git_repo: Callable[..., Path]) -> Callable[[str], Path]:
    """A repository tagged v`version` whose image has two big, incompressible layers."""

    def make(version: str) -> Path:
        return git_repo({"Dockerfile": "FROM scratch\nCOPY a.bin /a.bin\nCOPY b.bin /b.bin\n",
                         "a.bin": os.urandom(LAYER_BYTES), "b.bin": os.urandom(1024 * 1024)},
                        tags=(f"v{version}",))

    return make


@pytest.fixture
def proxies(registry_factory: RegistryFactory) -> Iterator[list[FaultProxy]]:
    """Three registries of their own, each behind a proxy."""
    made = [FaultProxy(registry_factory().host) for _ in range(3)]
    yield made
    for proxy in made:
        proxy.close()


def by_engine(seen: Seen) -> bool:
    return seen.user_agent.startswith("docker/")


def blob_writes(proxy: FaultProxy) -> list[Seen]:
    """The requests that carry blob bytes (the engine PATCHes, Dockyard PUTs)."""
    return [s for s in proxy.seen if "/blobs/uploads/" in s.path and s.method in ("PATCH", "PUT")
            and s.body_bytes]


def verify_pull(host: str, name: str, digest: str, tmp_path: Path) -> None:
    """skopeo downloads every blob of `name@digest` and checks each one's digest."""
    assert shutil.which("skopeo"), "scripts/setup installs skopeo"
    target = tmp_path / f"pulled-{host.replace(':', '-')}"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{host}/{name}@{digest}", f"dir:{target}"],
                   check=True, capture_output=True, timeout=120)
    assert (target / "manifest.json").exists()


def test_the_engine_pushes_once_and_each_blob_is_read_once_for_all_other_registries(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy], tmp_path: Path,
) -> None:
    repo = project("7.1.0")
    images = [f"{proxy.host}/copy/app" for proxy in proxies]
    configure(repo, *images)
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    for image in images:
        entry = outcome.entry(image)
        assert entry["status"] == "pushed"
        assert entry["digest"] == digest
        assert entry["pushed"] == ["7.1.0", "7.1", "7", "latest"]

    origin, *others = proxies
    engine_bytes = sum(s.body_bytes for s in blob_writes(origin) if by_engine(s))
    assert engine_bytes > LAYER_BYTES  # the engine uploaded the layers there
    blobs = origin.count("HEAD", "/blobs/sha256:")  # the engine checks each blob once
    assert origin.count("GET", "/blobs/sha256:") == 3  # config + 2 layers, read once each
    for proxy in others:
        assert not [s for s in proxy.seen if by_engine(s)], "the engine talked to a copy"
        writes = blob_writes(proxy)
        assert len(writes) == 3  # each blob written once, by Dockyard
        assert sum(s.body_bytes for s in writes) == engine_bytes  # the same bytes
        assert all(s.user_agent.startswith("Dockyard/") for s in writes)
        assert not [s for s in writes if s.chunked]  # sized, monolithic PUTs
    assert blobs >= 3
    for proxy in proxies:
        verify_pull(proxy.upstream, "copy/app", digest, tmp_path)
    assert "copying " in outcome.stderr


def test_a_copy_that_fails_half_way_is_sent_again_to_that_registry_alone(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy], tmp_path: Path,
) -> None:
    repo = project("7.2.0")
    images = [f"{proxy.host}/copy/flaky" for proxy in proxies]
    configure(repo, *images)
    _, flaky, steady = proxies
    dropped = flaky.drop(r"/blobs/uploads/.+", method="PUT", times=1)  # the big layer's body
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    assert dropped.hits == 1
    digest = outcome.json["digest"]
    assert {outcome.entry(image)["digest"] for image in images} == {digest}
    assert len(blob_writes(steady)) == 3  # not held up, not sent anything twice
    assert len([s for s in flaky.seen if s.method == "PUT" and "/blobs/uploads/" in s.path]) \
        == 4  # 3 blobs, one of them twice
    verify_pull(flaky.upstream, "copy/flaky", digest, tmp_path)


def test_a_source_that_breaks_off_is_read_again_for_each_registry(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy], tmp_path: Path,
) -> None:
    repo = project("7.3.0")
    images = [f"{proxy.host}/copy/source" for proxy in proxies]
    configure(repo, *images)
    origin = proxies[0]
    # 4 drops use up the first read's retries (3): the shared read fails, then each
    # registry reads the blob again on its own
    broken = origin.drop(r"/blobs/sha256:", method="GET", times=4)
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    assert broken.hits == 4
    digest = outcome.json["digest"]
    for proxy, image in zip(proxies, images, strict=True):
        assert outcome.entry(image)["digest"] == digest
        verify_pull(proxy.upstream, "copy/source", digest, tmp_path)


def test_when_the_first_registry_fails_the_next_one_is_pushed_to_and_nothing_floats(
    project: Callable[[str], Path], base_image: str, registry: Registry,
    proxies: list[FaultProxy],
) -> None:
    repo = project("7.4.0")
    broken, healthy = f"{proxies[0].host}/copy/down", f"{registry.host}/copy/down"
    configure(repo, broken, healthy)
    proxies[0].fail("/manifests/", 503, times=None, method="PUT")  # up for preflight only
    outcome = dockyard(repo)
    assert outcome.code == 1
    assert outcome.entry(broken)["status"] == "failed"
    good = outcome.entry(healthy)
    assert good["status"] == "partial"
    assert good["pushed"] == ["7.4.0"]
    assert registry.tags("copy/down") == ["7.4.0"]
    assert set(outcome.skipped(healthy)) == {"7.4", "7", "latest"}
    # The failing registry's push was not retried before the healthy one was pushed to:
    # the engine tried it once; what followed were Dockyard's copies, with their retries.
    manifest_puts = [s for s in proxies[0].seen if s.method == "PUT" and "/manifests/" in s.path]
    assert len([s for s in manifest_puts if by_engine(s)]) == 1
    assert len([s for s in manifest_puts if not by_engine(s)]) >= 2


def test_upload_each_makes_the_engine_push_to_every_registry(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy],
) -> None:
    repo = project("7.5.0")
    images = [f"{proxy.host}/copy/each" for proxy in proxies[:2]]
    configure(repo, *images, publish="publish: {upload: each, retries: 1}\n")
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    for proxy in proxies[:2]:
        writes = blob_writes(proxy)
        assert writes and all(by_engine(s) for s in writes)
        assert proxy.count("GET", "/blobs/sha256:") == 0
    assert len({outcome.entry(image)["digest"] for image in images}) == 1


def test_an_unknown_upload_mode_is_a_config_error_and_nothing_is_pushed(
    project: Callable[[str], Path], proxies: list[FaultProxy],
) -> None:
    repo = project("7.6.0")
    configure(repo, f"{proxies[0].host}/copy/bad", publish="publish: {upload: twice}\n")
    outcome = dockyard(repo)
    assert outcome.code == 2
    assert "publish.upload" in outcome.stderr and "once or each" in outcome.stderr
    assert "twice" in outcome.stderr
    assert proxies[0].seen == []


class BreaksOff:
    """A real registry client whose first read of blob `digest` breaks off after a chunk."""

    def __init__(self, client: RegistryClient, digest: str) -> None:
        self.client = client
        self.host = client.host
        self.digest = digest
        self.reads = 0
        self.broke = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        self.reads += 1
        first = digest == self.digest and not self.broke
        self.broke |= first
        with self.client.open_blob(repository, digest) as chunks:
            yield self._broken(chunks) if first else chunks

    def _broken(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield next(iter(chunks))
        raise RegistryError(self.host, "connection reset mid-blob", transient=True)


def test_a_read_that_breaks_off_mid_blob_never_leaves_a_sized_upload_waiting(
    registry_factory: RegistryFactory,
) -> None:
    source_registry, one, two = (registry_factory() for _ in range(3))
    blob = os.urandom(2 * 1024 * 1024)  # 32 chunks
    config = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}'
    policy = RetryPolicy(retries=2, backoff_seconds=0.01, timeout_seconds=60)
    with RegistryClient(source_registry.host, policy=policy) as source:
        for data in (config, blob):
            source.upload_blob("copy/broken", digest_of(data), [data], len(data))
        content = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": digest_of(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(blob), "digest": digest_of(blob)}]}).encode()
        manifest = Manifest(content, DOCKER_MANIFEST, digest_of(content))
        source.put_manifest("copy/broken", manifest.digest, manifest)
        flaky = BreaksOff(source, digest_of(blob))
        with RegistryClient(one.host, policy=policy) as first, \
                RegistryClient(two.host, policy=policy) as second:
            started = time.monotonic()
            problems = copy_to_many(flaky, "copy/broken",  # type: ignore[arg-type]
                                    manifest, [(first, "copy/a"), (second, "copy/b")],
                                    policy=policy, sleep=lambda _: None)
            took = time.monotonic() - started
    assert problems == [None, None]
    assert took < 20  # a short body under a Content-Length would wait out the 60 s timeout
    assert flaky.reads == 1 + 1 + 2  # config shared; the layer's shared read broke; then alone
    for registry, path in ((one, "copy/a"), (two, "copy/b")):
        assert registry.manifest_digest(path, manifest.digest) == manifest.digest


def test_a_copy_from_a_token_registry_to_a_password_registry(
    project: Callable[[str], Path], base_image: str, registry: Registry,
    auth_registry: Registry, tmp_path: Path,
) -> None:
    """GHCR-like first (Bearer tokens from a token service), htpasswd second: the copy
    reads with a pull token for the first and writes with basic auth to the second."""
    token_registry = FaultProxy(registry.host, bearer=("robot", "robot-pass-7731"))
    try:
        repo = project("7.7.0")
        assert auth_registry.username and auth_registry.password
        images = [f"{token_registry.host}/copy/auth", f"{auth_registry.host}/copy/auth"]
        configure(repo, *images, publish=FAST_RETRIES + (
            f"registries:\n"
            f"  {token_registry.host}: {{username: robot, password: robot-pass-7731}}\n"
            f"  {auth_registry.host}:\n"
            f"    username: {auth_registry.username}\n"
            f"    password: {auth_registry.password}\n"))
        outcome = dockyard(repo)
        assert outcome.code == 0, outcome.stderr
        digest = outcome.json["digest"]
        assert {outcome.entry(image)["digest"] for image in images} == {digest}
        reads = [s for s in token_registry.seen if s.method == "GET" and "/blobs/" in s.path]
        # each blob read once, with the token the publish already holds: no login per
        # blob read side by side
        assert len(reads) == len({s.path for s in reads}) == 3
        assert all(s.status == 200 and s.authorization.startswith("Bearer ") for s in reads)
        ours = [s for s in token_registry.seen
                if s.path == "/token" and not by_engine(s)]
        # one token in the whole run: the preflight's (pull,push), whose client the
        # publish goes on with for its listing, the copy's reads and the writes
        assert len(ours) == 1, [s.query for s in ours]
        assert "pull%2Cpush" in ours[0].query
        assert auth_registry.manifest_digest("copy/auth", "7.7.0") == digest
        for secret in ("robot-pass-7731", auth_registry.password):
            assert secret not in outcome.stdout + outcome.stderr
    finally:
        token_registry.close()


def test_a_second_repository_on_the_same_registry_gets_the_blobs_by_mount(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy],
) -> None:
    repo = project("7.8.0")
    proxy = proxies[0]
    images = [f"{proxy.host}/copy/main", f"{proxy.host}/mirror/main"]
    configure(repo, *images)
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    assert len({outcome.entry(image)["digest"] for image in images}) == 1
    mounts = [s for s in proxy.seen if s.method == "POST" and "/mirror/main/blobs/uploads/" in
              s.path]
    assert len(mounts) == 3 and all("mount=" in s.query and "from=copy" in s.query
                                    for s in mounts)
    assert not [s for s in blob_writes(proxy) if "/mirror/" in s.path]  # no bytes sent again
    assert not [s for s in proxy.seen if s.method == "GET" and "/blobs/" in s.path]


def test_promote_to_several_registries_reads_each_blob_once(
    project: Callable[[str], Path], base_image: str, proxies: list[FaultProxy], tmp_path: Path,
) -> None:
    repo = project("7.9.0")
    source, *targets = proxies
    configure(repo, f"{source.host}/copy/promoted")
    released = dockyard(repo)
    assert released.code == 0, released.stderr
    digest = released.json["digest"]
    source.reset_counts()
    promoted = run_cli(repo, "promote", f"{source.host}/copy/promoted:7.9.0",
                       *(f"{target.host}/copy/stable:7.9" for target in targets),
                       "--format", "json")
    assert promoted.code == 0, promoted.stderr
    assert promoted.json["digest"] == digest
    reads = Counter(s.path.rsplit("/", 1)[1] for s in source.seen
                    if s.method == "GET" and "/blobs/" in s.path)
    with RegistryClient(source.upstream) as reader:
        stored = reader.get_manifest("copy/promoted", digest)
    assert stored is not None
    layers = [layer["digest"] for layer in stored.json()["layers"]]
    config = stored.json()["config"]["digest"]
    # each layer once for both targets; the config once more, for its labels (the
    # version and revision the guards compare)
    assert reads == {**{layer: 1 for layer in layers}, config: 2}
    for target in targets:
        assert len(blob_writes(target)) == 3
        verify_pull(target.upstream, "copy/stable", digest, tmp_path)
