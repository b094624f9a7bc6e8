"""The one retry policy: how long to wait after a failed attempt, what a server's
Retry-After asks for, and the loop that calls again while a failure is transient.

Registries and webhook receivers are retried by it, and so are engine pushes and blob
copies. Which failures are transient is the caller's decision (by status, registry error
code or engine message); how often and how long to wait is decided here only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    retries: int = 4  # attempts after the first
    backoff_seconds: float = 1.0  # the first delay; doubled for every further attempt
    max_backoff_seconds: float = 30.0  # no delay (Retry-After included) is longer
    timeout_seconds: float = 60.0  # per request, connect and read

    def delay(self, attempt: int, retry_after: str | None = None,
              rand: Callable[[], float] = random.random, clock: Clock = time.time) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based).

        Exponential with "equal jitter" (between half and all of the step), so parallel
        clients do not retry in lockstep; a server's Retry-After (seconds or an HTTP date,
        against the wall clock `clock`) wins when it asks for more, and nothing exceeds
        the cap.
        """
        step = min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (attempt - 1))
        delay = step / 2 + rand() * step / 2
        if retry_after is not None:
            asked = retry_after_seconds(retry_after, clock())
            if asked is not None:
                delay = max(delay, asked)
        return float(min(delay, self.max_backoff_seconds))


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """The wait a Retry-After header asks for, never negative: delta-seconds, or an
    HTTP date taken against `now` (seconds since the epoch). None when it is neither."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": HTTP dates are always GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return None if math.isnan(seconds) else max(seconds, 0.0)  # "inf" meets the cap


def retrying(call: Callable[[], T], *, policy: RetryPolicy, catch: type[E],
             transient: Callable[[E], bool], sleep: Sleep = time.sleep,
             rand: Callable[[], float] = random.random, clock: Clock = time.time,
             retry_after: Callable[[E], str | None] | None = None,
             on_retry: Callable[[int, E, float], None] | None = None) -> T:
    """`call()`, called again while it raises a `catch` that is `transient`, at most
    `policy.retries` more times, waiting `policy.delay` in between.

    The last failure, or the first one that is not transient, is raised as it is;
    anything that is not a `catch` passes through at once. `retry_after` reads a
    server's Retry-After from a failure; `on_retry(attempt, failure, delay)` hears of
    every retry before its wait (to log it).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except catch as failure:
            if attempt > policy.retries or not transient(failure):
                raise
            asked = retry_after(failure) if retry_after is not None else None
            delay = policy.delay(attempt, asked, rand, clock)
            if on_retry is not None:
                on_retry(attempt, failure, delay)
        sleep(delay)
