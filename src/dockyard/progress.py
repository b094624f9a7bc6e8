"""What people see while Dockyard works: sections, log lines, transfer progress.

Two renderings of the same events, chosen from where the output goes:
- `tty`: a terminal; live progress bars for uploads (rich, imported only here);
- `plain`: CI logs or a pipe; timestamped lines, and a transfer line at most every few
  seconds, so a long push never sits silent and never floods the log.
In GitHub Actions and GitLab CI the run sits inside one collapsible section of the job
log, which `dockyard.ci.outputs` opens (their log viewers do not nest sections).
Everything written passes through `secrets.redact`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from dockyard import secrets

QUIET, NORMAL, VERBOSE = 0, 1, 2
HEARTBEAT_SECONDS = 5.0  # at most one transfer line per upload this often
SILENCE_SECONDS = 10.0  # a section that has said nothing this long says it is still working


def choose_mode(env: Mapping[str, str], stream: TextIO) -> str:
    if env.get("CI") or env.get("GITHUB_ACTIONS") or env.get("GITLAB_CI"):
        return "plain"  # CI logs keep every line: no live redrawing there
    if stream.isatty() and env.get("TERM", "") != "dumb" and "NO_COLOR" not in env:
        return "tty"
    return "plain"


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


class Reporter:
    """Renders progress events for people. The pipeline calls it; it never decides."""

    def __init__(self, stream: TextIO, *, mode: str = "plain", verbosity: int = NORMAL,
                 clock: Callable[[], float] = time.time,
                 silence: float = SILENCE_SECONDS) -> None:
        self._stream = stream
        self.mode = mode
        self.verbosity = verbosity
        self._clock = clock
        self._silence = silence
        self._lock = threading.RLock()  # the silence watcher writes from its own thread
        self._last_output = time.monotonic()
        self._last_beat: dict[str, float] = {}
        self._live: Any = None  # rich Progress, in tty mode, while transfers run
        self._tasks: dict[str, Any] = {}

    # -- events -------------------------------------------------------------------------
    def info(self, text: str) -> None:
        """A step people want to see (building, pushing, pushed)."""
        if self.verbosity >= NORMAL:
            self._line(text)

    def log(self, text: str) -> None:
        """A line of the build log."""
        if self.verbosity >= NORMAL:
            self._line(text, stamp=False)

    def detail(self, text: str) -> None:
        """Per-layer chatter; only with --verbose."""
        if self.verbosity >= VERBOSE:
            self._line(text)

    def warn(self, text: str) -> None:
        """Always shown, even with --quiet."""
        self._line(f"warning: {text}")

    def transfer(self, task: str, current: int, total: int | None) -> None:
        """Bytes moved for one upload (`task` names it: registry and layer)."""
        if self.verbosity < NORMAL:
            return
        if self.mode == "tty":
            with self._lock:
                self._bar(task, current, total)
            return
        now = self._clock()
        done = total is not None and current >= total
        last = self._last_beat.get(task)
        if last is not None and not done and now - last < HEARTBEAT_SECONDS:
            return
        if done and last is None:
            return  # a small layer that went up at once: no line needed
        self._last_beat[task] = now
        if total:
            self._line(f"{task}: {human_bytes(current)} of {human_bytes(total)} "
                       f"({100 * current // total}%)")
        else:
            self._line(f"{task}: {human_bytes(current)}")

    @contextmanager
    def section(self, title: str) -> Iterator[None]:
        """A titled part of the run (build, push, webhooks)."""
        if self.verbosity >= NORMAL:
            self._line(f"== {title}", stamp=self.mode != "tty")
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(title, stop), daemon=True)
        if self.verbosity >= NORMAL and self._silence > 0:
            watcher.start()
        try:
            yield
        finally:
            stop.set()
            if watcher.is_alive():
                watcher.join()
            self._close_bars()

    def _watch(self, title: str, stop: threading.Event) -> None:
        """Say "still working" when a long step (a quiet RUN, a slow registry) is silent."""
        started = time.monotonic()
        while not stop.wait(min(1.0, self._silence / 4)):
            with self._lock:
                idle = time.monotonic() - self._last_output
                if idle >= self._silence and self._live is None:
                    self._line(f"still working: {title} "
                               f"({time.monotonic() - started:.0f} s)")

    def close(self) -> None:
        self._close_bars()

    # -- rendering ------------------------------------------------------------------------
    def _line(self, text: str, *, stamp: bool = True) -> None:
        text = secrets.redact(text)
        with self._lock:
            self._last_output = time.monotonic()
            if self._live is not None:
                self._live.console.print(text, markup=False, highlight=False)
                return
            if stamp and self.mode != "tty":
                text = f"[{time.strftime('%H:%M:%S', time.gmtime(self._clock()))}] {text}"
            self._stream.write(text + "\n")
            self._stream.flush()

    def _bar(self, task: str, current: int, total: int | None) -> None:
        if self._live is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            console = Console(file=self._stream, force_terminal=True)
            self._live = Progress(TextColumn("{task.description}"), BarColumn(),
                                  DownloadColumn(), TransferSpeedColumn(), console=console,
                                  transient=False)
            self._live.start()
        if task not in self._tasks:
            self._tasks[task] = self._live.add_task(secrets.redact(task), total=total)
        self._live.update(self._tasks[task], completed=current, total=total)

    def _close_bars(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None
                self._tasks.clear()
                self._last_output = time.monotonic()
