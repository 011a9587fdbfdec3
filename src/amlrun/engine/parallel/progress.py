"""Progress of a parallel job: a live bar on a terminal, the same numbers as plain lines otherwise.

The driver only updates counters (`Stats`) and calls `update`; this module decides how to show them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from amlrun.engine.events import Reporter
from amlrun.engine.parallel.driver import Stats

__all__ = ["ProgressView", "describe"]


def describe(stats: Stats) -> str:
    """`12/40 mini-batches (1 failed), 1200 items ok, 3 failed, 85.1 items/s, ETA 14s`."""
    elapsed = max(1e-6, time.monotonic() - stats.started)
    done = stats.done + stats.skipped
    total = "?" if stats.total is None else str(stats.total)
    rate = stats.items_ok / elapsed
    text = f"{done}/{total} mini-batches"
    if stats.failed:
        text += f" ({stats.failed} failed)"
    text += f", {stats.items_ok} items ok"
    if stats.items_failed:
        text += f", {stats.items_failed} failed"
    if stats.retries:
        text += f", {stats.retries} retries"
    text += f", {rate:.1f} items/s"
    if stats.total and stats.done:
        remaining = (stats.total - done) * elapsed / stats.done
        text += f", ETA {remaining:.0f}s"
    return text


class ProgressView:
    """`live=None` picks a bar when stderr is a terminal (and NO_COLOR/TERM=dumb do not say otherwise)."""

    def __init__(self, reporter: Reporter, step: str | None, live: bool | None = None,
                 interval: float = 5.0, console: Any = None) -> None:
        self.reporter = reporter
        self.step = step
        self.interval = interval
        self._last = 0.0
        self._bar: Any = None
        if live is None:
            live = sys.stderr.isatty()
        if live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._bar = Progress(TextColumn("[amlrun] {task.description}"), BarColumn(),
                                 TextColumn("{task.fields[info]}"), console=console or Console(stderr=True),
                                 transient=True, auto_refresh=console is None)
            self._task = self._bar.add_task(step or "parallel", total=None, info="starting workers")
            try:
                self._bar.start()
            except Exception:  # noqa: BLE001 - another live display (a pipeline's, a concurrent step's) owns the terminal
                self._bar = None

    def update(self, stats: Stats) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=stats.total, completed=stats.done + stats.skipped,
                             info=describe(stats))
            self._bar.refresh()
            return
        now = time.monotonic()
        if now - self._last >= self.interval and stats.done:
            self._last = now
            self.reporter.event("progress", step=self.step, message=describe(stats))

    def close(self, stats: Stats | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        if stats is not None:
            self.reporter.event("progress", step=self.step, message=describe(stats))
