"""The one retry policy: backoff, jitter, Retry-After, and the loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.retry import RetryPolicy, retry_after_seconds, retrying

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


class Flaky(Exception):
    def __init__(self, transient: bool = True, retry_after: str | None = None) -> None:
        super().__init__("flaky")
        self.transient = transient
        self.retry_after = retry_after


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0", 0.0), (" 12 ", 12.0), ("1.5", 1.5), ("-3", 0.0),
    ("Tue, 14 Nov 2023 22:13:40 GMT", 20.0),
    ("Tue, 14 Nov 2023 22:13:40 -0000", 20.0),  # no zone given: still GMT
    ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # already past
    ("soon", None), ("", None), ("nan", None), (None, None),
])
def test_retry_after_takes_seconds_and_http_dates(value: str | None,
                                                   seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=30.0)
    at = {"clock": lambda: NOW, "rand": lambda: 1.0}
    assert policy.delay(1, "7", **at) == 7.0
    assert policy.delay(1, "Tue, 14 Nov 2023 22:13:40 GMT", **at) == 20.0
    assert policy.delay(1, "3600", **at) == 30.0
    assert policy.delay(1, "inf", **at) == 30.0
    assert policy.delay(1, "Wed, 14 Nov 2029 22:13:40 GMT", **at) == 30.0
    assert policy.delay(4, "1", **at) == 8.0  # asks for less than the backoff: backoff
    assert policy.delay(1, "soon", **at) == 1.0


@given(attempt=st.integers(1, 40), rand=st.floats(0.0, 1.0),
       backoff=st.floats(0.001, 10.0), cap=st.floats(0.001, 60.0))
def test_jitter_stays_between_half_and_all_of_the_step(attempt: int, rand: float,
                                                       backoff: float, cap: float) -> None:
    policy = RetryPolicy(backoff_seconds=backoff, max_backoff_seconds=cap)
    step = min(cap, backoff * 2.0 ** (attempt - 1))
    delay = policy.delay(attempt, rand=lambda: rand)
    assert step / 2 <= delay <= step <= cap


def test_the_loop_retries_transient_failures_and_counts_attempts() -> None:
    calls: list[int] = []
    slept: list[float] = []
    heard: list[tuple[int, float]] = []

    def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) < 3:
            raise Flaky(retry_after="5" if len(calls) == 2 else None)
        return "done"

    result = retrying(call, policy=RetryPolicy(retries=4), catch=Flaky,
                      transient=lambda exc: exc.transient, sleep=slept.append,
                      rand=lambda: 1.0, retry_after=lambda exc: exc.retry_after,
                      on_retry=lambda attempt, _, delay: heard.append((attempt, delay)))
    assert result == "done"
    assert calls == [1, 2, 3]
    assert slept == [1.0, 5.0]  # the second failure asked for 5s, more than the 2s backoff
    assert heard == [(1, 1.0), (2, 5.0)]


def test_the_loop_gives_up_after_the_retries_with_the_last_failure() -> None:
    failures = [Flaky() for _ in range(5)]
    calls = iter(failures)
    slept: list[float] = []

    def call() -> None:
        raise next(calls)

    with pytest.raises(Flaky) as caught:
        retrying(call, policy=RetryPolicy(retries=2, backoff_seconds=0.5), catch=Flaky,
                 transient=lambda exc: exc.transient, sleep=slept.append, rand=lambda: 1.0)
    assert caught.value is failures[2]  # three attempts: the first and two retries
    assert slept == [0.5, 1.0]


def test_the_loop_stops_at_the_first_failure_that_is_not_transient() -> None:
    calls: list[Flaky] = []

    def call() -> None:
        calls.append(Flaky(transient=len(calls) == 0))
        raise calls[-1]

    slept: list[float] = []
    with pytest.raises(Flaky) as caught:
        retrying(call, policy=RetryPolicy(retries=5), catch=Flaky,
                 transient=lambda exc: exc.transient, sleep=slept.append)
    assert len(calls) == 2 and caught.value is calls[1]
    assert len(slept) == 1


def test_other_exceptions_pass_through_at_once() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise KeyError("not ours")

    with pytest.raises(KeyError):
        retrying(call, policy=RetryPolicy(retries=5), catch=Flaky,
                 transient=lambda _: True, sleep=lambda _: None)
    assert calls == [1]


def test_no_retries_means_one_attempt() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise Flaky()

    with pytest.raises(Flaky):
        retrying(call, policy=RetryPolicy(retries=0), catch=Flaky,
                 transient=lambda _: True, sleep=lambda _: pytest.fail("slept"))
    assert calls == [1]
