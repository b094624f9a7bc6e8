"""Safe publishing end to end: a real engine, real registries, faults from a proxy."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from support.cli import Outcome, run_cli
from support.proxy import FaultProxy
from support.registry import Registry, RegistryFactory

FAST_RETRIES = "publish: {retries: 3, backoff_seconds: 0.01, max_backoff_seconds: 0.05}\n"
SEMVER_RULES = """\
tags:
  - type=semver,pattern={{version}}
  - type=semver,pattern={{major}}.{{minor}}
  - type=semver,pattern={{major}}
"""


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """`dockyard run --format json ARGS` in-process."""
    return run_cli(repo, "run", "--format", "json", *args, env=env)


def configure(repo: Path, *images: str, extra: str = "") -> None:
    lines = "images:\n" + "".join(f"  - {image}\n" for image in images)
    (repo / "dockyard.yml").write_text(lines + SEMVER_RULES + FAST_RETRIES
                                       + textwrap.dedent(extra))


def release_repo(git_repo: Callable[..., Path], version: str, content: str = "") -> Path:
    """A repository tagged v`version`; `content` makes a different commit (revision)."""
    return git_repo({"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
                     "hello.txt": f"hello {content or 'dockyard'}\n"}, tags=(f"v{version}",))


@pytest.fixture
def proxy(registry_factory: RegistryFactory) -> Iterator[FaultProxy]:
    """A proxy in front of a registry of its own, so counts see only this test."""
    fault_proxy = FaultProxy(registry_factory().host)
    yield fault_proxy
    fault_proxy.close()


def test_extra_tags_are_manifest_puts_without_any_new_upload(
    git_repo: Callable[..., Path], base_image: str, proxy: FaultProxy,
) -> None:
    repo = release_repo(git_repo, "3.1.4")
    image = f"{proxy.host}/pub/extra"
    configure(repo, image)
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    entry = outcome.entry(image)
    assert entry["pushed"] == ["3.1.4", "3.1", "3", "latest"]
    seen = proxy.seen
    first_manifest = next(i for i, s in enumerate(seen)
                          if s.method == "PUT" and "/manifests/" in s.path)
    after = seen[first_manifest + 1:]
    assert not [s for s in after if "/blobs/uploads" in s.path]  # no POST/PATCH/PUT of blobs
    assert [s.path.rsplit("/", 1)[-1] for s in after
            if s.method == "PUT"] == ["3.1", "3", "latest"]
    # after the push: one read of what was pushed (the bytes to write again); then per
    # version line one HEAD just before its write (what it points at now: a concurrent run
    # may have moved it) and the write; last, one listing to derive the lines again from
    # what the registry holds. No blob checks, no reads of the new tags' images.
    assert [(s.method, s.path.rsplit("/", 2)[-2]) for s in after] == [
        ("GET", "manifests"),
        ("HEAD", "manifests"), ("PUT", "manifests"),
        ("HEAD", "manifests"), ("PUT", "manifests"),
        ("HEAD", "manifests"), ("PUT", "manifests"),
        ("GET", "tags")]
    uploads = proxy.count("POST", "/blobs/uploads/$")
    assert uploads >= 2  # config and layer, once each, all by the docker push
    counts = proxy.by_method_and_kind()
    assert counts["PUT manifests"] == 4
    print(f"requests at the proxy for one push + 3 extra tags: {dict(counts)}; "
          f"blob bytes: {proxy.bytes_sent(pattern='/blobs/uploads/')}")
    with FaultProxyReader(proxy) as read:
        digests = {read.digest("pub/extra", tag) for tag in ("3.1.4", "3.1", "3", "latest")}
    assert digests == {entry["digest"]}


class FaultProxyReader:
    """HEADs through the registry behind a proxy, bypassing its counts and faults."""

    def __init__(self, proxy: FaultProxy) -> None:
        from dockyard.registry import RegistryClient

        self._client = RegistryClient(proxy.upstream)

    def __enter__(self) -> FaultProxyReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def digest(self, name: str, tag: str) -> str | None:
        head = self._client.head_manifest(name, tag)
        return head.digest if head else None


def test_transient_faults_on_the_way_are_survived(
    git_repo: Callable[..., Path], base_image: str, proxy: FaultProxy,
) -> None:
    repo = release_repo(git_repo, "5.0.0")
    image = f"{proxy.host}/pub/flaky"
    configure(repo, image)
    faults = [
        proxy.fail("^/v2/$", 503, times=1),  # preflight
        proxy.fail("^/v2/$", 429, times=1, retry_after="0"),
        proxy.drop("/manifests/5.0$", times=1, method="PUT"),  # an extra tag
        proxy.fail("/manifests/5$", 502, times=2, method="PUT"),
        proxy.fail("/tags/list", 503, times=1, method="GET"),  # the listing before writing
        proxy.fail("/manifests/5.0.0$", 503, times=1, method="PUT"),  # the docker push
    ]
    outcome = dockyard(repo)
    assert outcome.code == 0, outcome.stderr
    assert [f.hits for f in faults] == [1, 1, 1, 2, 1, 1]
    assert "push of " in outcome.stderr and "retrying in" in outcome.stderr  # docker push again
    assert outcome.entry(image)["pushed"] == ["5.0.0", "5.0", "5", "latest"]
    with FaultProxyReader(proxy) as read:
        assert read.digest("pub/flaky", "latest") == outcome.json["digest"]


def test_a_registry_that_stays_down_moves_no_floating_tag_anywhere(
    git_repo: Callable[..., Path], base_image: str, registry: Registry, proxy: FaultProxy,
) -> None:
    repo = release_repo(git_repo, "6.0.0")
    healthy, broken = f"{registry.host}/pub/down", f"{proxy.host}/pub/down"
    configure(repo, healthy, broken)
    proxy.fail("/manifests/", 503, times=None, method="PUT")  # up for preflight, down after
    started = time.monotonic()
    outcome = dockyard(repo)
    assert outcome.code == 1
    assert time.monotonic() - started < 120
    assert outcome.entry(broken)["status"] == "failed"
    assert "503" in outcome.entry(broken)["error"]
    good = outcome.entry(healthy)
    assert good["status"] == "partial"
    assert good["pushed"] == ["6.0.0"]
    assert outcome.skipped(healthy) == {
        tag: "held back: the release did not land on every registry"
        for tag in ("6.0", "6", "latest")}
    assert registry.tags("pub/down") == ["6.0.0"]
    assert f"{broken}: " in outcome.stderr


def test_backport_rerun_and_impostor(
    git_repo: Callable[..., Path], base_image: str, proxy: FaultProxy,
) -> None:
    image = f"{proxy.host}/pub/versions"

    v2 = release_repo(git_repo, "2.0.0", "two")
    configure(v2, image)
    first = dockyard(v2)
    assert first.code == 0, first.stderr
    v2_digest = first.json["digest"]

    # a backport released after 2.0.0 moves 1 and 1.4 but leaves latest on 2.0.0
    old = release_repo(git_repo, "1.4.2", "backport")
    configure(old, image)
    backport = dockyard(old)
    assert backport.code == 0, backport.stderr
    assert backport.entry(image)["pushed"] == ["1.4.2", "1.4", "1"]
    assert backport.skipped(image) == {
        "latest": "held back: latest points at 2.0.0, newer than 1.4.2"}
    with FaultProxyReader(proxy) as read:
        assert read.digest("pub/versions", "latest") == v2_digest
        assert read.digest("pub/versions", "1") == backport.json["digest"]

    # running 2.0.0 again is a no-op: nothing written, nothing uploaded
    proxy.reset_counts()
    again = dockyard(v2)
    assert again.code == 0, again.stderr
    assert again.entry(image)["pushed"] == []
    assert again.skipped(image) == {"2.0.0": "already published: it holds this revision",
                                    "2.0": "already points at this image",
                                    "2": "already points at this image",
                                    "latest": "already points at this image"}
    assert again.json["digest"] == v2_digest
    assert proxy.count("PUT") == proxy.count("POST") == proxy.count("PATCH") == 0

    # a different build claiming 2.0.0 is refused before it is built
    impostor = release_repo(git_repo, "2.0.0", "impostor")
    configure(impostor, image)
    proxy.reset_counts()
    refused = dockyard(impostor)
    assert refused.code == 1
    assert "already exists, built from revision" in refused.stderr
    assert "--force" in refused.stderr
    assert refused.json["image_id"] is None
    assert proxy.count("PUT") == proxy.count("POST") == 0
    with FaultProxyReader(proxy) as read:
        assert read.digest("pub/versions", "2.0.0") == v2_digest

    # --force overrides the guards
    forced = dockyard(impostor, "--force")
    assert forced.code == 0, forced.stderr
    assert forced.entry(image)["pushed"] == ["2.0.0", "2.0", "2", "latest"]
    with FaultProxyReader(proxy) as read:
        assert read.digest("pub/versions", "2.0.0") == forced.json["digest"] != v2_digest


def test_preflight_wrong_password_fails_in_seconds_before_any_build(
    git_repo: Callable[..., Path], base_image: str, registry: Registry,
    auth_registry: Registry, docker_engine: docker.DockerClient,
) -> None:
    repo = release_repo(git_repo, "7.0.0", "preflight")
    wrong = "wrong-preflight-pass-5517"
    configure(repo, f"{registry.host}/pub/preflight", f"{auth_registry.host}/pub/preflight",
              extra=f"""\
registries:
  {auth_registry.host}:
    username: {auth_registry.username}
    password: ${{REGISTRY_PASSWORD}}
""")
    started = time.monotonic()
    outcome = dockyard(repo, env={"REGISTRY_PASSWORD": wrong})
    elapsed = time.monotonic() - started
    assert outcome.code == 1
    assert elapsed < 10
    assert "preflight failed, nothing was built or pushed" in outcome.stderr
    assert f"{auth_registry.host}/pub/preflight: refused the credentials" in outcome.stderr
    assert "registries:" in outcome.stderr
    assert "building" not in outcome.stderr
    with pytest.raises(ImageNotFound):
        docker_engine.images.get(f"{registry.host}/pub/preflight:7.0.0")
    assert registry.tags("pub/preflight") == []
    for text in (outcome.stdout, outcome.stderr):
        assert wrong not in text


def test_preflight_reports_each_registry_problem(
    git_repo: Callable[..., Path], registry: Registry,
) -> None:
    pull_only = FaultProxy(registry.host, bearer=("robot", "robot-pass-2210"))
    pull_only.grant = {"pull"}
    closed = FaultProxy(registry.host)
    closed.close()
    try:
        repo = release_repo(git_repo, "8.0.0", "problems")
        configure(repo, f"{pull_only.host}/pub/problems", f"{closed.host}/pub/problems",
                  extra=f"""\
registries:
  {pull_only.host}: {{username: robot, password: robot-pass-2210}}
""")
        outcome = dockyard(repo)
    finally:
        pull_only.close()
    assert outcome.code == 1
    assert "no push permission" in outcome.stderr
    assert "give these credentials push (write) access" in outcome.stderr
    assert f"{closed.host}/pub/problems: cannot reach the registry (connection refused)" \
        in outcome.stderr
    assert {e["status"] for e in outcome.json["registries"]} == {"failed"}
    assert "robot-pass-2210" not in outcome.stdout + outcome.stderr
