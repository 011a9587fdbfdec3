"""Run one shell command the way AzureML does: in its snapshot, with a timeout, logs kept."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.engine.events import Reporter
from amlrun.store.liveness import write_group_file

__all__ = ["ProcessResult", "cancel_on_interrupt", "die_with_parent", "guarded_argv", "kill_group", "pdeathsig_prefix",
           "run_shell"]

TIMEOUT_EXIT_CODE = 124


@dataclass
class ProcessResult:
    exit_code: int
    timed_out: bool
    canceled: bool
    duration: float


_PLAIN_COMMAND = re.compile(r"[A-Za-z0-9_\-./:,@+=% ]+")
_SHELL_WORDS = {"time", "exec", "exit", "cd", "source", "export", "set", "ulimit", "wait", "read", "eval",
                "trap", "umask", "alias", "command", "builtin", "type", "hash", "shopt"}


def command_argv(command: str, env: dict[str, str]) -> list[str]:
    """argv for a step's command: bash -c, as AzureML runs it, unless the command is one plain program call.

    A command with no shell syntax (no quotes, pipes, redirections, variables, globs or newlines) means
    the same run directly, and saves starting a shell per step (it is most of a short step's overhead).
    """
    words = command.split()
    if (not words or not _PLAIN_COMMAND.fullmatch(command.strip()) or "=" in words[0] or "/" in words[0]
            or words[0] in _SHELL_WORDS or shutil.which(words[0], path=env.get("PATH")) is None):
        return ["bash", "-c", command]
    return words


_PR_SET_PDEATHSIG = 1
_SETPRIV: list[str | None] = []  # util-linux `setpriv`, looked up once


def guarded_argv(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """(argv, preexec_fn) starting `argv` so that it dies with amlrun, as cheaply as the system allows.

    A `preexec_fn` makes Python fork the whole interpreter (copying its page tables, then faulting
    pages in the child) instead of vfork: ~7 ms of CPU per process here, more than `bash -c true`
    itself. util-linux `setpriv --pdeathsig KILL` sets the same kernel flag from a small exec'd
    program (~1.5 ms); without it, `die_with_parent` does it in the forked child.
    """
    prefix = pdeathsig_prefix("KILL")
    if prefix:
        return [*prefix, "--", *argv], None
    return argv, die_with_parent()


def pdeathsig_prefix(signal_name: str) -> list[str]:
    """`setpriv --pdeathsig <signal_name>`: what runs the next program with that parent-death signal;
    [] where util-linux `setpriv` is missing."""
    if not _SETPRIV:
        _SETPRIV.append(shutil.which("setpriv") if sys.platform.startswith("linux") else None)
    return [_SETPRIV[0], "--pdeathsig", signal_name] if _SETPRIV[0] is not None else []


def _load_prctl() -> Any:
    """libc's prctl, loaded once in amlrun: a child between fork and exec should do as little as possible."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the index check still reaps orphans
        return None


_PRCTL: list[Any] = []  # loaded on the first die_with_parent (ctypes is not imported when setpriv is there)


def die_with_parent(parent: int | None = None) -> Callable[[], None]:
    """A Popen `preexec_fn`: the kernel SIGKILLs the child when amlrun (`parent`) dies, even by SIGKILL.

    Without it a killed amlrun leaves its step running with parent 1, writing on. What the child
    starts in turn is killed by whichever amlrun command next reads the run index (store.liveness).
    """
    parent = os.getpid() if parent is None else parent
    if not _PRCTL:
        _PRCTL.append(_load_prctl())
    _prctl = _PRCTL[0]

    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent:  # amlrun died between fork and prctl
                os._exit(137)

    return preexec


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


@contextlib.contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[threading.Event]:
    """While inside, Ctrl-C (SIGINT) and SIGTERM set `cancel` instead of raising.

    Jobs run in their own process group, so a terminal's Ctrl-C reaches only amlrun: the watcher
    in `run_shell` then kills the job's whole group and the run is recorded as Canceled. Signals
    stay untouched outside the main thread, or when they were ignored when amlrun started.
    """
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = {}

    def handler(signum: int, frame: object) -> None:
        cancel.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN:
            continue
        previous[sig] = current
        signal.signal(sig, handler)
    try:
        yield cancel
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_shell(command: str, cwd: Path, env: dict[str, str], log_file: Path, reporter: Reporter,
              step: str | None, timeout: float | None = None,
              cancel: threading.Event | None = None, argv: list[str] | None = None,
              pid_file: Path | None = None) -> ProcessResult:
    """Run `command` under bash in its own process group; stream output to the log and reporter.

    `argv` replaces the bash command line (a container engine running `command` in an image);
    `pid_file` records the group (store.liveness), so a later amlrun can kill it if this one dies."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if cancel is not None and cancel.is_set():
        return ProcessResult(130, False, True, 0.0)
    with open(log_file, "ab", buffering=0) as log:
        args, preexec = guarded_argv(argv or command_argv(command, env))
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec,
        )
        if pid_file is not None:
            write_group_file(pid_file, proc.pid)

        def pump() -> None:
            assert proc.stdout is not None
            logging = True
            for raw in iter(proc.stdout.readline, b""):
                if logging:
                    try:
                        log.write(raw)
                    except OSError as exc:  # e.g. a full disk: say so once, keep the job's output flowing
                        logging = False
                        reporter.log_line(step, f"[amlrun] cannot write {log_file}: {exc.strerror or exc}; "
                                                "the rest of this output is not in the log\n")
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

        watcher = threading.Thread(target=watch_cancel, daemon=True)
        if cancel is not None:
            watcher.start()
        try:
            proc.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
        finally:
            finished.set()
        proc.wait()
        if watcher.is_alive():
            watcher.join()  # a cancel in progress finishes killing the group before we report
        # AzureML tears the container down when the command ends: background processes die with it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(timeout=5)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
        if timed_out:
            log.write(f"\n[amlrun] killed: exceeded limits.timeout of {timeout:g}s\n".encode())
        elif canceled.is_set():
            log.write(b"\n[amlrun] canceled: the process group was killed\n")
    code = proc.returncode
    if timed_out:
        code = TIMEOUT_EXIT_CODE
    return ProcessResult(code, timed_out, canceled.is_set(), time.monotonic() - started)
