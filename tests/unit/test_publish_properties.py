"""Publishing's guarantees as properties, over an in-memory model of the registries.

The model (`Model`) holds, per registry host, repositories of blobs, manifests (exact
bytes, digest = sha256 of them) and tags; `Client` is the view of it that publishing
gets where it would get a `RegistryClient`, and `Engine` "pushes" built images into it
as `docker push` does (blobs, then the manifest under the tag). Faults are the model's
too: a registry down, one refusing every write, one refusing `PUT manifests/<tag>`.

Guarantees checked, after every operation of a random sequence (runs of new versions,
backports and re-runs, promotes, merges, over 2-3 registries, with faults):

1. no version line points at a lower version than before (semver order, the version an
   image says it is: its config label, or an index's own annotation);
2. a release tag (`1.2.3`, `sha-xxxxxxx`) keeps its first digest on every registry;
3. after an operation without an error, each of its release tags names one digest on
   every registry, and each floating tag it moved names one digest on every registry;
4. of two runs interleaved, each ending without error, every version line ends on the
   newest release of its line that every registry holds.

Interleavings (`Scheduler`) are deterministic: every model call of either run waits for
a turn, one call runs at a time, and the next turn is granted only when every thread of
both runs is waiting for one, blocked in a thread pool's `map` (the pools are replaced by
counting ones) or done. The runs take turns in drawn bursts (so many calls of A, then so
many of B...), so every interleaving of the two runs at the granularity of registry
requests (the engine's pushes too, request by request) is reachable; within one run,
calls waiting at once (its registries in parallel) go in a fixed order. Two registries
only there: three would make the copy stream a blob to two targets at once, through
threads and queues the scheduler cannot see.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest
import semver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard import versions
from dockyard.errors import PublishError
from dockyard.names import parse_image
from dockyard.publish import Options, Published, Release, merge, promote, publish
from dockyard.publish import copy as copy_module
from dockyard.publish import order as order_module
from dockyard.registry import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_MANIFEST,
    REVISION_LABEL,
    VERSION_LABEL,
    Descriptor,
    Manifest,
    RegistryClient,
    RegistryError,
    digest_of,
)
from dockyard.settings import Credentials, Publishing
from dockyard.tagging import PlannedTag, TagKind

T = TypeVar("T")

SETTINGS = Options(force=False, publishing=Publishing(retries=0, backoff_seconds=0.0))
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "2.0.1",
            "2.1.0", "3.0.0")
FLOATING = ("latest", "1", "2", "3", "1.0", "1.10", "2.0", "main", "stable")
CHUNK = 7  # bytes per chunk the model streams: every blob comes in several
TURN_TIMEOUT = 10.0
# Merges run again for a revision some registry holds already (see
# test_a_merge_run_again_lands_the_release_it_finds): they must land that release.
MERGE_RERUNS = True


def image_of(host: int) -> str:
    return f"reg{host + 1}.test/app"


def is_release_name(tag: str) -> bool:
    return versions.parse(tag) is not None or re.fullmatch(r"sha-[0-9a-f]{7}", tag) is not None


def is_line_name(tag: str) -> bool:
    return tag == "latest" or re.fullmatch(r"\d+(\.\d+)?", tag) is not None


# ---------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Fault:
    host: int
    kind: str  # "down": every request refused; "writes": every write; "tag": PUT of `tag`
    tag: str = ""


@dataclass
class Repo:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # digest -> (, type)
    tags: dict[str, str] = field(default_factory=dict)


class Model:
    """Every registry's state, shared by all clients; faults; optionally a scheduler."""

    def __init__(self, hosts: Sequence[str], *, delete_tags: bool) -> None:
        self.hosts = list(hosts)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.delete_tags = delete_tags
        self.faults: list[Fault] = []
        self.scheduler: Scheduler | None = None
        self.lock = threading.RLock()
        self.start: dict[tuple[str, str], str] = {}  # (host, tag) -> digest, as the op began
        self.backwards: list[str] = []  # line writes below where the operation found them

    def repo(self, host: str, path: str) -> Repo:
        return self.repos.setdefault((host, path), Repo())

    def call(self, owner: str, key: str, work: Callable[[], T]) -> T:
        if self.scheduler is not None:
            return self.scheduler.call(owner, key, lambda: self._locked(work))
        return self._locked(work)

    def _locked(self, work: Callable[[], T]) -> T:
        with self.lock:
            return work()

    def refuse(self, host: str, *, write: bool = False, tag: str | None = None) -> None:
        for fault in self.faults:
            if self.hosts[fault.host % len(self.hosts)] != host:
                continue
            if fault.kind == "down" or (fault.kind == "writes" and write) or \
                    (fault.kind == "tag" and tag == fault.tag):
                raise RegistryError(host, f"HTTP 503 ({fault.kind} fault)", status=503,
                                    transient=True)

    def check_line(self, host: str, path: str, tag: str, digest: str) -> None:
        was = self.start.get((host, tag))
        if not is_line_name(tag) or was is None:
            return
        old, new = self.version(host, path, was), self.version(host, path, digest)
        if old is not None and (new is None or new < old):
            self.backwards.append(f"{host}/{path}:{tag} written from {old} to {new}")

    # What the checks read, bypassing faults and the scheduler.

    def pointer(self, host: str, path: str, tag: str) -> str | None:
        return self.repo(host, path).tags.get(tag)

    def version(self, host: str, path: str, digest: str) -> versions.Version | None:
        repo = self.repo(host, path)
        content, media_type = repo.manifests[digest]
        data = json.loads(content)
        version = (data.get("annotations") or {}).get(VERSION_LABEL)
        if version is None and media_type in INDEX_TYPES:
            return self.version(host, path, data["manifests"][0]["digest"])
        if version is None:
            config = json.loads(repo.blobs[data["config"]["digest"]])
            version = config["config"]["Labels"].get(VERSION_LABEL)
        return versions.parse(version, partial=True)

    def snapshot(self) -> dict[tuple[str, str], str]:
        """(host, tag) -> digest, of every tag of every registry's `app`."""
        with self.lock:
            return {(host, tag): digest for (host, _), repo in self.repos.items()
                    for tag, digest in repo.tags.items()}


class Client:
    """What publishing calls on a RegistryClient, over the model for one host."""

    def __init__(self, model: Model, host: str, owner: str) -> None:
        self.model = model
        self.host = host
        self.owner = owner

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def _call(self, what: str, work: Callable[[], T]) -> T:
        return self.model.call(self.owner, f"{self.host} {what}", work)

    def authenticate(self, scopes: Sequence[str]) -> None:
        self._call("GET /v2/", lambda: self.model.refuse(self.host))

    def require_repository(self, repository: str) -> None:
        self._call("GET tags n=1", lambda: self.model.refuse(self.host))

    def _manifest(self, repository: str, reference: str) -> Manifest | None:
        self.model.refuse(self.host)
        repo = self.model.repo(self.host, repository)
        digest = repo.tags.get(reference, reference)
        if digest not in repo.manifests:
            return None
        content, media_type = repo.manifests[digest]
        return Manifest(content=content, media_type=media_type, digest=digest)

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        def work() -> Descriptor | None:
            found = self._manifest(repository, reference)
            return Descriptor(found.digest, found.media_type, len(found.content)) \
                if found is not None else None

        return self._call(f"HEAD manifests/{reference}", work)

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        return self._call(f"GET manifests/{reference}",
                          lambda: self._manifest(repository, reference))

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        def work() -> str:
            self.model.refuse(self.host, write=True, tag=reference)
            repo = self.model.repo(self.host, repository)
            digest = digest_of(manifest.content)
            if digest != manifest.digest or (reference.startswith("sha256:")
                                              and reference != digest):
                raise RegistryError(self.host, "DIGEST_INVALID", status=400)
            data = json.loads(manifest.content)
            if manifest.media_type in INDEX_TYPES:
                missing = [m["digest"] for m in data["manifests"]
                           if m["digest"] not in repo.manifests]
            else:
                missing = [b["digest"] for b in [data["config"], *data["layers"]]
                           if b["digest"] not in repo.blobs]
            if missing:
                raise RegistryError(self.host, f"MANIFEST_BLOB_UNKNOWN {missing}", status=400)
            repo.manifests[digest] = (manifest.content, manifest.media_type)
            if not reference.startswith("sha256:"):
                repo.tags[reference] = digest
                self.model.check_line(self.host, repository, reference, digest)
            return digest

        return self._call(f"PUT manifests/{reference}", work)

    def delete_tag(self, repository: str, tag: str) -> bool:
        def work() -> bool:
            self.model.refuse(self.host, write=True)
            if not self.model.delete_tags:
                return False
            self.model.repo(self.host, repository).tags.pop(tag, None)
            return True

        return self._call(f"DELETE manifests/{tag}", work)

    def blob_exists(self, repository: str, digest: str) -> bool:
        def work() -> bool:
            self.model.refuse(self.host)
            return digest in self.model.repo(self.host, repository).blobs

        return self._call(f"HEAD blobs/{digest}", work)

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        def work() -> bool:
            self.model.refuse(self.host, write=True)
            found = self.model.repo(self.host, source).blobs.get(digest)
            if found is None:
                return False
            self.model.repo(self.host, repository).blobs[digest] = found
            return True

        return self._call(f"POST blobs/uploads mount={digest}", work)

    def upload_blob(self, repository: str, digest: str, chunks: Iterable[bytes],
                    size: int | None = None) -> None:
        content = b"".join(chunks)  # outside the turn: the chunks may come from a copy

        def work() -> None:
            self.model.refuse(self.host, write=True)
            if digest_of(content) != digest or (size is not None and size != len(content)):
                raise RegistryError(self.host, "DIGEST_INVALID", status=400)
            self.model.repo(self.host, repository).blobs[digest] = content

        self._call(f"PUT blobs/uploads digest={digest}", work)

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        def work() -> bytes:
            self.model.refuse(self.host)
            found = self.model.repo(self.host, repository).blobs.get(digest)
            if found is None:
                raise RegistryError(self.host, f"BLOB_UNKNOWN {digest}", status=404)
            return found

        content = self._call(f"GET blobs/{digest}", work)
        yield iter([content[i:i + CHUNK] for i in range(0, len(content), CHUNK)])

    def image_config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        digest = str((manifest.json().get("config") or {}).get("digest") or "")
        if not digest:
            return {}
        with self.open_blob(repository, digest) as chunks:
            data: dict[str, Any] = json.loads(b"".join(chunks))
        return data

    def image_labels(self, repository: str, reference: str) -> dict[str, str] | None:
        manifest = self.get_manifest(repository, reference)
        if manifest is None:
            return None
        if manifest.is_index:
            child = self.get_manifest(repository, manifest.json()["manifests"][0]["digest"])
            if child is None:
                return {}
            manifest = child
        labels = (self.image_config(repository, manifest).get("config") or {}).get("Labels")
        return {str(k): str(v) for k, v in (labels or {}).items()}

    def tags(self, repository: str, page_size: int = 100) -> list[str]:
        def work() -> list[str]:
            self.model.refuse(self.host)
            return sorted(self.model.repo(self.host, repository).tags)

        return self._call("GET tags/list", work)


def connector(model: Model, owner: str) -> Callable[[str, Credentials | None], RegistryClient]:
    def connect(host: str, _: Credentials | None) -> RegistryClient:
        return cast(RegistryClient, Client(model, host, owner))

    return connect


@dataclass(frozen=True)
class Pushed:
    digest: str


@dataclass(frozen=True)
class Built:
    config: bytes
    layer: bytes
    media_type: str

    @property
    def manifest(self) -> bytes:
        config_type = "application/vnd.oci.image.config.v1+json" \
            if self.media_type == OCI_MANIFEST else "application/vnd.docker.container.image.v1+json"
        layer_type = "application/vnd.oci.image.layer.v1.tar+gzip" \
            if self.media_type == OCI_MANIFEST else \
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        return json.dumps({
            "schemaVersion": 2, "mediaType": self.media_type,
            "config": {"mediaType": config_type, "size": len(self.config),
                       "digest": digest_of(self.config)},
            "layers": [{"mediaType": layer_type, "size": len(self.layer),
                        "digest": digest_of(self.layer)}],
        }, indent=3).encode()


class Engine:
    """A Docker engine: images built here, tagged, pushed into the model."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.images: dict[str, Built] = {}  # image id (config digest) -> image
        self.names: dict[str, str] = {}  # reference -> image id
        self.builds = 0
        self.lock = threading.Lock()

    def build(self, version: str | None, revision: str | None, *,
              architecture: str = "amd64") -> str:
        with self.lock:
            self.builds += 1
            labels = {VERSION_LABEL: version, REVISION_LABEL: revision}
            config = json.dumps({"architecture": architecture, "os": "linux",
                                 "config": {"Labels": {k: v for k, v in labels.items() if v}},
                                 "build": self.builds}).encode()
            layer = f"layer of build {self.builds}".encode() * 3
            media_type = OCI_MANIFEST if self.builds % 2 else DOCKER_MANIFEST
            image_id = digest_of(config)
            self.images[image_id] = Built(config, layer, media_type)
            return image_id

    def tag(self, image_id: str, reference: str) -> None:
        with self.lock:
            self.names[reference] = image_id

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> Pushed:
        with self.lock:
            image = self.images[self.names[f"{repository}:{tag}"]]
        return Pushed(self.push_image(repository, image, tag, owner=_owner()))

    def push_image(self, repository: str, image: Built, tag: str | None, *,
                   owner: str) -> str:
        name = parse_image(repository)
        client = Client(self.model, name.host, owner)
        content = image.manifest
        try:
            for blob in (image.config, image.layer):
                if not client.blob_exists(name.path, digest_of(blob)):
                    client.upload_blob(name.path, digest_of(blob), [blob], len(blob))
            return client.put_manifest(name.path, tag or digest_of(content),
                                       Manifest(content, image.media_type, digest_of(content)))
        except RegistryError as exc:
            raise PublishError(f"push of {repository}:{tag} failed: {exc}") from exc


# ---------------------------------------------------------------------- deterministic interleaving

_local = threading.local()


def _owner() -> str:
    return str(getattr(_local, "owner", "main"))


@dataclass
class _Waiting:
    owner: str
    key: str
    granted: bool = False


class Scheduler:
    """One registry call at a time, granted only when no thread of any run is running."""

    def __init__(self, owners: Sequence[str], bursts: Sequence[int]) -> None:
        self.cond = threading.Condition()
        self.active = dict.fromkeys(owners, 1)  # threads running (not waiting) per run
        self.done: set[str] = set()
        self.waiting: list[_Waiting] = []
        self.bursts = list(bursts)  # calls granted to one run before the other's turn
        self.aborted: str | None = None
        self.trace: list[str] = []

    def call(self, owner: str, key: str, work: Callable[[], T]) -> T:
        assert owner == _owner(), (owner, _owner())
        with self.cond:
            if self.aborted is None:
                turn = _Waiting(owner, key)
                self.waiting.append(turn)
                self.active[owner] -= 1
                self.cond.notify_all()
                self.cond.wait_for(lambda: turn.granted or self.aborted is not None,
                                   timeout=TURN_TIMEOUT * 2)
        return work()

    def blocked(self, owner: str, tasks: int) -> None:
        """A thread of `owner` waits for `tasks` new threads of it (a pool's map)."""
        with self.cond:
            self.active[owner] += tasks - 1
            self.cond.notify_all()

    def task_done(self, owner: str, last: bool) -> None:
        """A pool task ended; the last one hands its turn to the thread waiting for it."""
        with self.cond:
            if not last:
                self.active[owner] -= 1
                self.cond.notify_all()

    def finished(self, owner: str) -> None:
        with self.cond:
            self.active[owner] -= 1
            self.done.add(owner)
            self.cond.notify_all()

    def abort(self, why: str) -> None:
        with self.cond:
            self.aborted = self.aborted or why
            self.cond.notify_all()

    def drive(self) -> None:
        """Grant turns until every run is done; abort (and say why) if one hangs."""
        owner, left, burst = "", 0, 0
        with self.cond:
            while True:
                if not self.cond.wait_for(lambda: all(n == 0 for n in self.active.values()),
                                          timeout=TURN_TIMEOUT):
                    self.aborted = f"a run kept running without a registry call: {self.active}"
                    self.cond.notify_all()
                    return
                if not self.waiting:
                    if len(self.done) < len(self.active):
                        self.aborted = "deadlock: nothing waits for a turn, a run is not done"
                        self.cond.notify_all()
                    return
                owners = sorted({turn.owner for turn in self.waiting})
                if owner not in owners or left == 0:  # the burst is over: the other run's
                    others = [o for o in owners if o != owner] or owners
                    owner = others[0]
                    left = self.bursts[burst] if burst < len(self.bursts) else -1
                    burst += 1
                turn = min((turn for turn in self.waiting if turn.owner == owner),
                           key=lambda turn: turn.key)
                left -= 1
                self.waiting.remove(turn)
                self.active[owner] += 1
                turn.granted = True
                self.trace.append(f"{owner}: {turn.key}")
                self.cond.notify_all()


class CountingPool:
    """A ThreadPoolExecutor whose map tells the scheduler which threads run and wait."""

    scheduler: Scheduler

    def __init__(self, max_workers: int | None = None, **_: Any) -> None:
        self._pool = ThreadPoolExecutor(max_workers=32)  # never a task queued behind a wait

    def __enter__(self) -> CountingPool:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True)

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        owner, items = _owner(), list(zip(*iterables, strict=False))
        if not items:
            return iter([])
        left = [len(items)]
        lock = threading.Lock()

        def task(args: tuple[Any, ...]) -> T:
            _local.owner = owner
            try:
                return fn(*args)
            finally:
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                self.scheduler.task_done(owner, last)

        self.scheduler.blocked(owner, len(items))
        futures = [self._pool.submit(task, args) for args in items]
        return iter([future.result() for future in futures])


def interleave(model: Model, runs: dict[str, Callable[[], T]],
               bursts: Sequence[int]) -> tuple[dict[str, T], Scheduler]:
    """Run `runs` at once, taking turns: `bursts[i]` calls each (then to the end)."""
    scheduler = Scheduler(list(runs), bursts)
    CountingPool.scheduler = scheduler
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}

    def start(owner: str, run: Callable[[], T]) -> None:
        _local.owner = owner
        try:
            results[owner] = run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test, below
            errors[owner] = exc
        finally:
            scheduler.finished(owner)

    threads = [threading.Thread(target=start, args=item, daemon=True) for item in runs.items()]
    model.scheduler = scheduler
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(order_module, "ThreadPoolExecutor", CountingPool)
        patch.setattr(copy_module, "ThreadPoolExecutor", CountingPool)
        try:
            for thread in threads:
                thread.start()
            scheduler.drive()
        finally:
            model.scheduler = None
            scheduler.abort("the test ended")
            for thread in threads:
                thread.join(TURN_TIMEOUT)
    assert scheduler.aborted == "the test ended", scheduler.aborted
    assert not errors, f"publish raised instead of returning a result: {errors!r}"
    return results, scheduler


# ---------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Plan:
    minor: bool
    major: bool
    latest: bool
    sha: bool
    channel: bool


@dataclass(frozen=True)
class Run:
    version: int  # an index into VERSIONS
    rerun: bool  # of the last revision this version was built from, when there is one
    plan: Plan
    fault: Fault | None


@dataclass(frozen=True)
class Promote:
    source: int  # host
    version: int
    targets: tuple[str, ...]  # "latest", "stable", "major", "version"
    hosts: tuple[int, ...]
    fault: Fault | None


@dataclass(frozen=True)
class Merge:
    version: int
    rerun: bool
    plan: Plan
    fault: Fault | None


Operation = Run | Promote | Merge

plans = st.builds(Plan, st.booleans(), st.booleans(), st.booleans(), st.booleans(),
                  st.booleans())
faults = st.none() | st.builds(Fault, st.integers(0, 2),
                               st.sampled_from(["down", "writes", "tag", "tag"]),
                               st.sampled_from(FLOATING))
version_indexes = st.integers(0, len(VERSIONS) - 1)
operations: st.SearchStrategy[Operation] = st.one_of(
    st.builds(Run, version_indexes, st.booleans(), plans, faults),
    st.builds(Run, version_indexes, st.booleans(), plans, faults),
    st.builds(Promote, st.integers(0, 2), version_indexes,
              st.lists(st.sampled_from(["latest", "stable", "major", "version"]), min_size=1,
                       max_size=3, unique=True).map(tuple),
              st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True).map(tuple),
              faults),
    st.builds(Merge, version_indexes, st.booleans(), plans, faults),
)


def planned(version: str, revision: str, plan: Plan) -> tuple[PlannedTag, ...]:
    parsed = versions.parse(version)
    assert parsed is not None
    tags = [PlannedTag(version, "type=semver,pattern={{version}}", 900, TagKind.RELEASE)]
    if not parsed.prerelease:
        if plan.minor:
            tags.append(PlannedTag(f"{parsed.major}.{parsed.minor}", "type=semver", 899,
                                   TagKind.VERSION_LINE, (parsed.major, parsed.minor)))
        if plan.major:
            tags.append(PlannedTag(str(parsed.major), "type=semver", 898, TagKind.VERSION_LINE,
                                   (parsed.major,)))
        if plan.latest:
            tags.append(PlannedTag("latest", "flavor latest=auto", 897, TagKind.VERSION_LINE,
                                   ()))
    if plan.sha:
        tags.append(PlannedTag(f"sha-{revision[:7]}", "type=sha", 100, TagKind.RELEASE))
    if plan.channel:
        tags.append(PlannedTag("main", "type=ref,event=branch", 600, TagKind.CHANNEL))
    return tuple(tags)


@dataclass(frozen=True)
class Done:
    """What one operation was, and how it ended."""

    images: tuple[str, ...]
    release_tags: tuple[str, ...]
    floating: tuple[str, ...]
    error: str | None


class World:
    """The registries, the engine, and what was released so far."""

    def __init__(self, hosts: int, *, delete_tags: bool) -> None:
        self.images = tuple(image_of(i) for i in range(hosts))
        self.model = Model([parse_image(i).host for i in self.images], delete_tags=delete_tags)
        self.engine = Engine(self.model)
        self.revisions: dict[str, str] = {}  # version -> the last revision it was built from
        self.commits = 0
        self.merge_reruns = MERGE_RERUNS

    def revision(self, version: str, rerun: bool) -> str:
        if rerun and version in self.revisions:
            return self.revisions[version]
        self.commits += 1
        self.revisions[version] = hashlib.sha256(f"commit {self.commits}".encode()).hexdigest()[:40]
        return self.revisions[version]

    def release(self, version: str, rerun: bool, plan: Plan) -> Release:
        revision = self.revision(version, rerun)
        return Release(images=self.images, tags=planned(version, revision, plan),
                       version=version, revision=revision)

    def run(self, release: Release, owner: str = "main") -> Published:
        image_id = self.engine.build(release.version, release.revision)
        return publish(SETTINGS, release, self.engine, connect=connector(self.model, owner),
                       sleep=lambda _: None, docker_login=None, image_id=image_id)

    def apply(self, operation: Operation) -> Done | None:
        """Do `operation`; None when it was refused before anything was written."""
        self.model.faults = [operation.fault] if operation.fault else []
        try:
            if isinstance(operation, Run):
                release = self.release(VERSIONS[operation.version], operation.rerun,
                                       operation.plan)
                published = self.run(release)
                errors = [r.error for r in published.registries if r.error]
                return self.done(release, errors[0] if errors else None)
            if isinstance(operation, Merge):
                return self.merge(operation)
            return self.promote(operation)
        finally:
            self.model.faults = []

    def done(self, release: Release, error: str | None) -> Done:
        return Done(release.images, tuple(release.immutable_tags),
                    tuple(t.name for t in release.floating_tags), error)

    def merge(self, operation: Merge) -> Done | None:
        release = self.release(VERSIONS[operation.version], operation.rerun and self.merge_reruns,
                               operation.plan)
        sources = []
        faults, self.model.faults = self.model.faults, []
        for architecture in ("amd64", "arm64"):
            image_id = self.engine.build(release.version, release.revision,
                                         architecture=architecture)
            digest = self.engine.push_image(self.images[0], self.engine.images[image_id], None,
                                            owner="main")
            sources.append(f"{self.images[0]}@{digest}")
        self.model.faults = faults
        try:
            outcome = merge(SETTINGS, release, sources, connect=connector(self.model, "main"),
                            sleep=lambda _: None)
        except PublishError:
            return None  # the images could not be read: nothing was written
        return self.done(release, str(outcome.error) if outcome.error else None)

    def promote(self, operation: Promote) -> Done | None:
        source = self.images[operation.source % len(self.images)]
        host = parse_image(source).host
        there = [v for v in VERSIONS if self.model.pointer(host, "app", v)]
        version = there[operation.version % len(there)] if there and operation.version % 4 \
            else VERSIONS[operation.version]  # mostly one that is there
        parsed = versions.parse(version)
        assert parsed is not None
        names = {"latest": "latest", "stable": "stable", "major": str(parsed.major),
                 "version": version}
        tags = [names[t] for t in operation.targets]
        hosts = sorted({h % len(self.images) for h in operation.hosts})
        targets = [tag if self.images[h] == source else f"{self.images[h]}:{tag}"
                   for h in hosts for tag in tags]
        try:
            outcome = promote(SETTINGS, f"{source}:{version}", targets,
                              connect=connector(self.model, "main"), sleep=lambda _: None)
        except PublishError:
            return None  # the source is not there (or not readable): nothing was written
        return Done(tuple(self.images[h] for h in hosts),
                    tuple(t for t in tags if versions.parse(t) is not None),
                    tuple(t for t in tags if versions.parse(t) is None),
                    str(outcome.error) if outcome.error else None)


# ---------------------------------------------------------------------- the guarantees


class Guarantees:
    """What must hold between any two states of the registries."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.first: dict[tuple[str, str], str] = {}  # (host, release tag) -> first digest
        self.before = world.model.start = world.model.snapshot()
        self.record(self.before)

    def record(self, now: dict[tuple[str, str], str]) -> None:
        for (host, tag), digest in now.items():
            if is_release_name(tag):
                self.first.setdefault((host, tag), digest)

    def version(self, host: str, digest: str) -> versions.Version | None:
        return self.world.model.version(host, "app", digest)

    def check(self, what: str, done: Done | None) -> None:
        """Guarantees 1 and 2 since the last check; 3 for `done`; None: nothing changed."""
        now = self.world.model.snapshot()
        self.forwards(what, now)
        assert not self.world.model.backwards, \
            f"{what}: a version line was written backwards: {self.world.model.backwards}"
        self.kept(what, now)
        if done is None:
            assert now == self.before, f"{what} raised, yet it changed the registries"
        elif done.error is None:
            self.consistent(what, done, self.before, now)
        self.before = self.world.model.start = now

    def forwards(self, what: str, now: dict[tuple[str, str], str]) -> None:
        """1. version lines never move to a lower version."""
        for (host, tag), digest in self.before.items():
            if not is_line_name(tag):
                continue
            was = self.version(host, digest)
            assert (host, tag) in now, f"{what}: {host}/app:{tag} disappeared"
            then = self.version(host, now[host, tag])
            assert was is None or (then is not None and then >= was), \
                f"{what}: {host}/app:{tag} went backwards, from {was} to {then}"

    def kept(self, what: str, now: dict[tuple[str, str], str]) -> None:
        """2. release tags keep their first digest."""
        for (host, tag), digest in self.first.items():
            assert now.get((host, tag)) == digest, f"{what}: release tag {host}/app:{tag} " \
                f"moved from {digest} to {now.get((host, tag))}"
        self.record(now)

    @staticmethod
    def consistent(what: str, done: Done, before: dict[tuple[str, str], str],
                   now: dict[tuple[str, str], str]) -> None:
        """3. one digest per release tag, and per floating tag that moved, everywhere."""
        hosts = [parse_image(image).host for image in done.images]
        for tag in done.release_tags:
            found = {now.get((host, tag)) for host in hosts}
            assert len(found) == 1 and None not in found, \
                f"{what} succeeded, yet release tag {tag} names {found} across {hosts}"
        for tag in done.floating:
            if all(now.get((h, tag)) == before.get((h, tag)) for h in hosts):
                continue
            found = {now.get((host, tag)) for host in hosts}
            assert len(found) == 1 and None not in found, \
                f"{what} succeeded and moved {tag}, yet it names {found} across {hosts}"


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hosts=st.integers(2, 3), delete_tags=st.booleans(),
       sequence=st.lists(operations, min_size=1, max_size=8))
def test_every_operation_keeps_publishings_guarantees(hosts: int, delete_tags: bool,
                                                      sequence: list[Operation]) -> None:
    world = World(hosts, delete_tags=delete_tags)
    guarantees = Guarantees(world)
    for number, operation in enumerate(sequence, 1):
        done = world.apply(operation)
        guarantees.check(f"operation {number} ({operation})", done)


def newest_everywhere(world: World, line: tuple[int, ...]) -> versions.Version | None:
    """The highest version of `line` whose release tag names one image on every registry."""
    now = world.model.snapshot()
    best = None
    for version in VERSIONS:
        parsed = versions.parse(version)
        assert parsed is not None
        digests = {now.get((host, version)) for host in world.model.hosts}
        if len(digests) == 1 and None not in digests and versions.in_line(parsed, line) \
                and (best is None or parsed > best):
            best = parsed
    return best


def test_a_merge_run_again_lands_the_release_it_finds() -> None:
    world = World(2, delete_tags=False)
    world.merge_reruns = True
    guarantees = Guarantees(world)
    nothing = Plan(minor=False, major=False, latest=False, sha=False, channel=False)
    done = world.apply(Run(1, False, nothing, Fault(0, "down")))  # 1.0.1 lands on reg2 only
    guarantees.check("the run of 1.0.1 with reg1 down", done)
    done = world.apply(Merge(1, True, nothing, None))  # the same revision, merged
    guarantees.check("the merge of 1.0.1", done)  # 1.0.1: the new index on reg1 only


NO_VERSION = semver.Version(0)
stable_versions = st.sampled_from([v for v in VERSIONS if "-" not in v])
race_plans = st.builds(Plan, st.booleans(), st.booleans(), st.just(True), st.booleans(),
                       st.booleans())


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chosen=st.lists(stable_versions, min_size=2, max_size=4, unique=True),
       earlier_plans=st.lists(plans, min_size=2, max_size=2),
       a=race_plans, b=race_plans, bursts=st.lists(st.integers(1, 30), max_size=12))
def test_two_runs_interleaved_end_on_the_newest_release(
        chosen: list[str], earlier_plans: list[Plan], a: Plan, b: Plan,
        bursts: list[int]) -> None:
    world = World(2, delete_tags=False)
    guarantees = Guarantees(world)
    earlier = []
    for version, plan in zip(chosen[2:], earlier_plans, strict=False):
        release = world.release(version, False, plan)
        earlier.append(release)
        published = world.run(release)
        assert all(r.error is None for r in published.registries)
        guarantees.check(f"the earlier run of {version}", world.done(release, None))
    releases = {"A": world.release(chosen[0], False, a), "B": world.release(chosen[1], False, b)}

    def run(owner: str) -> Callable[[], Published]:
        return lambda: world.run(releases[owner], owner)

    before = guarantees.before
    world.model.start = {}  # racing, a write may go below another run's: the end state counts
    results, scheduler = interleave(world.model, {owner: run(owner) for owner in releases},
                                    bursts)
    errors = {owner: [r.error for r in published.registries if r.error]
              for owner, published in results.items()}
    where = f"interleaving {' | '.join(scheduler.trace)}"
    assert errors == {"A": [], "B": []}, f"{where}: {errors}"
    now = world.model.snapshot()
    guarantees.forwards(where, now)
    guarantees.kept(where, now)
    for release in releases.values():
        guarantees.consistent(where, world.done(release, None), before, now)
    planned_by = [*earlier, *releases.values()]
    lines = {t.name: t.line for release in releases.values() for t in release.tags
             if t.kind is TagKind.VERSION_LINE and t.line is not None}
    for name, line in lines.items():
        # At least the newest release that planned the line; at most the newest release of
        # the line on every registry (a line follows releases that did not plan it too).
        lowest = max(versions.parse(r.version, partial=True) or NO_VERSION
                     for r in planned_by if name in {t.name for t in r.tags})
        highest = newest_everywhere(world, line)
        for host in world.model.hosts:
            digest = now.get((host, name))
            found = world.model.version(host, "app", digest) if digest else None
            assert found is not None and highest is not None and lowest <= found <= highest, \
                f"{where}: {host}/app:{name} is on {found}, not within {lowest}..{highest}"
