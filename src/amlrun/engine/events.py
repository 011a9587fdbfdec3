"""Progress by events: the engine reports what happens, a reporter decides how to show it.

Code that runs steps never draws; it calls `Reporter` methods. `PlainReporter` prints one line per
event (for logs and non-TTY output); richer live views subscribe to the same calls.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["PlainReporter", "Reporter", "SilentReporter"]


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
