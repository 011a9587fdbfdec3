"""Start worker processes: forked from a warm "zygote" process, or each as a fresh interpreter.

A fresh interpreter per worker pays every import (pandas alone takes seconds) once per worker, on the
cores the driver needs to read the table. The zygote is one fresh interpreter of the job's environment
that imports those modules once and forks each worker (a new session, its own pipes and log files);
replacing a killed or hung worker then takes milliseconds. Workers still import the entry script and
call init() after the fork, as separate processes do in the service.

A table is read by a process of its own (`start_partitioner`), started beside the zygote: it imports
pyarrow but not pandas, so mini-batch 0 is cut while the workers are still importing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.engine.process import die_with_parent

__all__ = ["ForkedProcess", "Zygote", "WORKER_SCRIPT", "fork_supported", "start_partitioner"]

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_AMLRUN_ROOT = Path(__file__).resolve().parents[3]  # the folder amlrun is imported from
# The reading process streams through pyarrow a block at a time: malloc with one arena keeps ~25 MB less
# resident than pyarrow's mimalloc pool, at the same speed (it overlaps with the workers: that memory counts).
_LEAN_ALLOCATION = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "1"}


def fork_supported() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and os.environ.get("AMLRUN_PRS_NO_ZYGOTE") != "1"


def start_partitioner(python: str, env: dict[str, str], request: dict[str, Any], cwd: str,
                      log: Path) -> tuple[Any, subprocess.Popen[bytes]]:
    """Start the process that reads the input and streams mini-batch descriptors; (its feed, the process)."""
    from multiprocessing.connection import Connection

    read_fd, write_fd = os.pipe()
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [python, "-c", f"import sys; sys.path.append({str(_AMLRUN_ROOT)!r}); "
                 "from amlrun.engine.parallel.partition import serve_partition; serve_partition()"],
                env={**env, "AMLRUN_PRS_PARTITION": json.dumps(request), "AMLRUN_PRS_FEED_FD": str(write_fd),
                     **_LEAN_ALLOCATION},
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, pass_fds=(write_fd,), cwd=cwd,
                start_new_session=True, preexec_fn=die_with_parent())
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return Connection(read_fd, writable=False), proc


@dataclass
class ForkedProcess:
    """The part of `subprocess.Popen` the driver uses, for a worker the zygote forked."""

    pid: int
    zygote: Zygote
    returncode: int | None = None

    def poll(self) -> int | None:
        self.zygote.collect(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = 0.1 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
            if not self.zygote.collect(min(remaining, 0.1)) and not self.zygote.alive:
                self.returncode = -signal.SIGKILL  # unknowable once the zygote is gone
        return self.returncode


@dataclass
class Zygote:
    python: str
    env: dict[str, str]
    config: dict[str, Any]
    log: Path
    cwd: str
    children: dict[int, ForkedProcess] = field(default_factory=dict)
    alive: bool = True

    def __post_init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self.env, "AMLRUN_PRS_ZYGOTE_FD": str(theirs.fileno()),
               "AMLRUN_PRS_CONFIG": json.dumps(self.config)}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.python, str(WORKER_SCRIPT)], env=env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), cwd=self.cwd,
                                         start_new_session=True, preexec_fn=die_with_parent())
        theirs.close()
        self.sock = ours

    def spawn(self, name: str, fds: list[int], timeout: float = 120.0) -> ForkedProcess:
        """Fork a worker that gets `fds` = [its inbox, its outbox, stdout, stderr]; raises OSError if impossible."""
        socket.send_fds(self.sock, [json.dumps({"worker": name}).encode()], fds)
        return self._await_pid(timeout)

    def _await_pid(self, timeout: float) -> ForkedProcess:
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise OSError("the worker zygote did not answer")
            if message.startswith("pid "):
                child = ForkedProcess(int(message.split()[1]), self)
                self.children[child.pid] = child
                return child
            self._record_exit(message)

    def collect(self, timeout: float) -> bool:
        """Read exit notices for up to `timeout` seconds; True if any arrived."""
        got = False
        while True:
            message = self._receive(timeout)
            if message is None:
                return got
            self._record_exit(message)
            got, timeout = True, 0

    def _receive(self, timeout: float) -> str | None:
        if not self.alive:
            return None
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except (TimeoutError, BlockingIOError):
            return None
        except OSError:
            data = b""
        if not data:
            self.alive = False
            return None
        return data.decode()

    def _record_exit(self, message: str) -> None:
        parts = message.split()
        if len(parts) == 3 and parts[0] == "exit":
            child = self.children.pop(int(parts[1]), None)
            if child is not None:
                child.returncode = int(parts[2])

    def close(self) -> None:
        """Closing the socket ends the zygote; reap it in the background rather than wait for its exit."""
        with contextlib.suppress(OSError):
            self.sock.close()
        self.alive = False
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
