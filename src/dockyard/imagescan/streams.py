"""The streams the scan reads through, none of which holds a blob whole in memory.

- `_prefetched`: the engine's export read ahead by a thread of its own;
- `_Window`: the search over a stream fed in pieces, keeping the end of each piece for
  the next, so a form split across two reads is found;
- `_Forward`: a stream over pieces, seekable forwards only (what tarfile needs to skip
  a member's data), with `_scanning` (every piece read is searched) and `_chunk_reader`
  (over an iterable of chunks);
- `_Prefixed`: a stream with its first bytes, read to tell what it is, put back.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from queue import Empty, Full, Queue
from typing import Protocol

from dockyard.imagescan.forms import Needles

_CHUNK = 1 << 20
_PREFETCH = 8  # chunks of the engine's export read ahead while the scan searches
_MAX_HITS = 256  # found per read and not yet placed in a file: more only fill memory


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _prefetched(chunks: Iterable[bytes]) -> Generator[bytes, None, None]:
    """`chunks`, read ahead by a thread of their own: the engine writes its export while
    the scan searches what came before (reading a socket lets go of the GIL)."""
    queue: Queue[tuple[bytes | None, BaseException | None]] = Queue(_PREFETCH)
    stop = threading.Event()
    source = iter(chunks)

    def put(item: tuple[bytes | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in source:
                if not put((chunk, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 -- raised in the scanning thread
            put((None, exc))
        else:
            put((None, None))

    thread = threading.Thread(target=produce, name="dockyard-image-export", daemon=True)
    thread.start()
    try:
        while True:
            try:
                chunk, error = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    return
                continue
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        thread.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a generator left unfinished: docker-py's response is released


class _Window:
    """Finds needles in a stream fed in pieces: each piece is searched with the end of the
    one before it, so a form split across two pieces is found too."""

    def __init__(self, found: Needles) -> None:
        self._found = found
        self._keep = found.window
        self._tail = b""
        self.position = 0  # bytes fed so far
        self.hits: list[int] = []  # where found forms start, in the stream

    def feed(self, data: bytes) -> None:
        if not data:
            return
        buffer = self._tail + data
        base = self.position - len(self._tail)
        for hit in self._found.search(buffer, start=len(self._tail)):
            if len(self.hits) >= _MAX_HITS:
                break
            self.hits.append(base + hit)
        self._tail = buffer[-self._keep:] if self._keep else b""
        self.position += len(data)


class _Forward(io.RawIOBase):
    """A stream over pieces of bytes (`next_piece` gives b"" at the end), seekable forwards
    only: tarfile skips a member's data by seeking, and this reads on without copying."""

    def __init__(self, next_piece: Callable[[], bytes]) -> None:
        self._next_piece = next_piece
        self._buffer = b""
        self._offset = 0  # in the buffer
        self._start = 0  # where in the stream the buffer starts

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._start + self._offset

    def read(self, size: int | None = -1) -> bytes:
        wanted = sys.maxsize if size is None or size < 0 else size
        parts = []
        while wanted > 0 and (self._offset < len(self._buffer) or self._refill()):
            part = self._buffer[self._offset:self._offset + wanted]
            self._offset += len(part)
            wanted -= len(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self.tell() if whence == io.SEEK_CUR else 0)
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.tell():
            raise io.UnsupportedOperation("this stream is read once, forwards")
        while self.tell() < target and (self._offset < len(self._buffer) or self._refill()):
            self._offset += min(target - self.tell(), len(self._buffer) - self._offset)
        return self.tell()

    def _refill(self) -> bool:
        self._start += len(self._buffer)
        self._buffer, self._offset = self._next_piece(), 0
        return bool(self._buffer)

    def drain(self) -> None:
        """Read the rest of the stream."""
        while self._refill():
            pass


def _scanning(source: _Reader, window: _Window) -> _Forward:
    """`source` as a stream that feeds `window` everything read from it, a chunk ahead."""

    def next_piece() -> bytes:
        piece = source.read(_CHUNK)
        window.feed(piece)
        return piece

    return _Forward(next_piece)


def _chunk_reader(chunks: Iterable[bytes]) -> _Forward:
    """A stream over an iterable of byte chunks (docker-py's streamed response)."""
    pieces = (chunk for chunk in chunks if chunk)
    return _Forward(lambda: next(pieces, b""))


class _Prefixed(io.RawIOBase):
    """`source` with its first bytes read already (to tell what it is) put back."""

    def __init__(self, head: bytes, source: _Reader) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._source.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._source.read(-1 if size is None else size)


def _read_up_to(stream: _Reader, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data
