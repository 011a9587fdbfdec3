"""Run one shell command the way AzureML does: in its snapshot, with a timeout, logs kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from amlrun.engine.events import Reporter

__all__ = ["ProcessResult", "kill_group", "run_shell"]

TIMEOUT_EXIT_CODE = 124


@dataclass
class ProcessResult:
    exit_code: int
    timed_out: bool
    canceled: bool
    duration: float


def kill_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_shell(command: str, cwd: Path, env: dict[str, str], log_file: Path, reporter: Reporter,
              step: str | None, timeout: float | None = None,
              cancel: threading.Event | None = None) -> ProcessResult:
    """Run `command` under bash in its own process group; stream output to the log and reporter."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_file, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

        def pump() -> None:
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                reporter.log_line(step, raw.decode("utf-8", errors="replace"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        canceled = threading.Event()
        finished = threading.Event()

        def watch_cancel() -> None:
            while cancel is not None and not finished.wait(0.1):
                if cancel.is_set():
                    canceled.set()
                    kill_group(proc)
                    return

        if cancel is not None:
            threading.Thread(target=watch_cancel, daemon=True).start()
        try:
            proc.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
        finally:
            finished.set()
        proc.wait()
        reader.join(timeout=5)
        if timed_out:
            log.write(f"\n[amlrun] killed: exceeded limits.timeout of {timeout:g}s\n".encode())
    code = proc.returncode
    if timed_out:
        code = TIMEOUT_EXIT_CODE
    return ProcessResult(code, timed_out, canceled.is_set(), time.monotonic() - started)
