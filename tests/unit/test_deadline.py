"""The deadline watchdog (dockyard.deadline): one thread expires every deadline on time,
whatever order they are armed and restarted in."""

from __future__ import annotations

import time

from dockyard.deadline import Deadline


def _expires_within(deadline: Deadline, seconds: float) -> float:
    """How long `deadline` took to expire, failing after `seconds`."""
    start = time.monotonic()
    while not deadline.expired:
        assert time.monotonic() - start < seconds, "the deadline did not expire in time"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_short_deadline_armed_while_the_watchdog_waits_on_a_long_one_expires_on_time(
) -> None:
    long, short = Deadline(60.0), Deadline(0.2)
    long.restart()  # the watchdog now waits up to 60 s
    time.sleep(0.05)
    short.restart()  # sooner: it must wake the watchdog
    try:
        assert 0.15 <= _expires_within(short, 5.0) < 2.0
        assert not long.expired
    finally:
        long.suspend()


def test_a_deadline_restarted_later_each_time_expires_once_the_restarts_stop() -> None:
    """A stream restarts its deadline per chunk without waking the watchdog (each
    restart is later than the one it waits for); when the chunks stop, it expires."""
    deadline = Deadline(0.3)
    for _ in range(20):  # 0.4 s of restarts: past the first 0.3 s, not expired
        deadline.restart()
        time.sleep(0.02)
    assert not deadline.expired
    assert 0.25 <= _expires_within(deadline, 5.0) < 2.0


def test_a_suspended_deadline_never_expires() -> None:
    deadline = Deadline(0.1)
    deadline.restart()
    deadline.suspend()
    time.sleep(0.3)
    assert not deadline.expired
