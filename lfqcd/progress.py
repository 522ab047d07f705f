"""Plain-text progress lines for logs (batch jobs, Slurm, CI), at a bounded rate.

A progress *bar* (tqdm) only makes sense on a terminal; in a log file it is either invisible or
thousands of carriage-return fragments. :class:`ProgressLines` prints one complete line, at most
every ``min_interval_s`` seconds plus once at the end::

    scan toy: 12/64 points (19%), 0.53 points/s, ETA 1m38s, 1 failed

:func:`use_lines` decides which display a command gets from its ``progress`` setting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    """``stream.isatty()``, False for streams without it."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def use_lines(setting: str | bool, bar_enabled: bool) -> bool:
    """Plain lines when progress is not switched off and no terminal bar is shown."""
    return setting is not False and not bar_enabled


def format_duration(seconds: float) -> str:
    """``95`` -> ``"1m35s"``; ``"?"`` when unknown."""
    if not seconds == seconds or seconds == float("inf") or seconds < 0:  # NaN/inf/negative
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressLines:
    """Counts finished items and prints a line at most every ``min_interval_s`` seconds."""

    def __init__(
        self,
        total: int,
        label: str,
        *,
        unit: str = "points",
        stream: TextIO | None = None,
        min_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.done = 0
        self.failed = 0
        self.t0 = clock()
        self._last: float | None = None
        self.lines = 0

    def line(self) -> str:
        """The current progress line."""
        elapsed = self.clock() - self.t0
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        left = self.total - self.done
        eta = left / rate if rate > 0 else float("nan")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = (f"{self.label}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), "
                f"{rate:.3g} {self.unit}/s, ETA {format_duration(eta)}")
        if self.failed:
            text += f", {self.failed} failed"
        return text

    def update(self, n: int = 1, failed: int = 0) -> None:
        """Record ``n`` finished items (``failed`` of them failed); print when due."""
        self.done += n
        self.failed += failed
        now = self.clock()
        due = self._last is None or now - self._last >= self.min_interval_s
        if due or self.done >= self.total:
            self._last = now
            self.lines += 1
            print(self.line(), file=self.stream or sys.stderr, flush=True)
