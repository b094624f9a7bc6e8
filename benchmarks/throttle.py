"""A bandwidth-limited TCP relay on a loopback port, to make registry uploads network-bound.

On a loopback registry an upload costs CPU only (the engine compresses, the registry
hashes), so parallel uploads to 3 registries on a 2-core machine hardly overlap. Real
registries are on the network: the upload waits on bandwidth, and parallel uploads to
different registries do overlap. `Throttle(upstream, mbit)` relays bytes both ways to
`upstream` (host:port) at most `mbit` Mbit/s per direction, per relay (one relay per
registry stands for one uplink per registry). Relays given the same `Link(mbit)` share
its rate instead: one uplink for the runner, whatever the registry. Used by
`publish.py --throttle-mbit [--shared-link]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

CHUNK = 64 * 1024


class Link:
    """A rate per direction that several relays share (their event loops run in threads)."""

    def __init__(self, mbit: float) -> None:
        rate = mbit * 1_000_000 / 8  # bytes per second, per direction
        self.buckets = {"up": _Bucket(rate), "down": _Bucket(rate)}


class Throttle:
    def __init__(self, upstream: str, mbit: float, link: Link | None = None) -> None:
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.link = link or Link(mbit)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.host = f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.buckets = self.link.buckets
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host,
                                                                 self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, self.buckets["up"]),
                             self._pipe(up_reader, writer, self.buckets["down"]))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    bucket: _Bucket) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                await bucket.take(len(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class _Bucket:
    """All connections of one direction share the rate (one uplink)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_free = time.monotonic()
        self._lock = threading.Lock()  # relays sharing a Link take from other threads

    async def take(self, size: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + size / self.rate
            delay = self.next_free - now
        if delay > 0.001:
            await asyncio.sleep(delay)
