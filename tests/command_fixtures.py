"""Helpers for tests that talk to a *running* amlrun: start it, read its lines as they come."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import SRC

__all__ = ["LineReader", "gate_command", "interruptible", "start_amlrun", "wait_for_process_group_gone"]


def start_amlrun(*args: str | Path, store: Path, cwd: Path) -> subprocess.Popen[str]:
    """`amlrun ARGS...` in the background, with pipes for stdout and stderr."""
    env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "amlrun", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)


def interruptible() -> None:
    """Popen preexec: SIGINT at its default, as in a terminal, even when the test run inherited it
    ignored (a suite started with `&` from a script); amlrun rightly leaves an ignored SIGINT alone."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class LineReader:
    """Collects a stream's lines on a thread, so a test can wait for one without blocking forever."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in iter(stream.readline, ""):
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line containing `text`; AssertionError if the stream ends or time runs out."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if text in line:
                return line
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout}s; got {self.lines}") from None
            if line is None:
                raise AssertionError(f"stream ended without {text!r}; got {self.lines}")
            self.lines.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = 60) -> str:
        """Everything until the stream ends."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                return "".join(self.lines)
            self.lines.append(line)


def gate_command(gate: Path, before: str, after: str) -> str:
    """A shell command that prints `before`, waits until the file `gate` exists, then prints `after`.

    Tests decide when a job moves on, instead of guessing with sleeps.
    """
    return (f"echo {before}; n=0; while [ ! -e {gate} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done; "
            f"echo {after}")


def wait_for_process_group_gone(pgid: int, timeout: float = 15) -> bool:
    """True once no process is left in group `pgid`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False
