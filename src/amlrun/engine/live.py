"""A live view of a pipeline on a terminal: one row per step with its state, duration and note.

It only listens to the same events `PlainReporter` prints (`step` events carry `state`); the state
is kept apart from drawing, and rich's `Live` pulls a fresh table when it refreshes.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from amlrun.engine.events import Reporter

__all__ = ["LiveReporter", "StepView"]

_STYLES = {"Completed": "green", "Reused": "cyan", "Failed": "red", "Skipped": "yellow", "Canceled": "yellow",
           "Running": "bold blue"}


@dataclass
class StepView:
    state: str = "NotStarted"
    started: float | None = None
    ended: float | None = None
    note: str = ""

    def duration(self, now: float) -> str:
        if self.started is None:
            return ""
        return f"{(self.ended or now) - self.started:.1f}s"


class LiveReporter(Reporter):
    """Redraws a step table on `err` (a terminal); other events print above it as lines."""

    def __init__(self, err: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=err or sys.stderr)
        self.steps: dict[str, StepView] = {}
        self._lock = threading.Lock()
        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=8,
                          transient=True, redirect_stdout=False, redirect_stderr=False)
        self._closed = False
        self._live.start()

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:
        message = data.get("message") or kind
        with self._lock:
            for name in data.get("steps") or []:
                self.steps.setdefault(name, StepView())
            if kind == "step" and step is not None:
                view = self.steps.setdefault(step, StepView())
                state = data.get("state", view.state)
                now = time.monotonic()
                if state == "Running":
                    view.started, view.ended = now, None
                elif state in ("Completed", "Failed", "Canceled") and view.started is not None:
                    view.ended = now
                view.state = state
                view.note = f"from {data['reused_from']}" if data.get("reused_from") else (
                    "" if state in ("Running", "Completed") else message)
                return
        if kind == "summary":
            return  # the table it summarises is what the live view shows; printed again on close
        self.console.print(f"[amlrun] {(step + ': ') if step else ''}{message}", markup=False, highlight=False)

    def log_line(self, step: str | None, line: str) -> None:
        if step is None:
            return
        with self._lock:
            view = self.steps.setdefault(step, StepView())
            if view.state == "Running":
                view.note = line.strip()[-80:]

    def render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=True)
        for column in ("step", "state", "time", ""):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            for name, view in self.steps.items():
                style = _STYLES.get(view.state, "dim")
                table.add_row(Text(name), Text(view.state, style=style), view.duration(now), Text(view.note))
        return table

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._live.stop()
        self.console.print(self.render())
