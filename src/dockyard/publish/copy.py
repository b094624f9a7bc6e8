"""Copying images between registries: blobs streamed, never whole in memory.

Each blob that two or more targets lack is read from the source once and streamed to
all of them at the same time (one reader, one uploader per target, a small queue
between them); blobs a target has are skipped, blobs on the same registry are mounted.
An upload that fails is sent again to that target alone, with retries.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Protocol

from dockyard.errors import PublishError
from dockyard.progress import human_bytes
from dockyard.publish.connect import Log, Sleep, quiet
from dockyard.registry import Manifest, RegistryClient, RegistryError, RetryPolicy
from dockyard.retry import retrying

_TEE_DEPTH = 16  # chunks (64 KiB) queued per target while copying one blob to several
_PARALLEL_BLOBS = 3  # blobs copied at the same time


class Source(Protocol):
    """Where a copy reads from: a registry (RegistryClient), or a local OCI layout
    (publish.layout.Layout, what a buildx build writes)."""

    host: str

    def get_manifest(self, repository: str, reference: str) -> Manifest | None: ...

    def open_blob(self, repository: str,
                  digest: str) -> AbstractContextManager[Iterator[bytes]]: ...


def copy_manifest(source: Source, source_path: str, manifest: Manifest,
                  target: RegistryClient, target_path: str, *, policy: RetryPolicy,
                  sleep: Sleep = time.sleep, log: Log = quiet) -> None:
    """Make `target_path` hold `manifest` by digest, with every blob and child it needs.

    Blobs already there are skipped, blobs on the same registry are mounted, others are
    streamed from the source (never whole in memory). An index brings its children.
    """
    if not manifest.is_index:
        problem = copy_to_many(source, source_path, manifest, [(target, target_path)],
                               policy=policy, sleep=sleep, log=log)[0]
        if problem is not None:
            raise problem
        return
    if target.head_manifest(target_path, manifest.digest) is not None:
        return
    for digest in children(manifest):
        child = source.get_manifest(source_path, digest)
        if child is None:
            raise RegistryError(source.host, f"{source_path} lacks {digest}, a manifest its "
                                "index lists", hint="push that platform's image again, then "
                                "retry")
        copy_manifest(source, source_path, child, target, target_path, policy=policy,
                      sleep=sleep, log=log)
    target.put_manifest(target_path, manifest.digest, manifest)


def blobs(data: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(digest, size) of an image manifest's config and layers; foreign layers stay remote.

    An entry of another shape (a hostile or broken registry's) is left out: the target
    then refuses the manifest for the blob it lacks, which names the problem."""
    layers = data.get("layers")
    found = []
    for blob in [data.get("config"), *(layers if isinstance(layers, list) else [])]:
        if isinstance(blob, dict) and isinstance(blob.get("digest"), str) \
                and not blob.get("urls"):
            size = blob.get("size")
            found.append((blob["digest"], size if isinstance(size, int) else None))
    return found


def children(index: Manifest) -> list[str]:
    """The digests an index lists (entries of another shape left out, as in `blobs`)."""
    entries = index.json().get("manifests")
    return [entry["digest"] for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str)]


def _blob_name(digest: str, size: int | None) -> str:
    return digest[:19] + (f" ({human_bytes(size)})" if size is not None else "")


def _lacks_blob(source: Source, source_path: str, target: RegistryClient,
                target_path: str, digest: str, log: Log) -> bool:
    """False when the target has the blob already, or got it by a mount (same registry)."""
    if target.blob_exists(target_path, digest):
        return False
    if source.host == target.host and target.mount_blob(target_path, digest, source_path):
        log(f"mounted {digest[:19]} from {source_path} into {target_path}")
        return False
    return True


def _stream_blob(source: Source, source_path: str, target: RegistryClient,
                 target_path: str, digest: str, size: int | None, policy: RetryPolicy,
                 sleep: Sleep, log: Log) -> None:
    def send() -> None:  # a streamed body cannot be re-sent: each attempt reads anew
        with source.open_blob(source_path, digest) as chunks:
            target.upload_blob(target_path, digest, chunks, size)

    retrying(send, policy=policy, catch=RegistryError, transient=lambda exc: exc.transient,
             sleep=sleep)
    log(f"copied {_blob_name(digest, size)} to {target.host}/{target_path}")


def copy_to_many(source: Source, source_path: str, manifest: Manifest,
                 targets: Sequence[tuple[RegistryClient, str]], *, policy: RetryPolicy,
                 sleep: Sleep = time.sleep, log: Log = quiet) -> list[PublishError | None]:
    """`copy_manifest` to several (client, repository) targets; the problem per target.

    Each blob that two or more targets lack is read from the source once and streamed
    to all of them at the same time. A target whose upload fails gets the blob again
    on its own, with retries; a target that fails does not hold up the others.
    """
    problems: list[PublishError | None] = [None] * len(targets)
    if manifest.is_index:  # multi-platform: child by child, target by target
        for index, (target, path) in enumerate(targets):
            try:
                copy_manifest(source, source_path, manifest, target, path, policy=policy,
                              sleep=sleep, log=log)
            except PublishError as exc:
                problems[index] = exc
        return problems

    def each(indexes: Iterable[int], work: Callable[[RegistryClient, str], object],
             ) -> list[int]:
        """Run `work` on every target still healthy; the indexes where it returned true."""
        chosen = []
        for index in indexes:
            if problems[index] is not None:
                continue
            target, path = targets[index]
            try:
                if work(target, path):
                    chosen.append(index)
            except PublishError as exc:
                problems[index] = exc
        return chosen

    live = each(range(len(targets)),
                lambda target, path: target.head_manifest(path, manifest.digest) is None)

    def blob(digest: str, size: int | None) -> None:
        lacking = each(live, functools.partial(_lacks_blob, source, source_path,
                                               digest=digest, log=log))
        landed = (_tee_blob(source, source_path, digest, size, [targets[i] for i in lacking],
                            log) if len(lacking) > 1 else [False] * len(lacking))
        each([i for i, ok in zip(lacking, landed, strict=True) if not ok],
             functools.partial(_stream_blob, source, source_path, digest=digest, size=size,
                               policy=policy, sleep=sleep, log=log))

    found = blobs(manifest.json())
    if found:  # the first (the config, small) alone: every client logs in once, not per blob
        blob(*found[0])
    with ThreadPoolExecutor(max_workers=_PARALLEL_BLOBS) as pool:
        list(pool.map(lambda each_blob: blob(*each_blob), found[1:]))
    each(live, lambda target, path: target.put_manifest(path, manifest.digest, manifest))
    return problems


def _tee_blob(source: Source, source_path: str, digest: str, size: int | None,
              targets: Sequence[tuple[RegistryClient, str]], log: Log) -> list[bool]:
    """Stream one blob from the source to every target at once; which uploads landed.

    One reader, one uploading thread per target, a small queue between them (memory
    stays flat whatever the blob's size). A target that fails drops out without
    stopping the others; if the source breaks off, every upload counts as failed (the
    registries refuse a truncated blob by its digest anyway) and is retried alone.
    """
    feeds: list[queue.Queue[bytes | _Stop]] = [queue.Queue(maxsize=_TEE_DEPTH) for _ in targets]
    ended = [threading.Event() for _ in targets]
    landed = [False] * len(targets)

    def upload(index: int) -> None:
        target, path = targets[index]

        def chunks() -> Iterator[bytes]:
            while True:
                item = feeds[index].get()
                if item is _Stop.END:
                    return
                if item is _Stop.BROKEN:  # never end short: a sized PUT would wait for more
                    raise RegistryError(source.host, f"reading {digest[:19]} broke off",
                                        transient=True)
                yield item

        try:
            target.upload_blob(path, digest, chunks(), size)
            landed[index] = True
        except PublishError:
            pass  # retried alone by the caller
        finally:
            ended[index].set()

    def offer(index: int, chunk: bytes | _Stop) -> None:
        while not ended[index].is_set():
            with contextlib.suppress(queue.Full):
                feeds[index].put(chunk, timeout=0.05)
                return

    uploaders = [threading.Thread(target=upload, args=(index,), daemon=True,
                                  name=f"dockyard-copy-{index}") for index in range(len(targets))]
    for thread in uploaders:
        thread.start()
    end = _Stop.BROKEN
    try:
        with source.open_blob(source_path, digest) as stream:
            for chunk in stream:
                if all(event.is_set() for event in ended):
                    break
                for index in range(len(targets)):
                    offer(index, chunk)
        end = _Stop.END
    except PublishError:
        pass  # every target gets the blob again on its own
    finally:
        for index in range(len(targets)):
            offer(index, end)
        for thread in uploaders:
            thread.join()
    if end is _Stop.BROKEN:
        return [False] * len(targets)
    log(f"copied {_blob_name(digest, size)} to "
        + ", ".join(f"{t.host}/{p}" for t, p in targets))
    return landed


class _Stop(enum.Enum):
    """What ends a copy's feed: the whole blob was read, or the read broke off."""

    END = "end"
    BROKEN = "broken"


