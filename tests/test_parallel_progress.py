"""The progress view: a live bar on a terminal, plain lines otherwise, both from the same counters."""

from __future__ import annotations

import io

from rich.console import Console

from amlrun.engine.events import PlainReporter
from amlrun.engine.parallel.driver import Stats
from amlrun.engine.parallel.progress import ProgressView


def _stats() -> Stats:
    stats = Stats(total=10, succeeded=3, failed=1, items_ok=30, items_failed=2, retries=1)
    stats.started -= 2.0
    return stats


def test_live_bar_shows_batches_items_rate_and_eta() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    view = ProgressView(PlainReporter(err=io.StringIO()), "score", live=True, console=console)
    view.update(_stats())
    text = buffer.getvalue()
    assert "4/10 mini-batches (1 failed), 30 items ok, 2 failed, 1 retries" in text
    assert "items/s" in text and "ETA" in text


def test_plain_lines_when_not_a_terminal() -> None:
    err = io.StringIO()
    view = ProgressView(PlainReporter(err=err), None, live=False, interval=0)
    view.update(_stats())
    view.close(_stats())
    lines = err.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[amlrun] 4/10 mini-batches (1 failed), 30 items ok")
