"""Progress for data transfers: a bar once a transfer has run a second, a summary line at the end.

Transfers only count (`advance`); a separate thread draws. On a terminal the bar is rich's; otherwise
one plain line says what is being moved. `AMLRUN_NO_PROGRESS=1` turns the bar off; summaries stay.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["TransferStats", "Transfer", "human_bytes"]

SHOW_AFTER_SECONDS = 1.0


def human_bytes(n: float, sep: str = " ") -> str:
    """`n` bytes as `12.3 MB` (`sep` goes between number and unit; tables use none)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{sep}{unit}" if unit == "B" else f"{n:.1f}{sep}{unit}"
        n /= 1024
    return f"{n:.1f}{sep}GB"


@dataclass
class TransferStats:
    """What one input or output moved; `cached_*` were already present and not transferred."""

    files: int = 0
    bytes: int = 0
    cached_files: int = 0
    cached_bytes: int = 0
    seconds: float = 0.0

    def summary(self, verb: str, what: str) -> str:
        line = f"data: {what}: {verb} {self.files} file{'s' if self.files != 1 else ''} " \
               f"({human_bytes(self.bytes)}) in {self.seconds:.1f}s"
        if self.cached_files:
            line += f", {self.cached_files} from cache ({human_bytes(self.cached_bytes)})"
        return line


@dataclass
class Transfer:
    """A live transfer of `total_files`/`total_bytes`; use as a context manager."""

    label: str
    total_files: int
    total_bytes: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done_files: int = 0
    done_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def advance(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.done_files += files
            self.done_bytes += nbytes

    def __enter__(self) -> Transfer:
        self._started = time.monotonic()
        if self.total_files and os.environ.get("AMLRUN_NO_PROGRESS") != "1":
            self._thread = threading.Thread(target=self._draw, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _draw(self) -> None:
        if self._stop.wait(SHOW_AFTER_SECONDS):
            return
        if not (hasattr(self.stream, "isatty") and self.stream.isatty()):
            print(f"[amlrun] data: {self.label}: {self.total_files} files ({human_bytes(self.total_bytes)})...",
                  file=self.stream, flush=True)
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        console = Console(file=self.stream)
        with Progress(TextColumn("\\[amlrun] {task.description}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(self.label, total=self.total_bytes or None)
            while not self._stop.wait(0.1):
                bar.update(task, completed=self.done_bytes)
            bar.update(task, completed=self.done_bytes)
