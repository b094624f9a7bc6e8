"""Progress rendering: plain timestamped lines, CI sections, throttled transfers, redaction."""

from __future__ import annotations

import io
import time

import pytest

from dockyard.progress import QUIET, VERBOSE, Reporter, choose_mode, human_bytes
from dockyard.secrets import Secret


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def reporter(mode: str = "plain", verbosity: int = 1) -> tuple[Reporter, io.StringIO, Clock]:
    stream, clock = io.StringIO(), Clock()
    return Reporter(stream, mode=mode, verbosity=verbosity, clock=clock), stream, clock


def test_plain_lines_are_timestamped_and_build_log_is_not() -> None:
    rep, out, _ = reporter()
    with rep.section("Build"):
        rep.info("building .")
        rep.log("Step 1/2 : FROM scratch")
    assert out.getvalue().splitlines() == [
        "[22:13:20] == Build", "[22:13:20] building .", "Step 1/2 : FROM scratch"]


def test_transfers_beat_every_few_seconds_not_on_every_update() -> None:
    rep, out, clock = reporter()
    for step in range(100):
        clock.now += 0.2  # 20 seconds in all
        rep.transfer("registry: layer 1a2b", step * 1_000_000, 100_000_000)
    rep.transfer("registry: layer 1a2b", 100_000_000, 100_000_000)
    lines = out.getvalue().splitlines()
    assert 4 <= len(lines) <= 6
    assert lines[0].endswith("registry: layer 1a2b: 0 B of 100.0 MB (0%)")
    assert lines[-1].endswith("100.0 MB of 100.0 MB (100%)")


def test_small_uploads_that_finish_at_once_say_nothing() -> None:
    rep, out, _ = reporter()
    rep.transfer("registry: layer small", 512, 512)
    assert out.getvalue() == ""


def test_quiet_shows_only_warnings_and_verbose_shows_details() -> None:
    rep, out, _ = reporter(verbosity=QUIET)
    with rep.section("Build"):
        rep.info("building")
        rep.log("Step 1/1")
        rep.detail("layer pushed")
        rep.warn("http webhook to a public host")
    assert out.getvalue().splitlines() == ["[22:13:20] warning: http webhook to a public host"]
    rep, out, _ = reporter(verbosity=VERBOSE)
    rep.detail("layer pushed")
    assert "layer pushed" in out.getvalue()


def test_everything_written_is_redacted() -> None:
    secret = Secret("progress-secret-991")
    rep, out, _ = reporter()
    with rep.section(f"push with {secret.reveal()}"):
        rep.info(f"token {secret.reveal()}")
        rep.transfer(f"task {secret.reveal()}", 1, 10)
    assert "progress-secret-991" not in out.getvalue()


@pytest.mark.parametrize(
    ("env", "tty", "mode"),
    [({"GITHUB_ACTIONS": "true"}, True, "plain"), ({"GITLAB_CI": "true"}, True, "plain"),
     ({"CI": "true"}, True, "plain"), ({}, True, "tty"), ({"TERM": "dumb"}, True, "plain"),
     ({"NO_COLOR": "1"}, True, "plain"), ({}, False, "plain")],
)
def test_choose_mode(env: dict[str, str], tty: bool, mode: str) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert choose_mode(env, Stream()) == mode


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (999, 1000, 1_500_000, 2e9, 3e12)] == [
        "999 B", "1.0 kB", "1.5 MB", "2.0 GB", "3000.0 GB"]


def test_a_silent_section_says_it_is_still_working() -> None:
    stream = io.StringIO()
    rep = Reporter(stream, silence=0.05)
    with rep.section("Build"):
        deadline = time.monotonic() + 5
        while "still working: Build" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "still working: Build (" in stream.getvalue()
    after = stream.getvalue()
    time.sleep(0.2)
    assert stream.getvalue() == after  # the watcher stops with its section


def test_quiet_sections_have_no_watcher() -> None:
    stream = io.StringIO()
    rep = Reporter(stream, verbosity=QUIET, silence=0.01)
    with rep.section("Build"):
        time.sleep(0.1)
    assert stream.getvalue() == ""
