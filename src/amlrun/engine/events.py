"""Progress by events: the engine reports what happens, a reporter decides how to show it.

Code that runs steps never draws; it calls `Reporter` methods. `PlainReporter` prints one line per
event (for logs and non-TTY output); richer live views subscribe to the same calls.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LoggingReporter", "PlainReporter", "Reporter", "SilentReporter", "report_outputs"]


class Reporter:
    """The events an execution emits. Subclasses override what they show."""

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:  # pragma: no cover - interface
        pass

    def log_line(self, step: str | None, line: str) -> None:  # pragma: no cover - interface
        pass

    def close(self) -> None:
        pass


class SilentReporter(Reporter):
    pass


class PlainReporter(Reporter):
    """Plain lines: events on stderr (`[amlrun] ...`), job output on stdout, prefixed per step."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, prefix_steps: bool = False,
                 echo_logs: bool = True) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.prefix_steps = prefix_steps
        self.echo_logs = echo_logs
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:
        message = data.pop("message", None) or kind
        where = f"{step}: " if step else ""
        with self._lock:
            print(f"[amlrun] {where}{message}", file=self.err, flush=True)

    def log_line(self, step: str | None, line: str) -> None:
        if not self.echo_logs:
            return
        with self._lock:
            if self.prefix_steps and step:
                self.out.write(f"{step} | {line}")
            else:
                self.out.write(line)
            if not line.endswith("\n"):
                self.out.write("\n")
            self.out.flush()


class LoggingReporter(Reporter):
    """Pass events on, and keep them in a run's `user_logs/std_log.txt` (what `amlrun logs` prints).

    A pipeline's log holds its steps' events (`prefix_steps`); it owns its inner reporter (`close_inner`),
    a parallel step's log does not (the pipeline or job around it closes that).
    """

    def __init__(self, inner: Reporter, log_file: Path, prefix_steps: bool = False, close_inner: bool = False) -> None:
        self.inner = inner
        self.prefix_steps = prefix_steps
        self.close_inner = close_inner
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_file, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:
        message = data.get("message") or kind
        where = f"{step}: " if step and self.prefix_steps else ""
        with self._lock:
            if not self._log.closed:
                self._log.write(f"{time.strftime('%H:%M:%S')} {where}{message}\n")
                self._log.flush()
        self.inner.event(kind, step, **data)

    def log_line(self, step: str | None, line: str) -> None:
        self.inner.log_line(step, line)

    def close(self) -> None:
        with self._lock:
            self._log.close()
        if self.close_inner:
            self.inner.close()


def report_outputs(reporter: Reporter, outputs: dict[str, str], rows: str | None = None) -> None:
    """Say where a finished run's outputs are (as `show` does), so nobody has to look them up."""
    for name, where in outputs.items():
        reporter.event("output", message=f"output {name} -> {where}")
    if rows and not any(rows == where for where in outputs.values()):
        reporter.event("output", message=f"rows (append_row_to) -> {rows}")
