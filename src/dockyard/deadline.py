"""A total deadline for one HTTP exchange, and a cap on how much of a body is read.

requests' `timeout=` bounds each socket read, not an exchange: a server that trickles a
byte every two seconds, headers or body, keeps a request going for ever, and one that
sends an endless body fills the memory. Here a watchdog thread shuts the socket of an
exchange whose deadline has passed (the read in progress then ends at once), and bodies
are read up to a cap, never the rest. The registry transport and the webhook sender
both send through a session `bounded` sets up.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

_CHUNK = 64 * 1024
_LONGEST_WAIT = 60.0  # the watchdog looks again at least this often
_READ_TIMEOUT_MARGIN = 1.0
_current = threading.local()  # the deadline of the exchange this thread is sending


class _NoHeaderWarning(logging.Filter):
    """urllib3 logs headers it cannot parse (a server's doing, often a shut socket's)
    with a traceback and the request URL, whose path may be a token: not ours to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to parse headers")


logging.getLogger("urllib3.connection").addFilter(_NoHeaderWarning())


def socket_timeouts(seconds: float) -> tuple[float, float]:
    """requests' (connect, read) timeouts under a Deadline of `seconds`: the read timeout
    only backs the deadline up, so it is longer and the deadline ends a stalled read
    first (and reports it as what it is)."""
    return seconds, seconds + _READ_TIMEOUT_MARGIN


class Expired(Exception):
    """The exchange ran past its deadline and its connection was shut."""


class TooLarge(Exception):
    """A body longer than the cap for its kind."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {size_text(limit)}")
        self.limit = limit


class Deadline:
    """`seconds` for an exchange (or, restarted, for each step of a stream)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.at: float | None = None  # monotonic; None while nothing is being waited for
        self.connection: _Watched | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Deadline]:
        """Requests this thread sends within are on this deadline, which starts now."""
        previous = getattr(_current, "deadline", None)
        _current.deadline = self
        self.restart()
        try:
            yield self
        finally:
            self.suspend()
            _current.deadline = previous

    def restart(self) -> None:
        _WATCHDOG.arm(self, time.monotonic() + self.seconds)

    def suspend(self) -> None:
        _WATCHDOG.disarm(self)

    def check(self) -> None:
        """Raise Expired when the deadline passed (a shut socket can look like a short body)."""
        if self.expired:
            raise Expired

    def expire(self) -> None:
        self.expired = True
        connection = self.connection
        if connection is not None and connection.owner is self:  # not if back in the pool
            _shut(connection)

    def attach(self, connection: _Watched) -> None:
        self.connection = connection
        connection.owner = self
        if self.expired:
            _shut(connection)


class _Watchdog:
    """One daemon thread for every deadline in the process."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: set[Deadline] = set()
        self._thread: threading.Thread | None = None
        self._waking_at = float("inf")  # when the thread wakes next, unless notified

    def arm(self, deadline: Deadline, at: float) -> None:
        with self._wake:
            deadline.at = at
            self._armed.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="dockyard-deadlines",
                                                daemon=True)
                self._thread.start()
            if at < self._waking_at:
                # sooner than the thread looks again; a stream restarting its deadline
                # per chunk (later each time) does not wake it thousands of times
                self._wake.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._wake:
            deadline.at = None
            self._armed.discard(deadline)

    def _watch(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._armed if d.at is not None and d.at <= now]:
                    self._armed.discard(deadline)
                    deadline.at = None
                    deadline.expire()
                upcoming = [d.at for d in self._armed if d.at is not None]
                wait = min(max(min(upcoming) - now if upcoming else _LONGEST_WAIT, 0.0),
                           _LONGEST_WAIT)
                self._waking_at = now + wait
                self._wake.wait(wait)


_WATCHDOG = _Watchdog()


def _shut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if isinstance(sock, socket.socket):
        # The plain socket's shutdown, under TLS too: it wakes a read blocked in another
        # thread, which then sees the end of the stream.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _attach(connection: _Watched) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    connection.owner = None
    if deadline is not None:
        deadline.attach(connection)


class _Watched(HTTPConnection):
    """A connection that hands itself to the current Deadline; HTTPS comes by mixing it
    in before urllib3's HTTPSConnection."""

    owner: Deadline | None = None  # the exchange it serves now

    def connect(self) -> None:
        super().connect()
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _Watched


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter, with connections a Deadline can shut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if isinstance(manager, PoolManager):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def bounded(session: requests.Session) -> requests.Session:
    """`session`, its connections shut by the Deadline they run on, and redirects
    followed without reading their bodies (requests reads them whole)."""
    adapter = _Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if _skip_redirect_body not in session.hooks["response"]:
        session.hooks["response"].append(_skip_redirect_body)
    return session


def _skip_redirect_body(response: requests.Response, *_: Any, **__: Any) -> requests.Response:
    if response.is_redirect:
        response._content = b""  # what requests would have read whole, and then dropped
        response.close()
    return response


def read(response: requests.Response, limit: int, deadline: Deadline) -> bytes:
    """The body, or TooLarge when it has more than `limit` bytes (the Content-Length
    says so, or the body does after `limit` bytes read); Expired past the deadline."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        response.close()
        raise TooLarge(limit)
    body, whole = read_some(response, limit, deadline)
    if not whole:
        raise TooLarge(limit)
    return body


def read_some(response: requests.Response, limit: int,
              deadline: Deadline) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body (a chunk more is read, never the rest), and
    whether that was all of it; Expired past the deadline. The body is then gone."""
    body = bytearray()
    whole = True
    try:
        for chunk in response.iter_content(_CHUNK):
            body += chunk
            if len(body) > limit:
                whole = False
                break
    except requests.RequestException:
        deadline.check()
        raise
    finally:
        response.close()
    deadline.check()
    return bytes(body[:limit]), whole


def stream(response: requests.Response, deadline: Deadline) -> Iterator[bytes]:
    """The body in chunks, each of which must arrive within the deadline's seconds
    (restarted per chunk): a stall deadline for bodies too large to cap."""
    chunks = response.iter_content(_CHUNK)
    try:
        while True:
            deadline.restart()
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except requests.RequestException:
                deadline.check()
                raise
            finally:
                deadline.suspend()
            deadline.check()
            yield chunk
        deadline.check()
    finally:
        deadline.suspend()


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    return f"{size / 1024:g} KiB"
