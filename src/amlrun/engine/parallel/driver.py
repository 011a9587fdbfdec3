"""Schedule mini-batches onto worker processes with AzureML's retry, timeout and threshold rules.

One thread, one loop: wait on the workers' pipes (and the partitioner's), hand an idle worker the next
mini-batch descriptor, commit finished mini-batches to the journal in groups (one fsync pair per
group: every `COMMIT_EVERY` seconds, at once when one failed), and apply the rules:

- `run()` raising, running longer than `timeout`, or its worker dying fails the attempt; the mini-batch
  is tried again (up to `max_retries` more times), in a fresh worker when the old one died or hung.
- `run()` returning fewer items than it got: the difference are failed items, counted against
  `error_threshold` only; the mini-batch itself was processed (not retried: its returned rows are
  already results) and does not count as a failed mini-batch. So a many-models script whose `run()`
  returns `[]` per partition completes under `error_threshold: -1` whatever `mini_batch_error_threshold`
  says, as the service's own example (azureml-examples parallel/1a_oj_sales_prediction) relies on.
- a mini-batch fails (for `mini_batch_error_threshold` and `allowed_failed_percent`) when its last
  attempt raised, timed out or lost its worker; its items count as failed items too.
- the job aborts as soon as failed items > `error_threshold` or failed mini-batches >
  `mini_batch_error_threshold` (-1 ignores either), or, once every mini-batch was scheduled, the
  failed share of mini-batches > `allowed_failed_percent`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from amlrun.engine.parallel.journal import Commit, Journal
from amlrun.engine.parallel.partition import MiniBatch, PartitionRequest, stream_mini_batches
from amlrun.engine.parallel.plan import ParallelSettings
from amlrun.engine.parallel.spawn import (
    WORKER_SCRIPT,
    ForkedProcess,
    Zygote,
    fork_supported,
    start_partitioner,
)
from amlrun.engine.process import die_with_parent

__all__ = ["COMMIT_EVERY", "DriverResult", "Stats", "WorkerSpec", "drive"]

# Succeeded mini-batches wait up to this long to be committed together: two fsyncs per commit cost more
# than a fast run() (a crash loses at most this much finished work, which resuming runs again).
COMMIT_EVERY = 0.3

@dataclass
class WorkerSpec:
    """How to start one worker process."""

    python: str
    env: dict[str, str]
    config: dict[str, Any]
    logs: Path  # logs/user
    amlrun_importable: bool = True  # False in a job venv: tables are then partitioned in the driver
    launch: list[str] | None = None  # argv instead of `python worker.py` (a debugger's launcher); no zygote
    foreground: bool = False  # the worker keeps the terminal's stdin/stdout/stderr (pdb)
    # In a container: (worker name, its variables) -> the engine command starting worker.py inside, which
    # then talks over its stdin/stdout; `stop(name)` ends that container.
    launcher: Callable[[str, dict[str, str]], list[str]] | None = None
    stop: Callable[[str], None] | None = None


@dataclass
class Stats:
    """Live counters; the progress view and the summary read them."""

    total: int | None = None  # known once partitioning finished
    skipped: int = 0  # succeeded in an earlier session
    scheduled: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    items_ok: int = 0
    items_failed: int = 0
    workers: int = 0
    started: float = field(default_factory=time.monotonic)
    first_started: float | None = None  # seconds from start to the first mini-batch handed to an init()ed worker
    partitioned: float | None = None  # seconds from start until every mini-batch was known

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass
class DriverResult:
    status: str  # Completed | Failed | Canceled
    error: str | None
    stats: Stats


@dataclass
class _Worker:
    name: str
    proc: subprocess.Popen[bytes] | ForkedProcess
    inbox: Connection
    outbox: Connection
    ready: bool = False
    queue: deque[MiniBatch] = field(default_factory=deque)  # sent, in order; the head is running
    deadline: float = 0.0  # of the head
    started: float = 0.0  # of the head

    @property
    def batch(self) -> MiniBatch | None:
        return self.queue[0] if self.queue else None

    def start_head(self, now: float, timeout: float) -> None:
        self.started, self.deadline = now, now + timeout


class _Abort(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _signal_name(code: int | None) -> str:
    if code is None:
        return "an unknown status"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {-code} ({signal.Signals(-code).name})"
        return f"signal {-code}"
    return f"exit code {code}"


class _Driver:
    def __init__(self, settings: ParallelSettings, spec: WorkerSpec, journal: Journal, workers: int,
                 on_progress: Callable[[Stats], None], on_error: Callable[[int, int, str], None],
                 cancel: threading.Event | None, started: float | None = None) -> None:
        self.settings = settings
        self.spec = spec
        self.journal = journal
        self.size = workers
        self.on_progress = on_progress
        self.on_error = on_error
        self.cancel = cancel
        self.stats = Stats(workers=workers)
        if started is not None:
            self.stats.started = started
        self.pending: deque[MiniBatch] = deque()
        self.attempts: dict[int, int] = {}
        self.workers: list[_Worker] = []
        self.spawned = 0
        self.partition_done = False
        self.unscheduled_first_attempts = 0
        self.to_commit: list[tuple[Commit, str, str | None]] = []
        self.committed_at = 0.0
        self.finished_work: set[int] = set(journal.succeeded())
        self.zygote: Zygote | None = None
        self.partitioner: subprocess.Popen[bytes] | None = None

    # -- workers -------------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        name = f"process{self.spawned:03d}"
        self.spawned += 1
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        env = dict(self.spec.env)
        env["AMLRUN_PRS_FDS"] = f"{to_worker_r},{from_worker_w}"
        env["AMLRUN_PRS_CONFIG"] = json.dumps({**self.spec.config, "worker": name})
        env["AMLRUN_PRS_WORKER"] = name
        out_dir, err_dir = self.spec.logs / "stdout", self.spec.logs / "stderr"
        out_dir.mkdir(parents=True, exist_ok=True)
        err_dir.mkdir(parents=True, exist_ok=True)
        proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        with open(out_dir / f"{name}.stdout.txt", "ab") as out, open(err_dir / f"{name}.stderr.txt", "ab") as err:
            if self.zygote is not None and self.zygote.alive:
                with contextlib.suppress(OSError):
                    proc = self.zygote.spawn(name, [to_worker_r, from_worker_w, out.fileno(), err.fileno()])
            if proc is None and self.spec.launcher is not None:
                env["AMLRUN_PRS_STDIO_LOG"] = str(out_dir / f"{name}.stdout.txt")
                env.pop("AMLRUN_PRS_FDS")
                proc = subprocess.Popen(self.spec.launcher(name, env), env={**os.environ, **env}, stdin=to_worker_r,
                                        stdout=from_worker_w, stderr=err, start_new_session=True)
            if proc is None:
                quiet = not self.spec.foreground
                proc = subprocess.Popen(self.spec.launch or [self.spec.python, str(WORKER_SCRIPT)], env=env,
                                        stdout=out if quiet else None, stderr=err if quiet else None,
                                        stdin=subprocess.DEVNULL if quiet else None,
                                        pass_fds=(to_worker_r, from_worker_w),
                                        cwd=self.spec.config["code_dir"], start_new_session=quiet,
                                        preexec_fn=die_with_parent())
        os.close(to_worker_r)
        os.close(from_worker_w)
        worker = _Worker(name, proc, Connection(to_worker_w, readable=False), Connection(from_worker_r, writable=False))
        self.workers.append(worker)
        return worker

    def _kill(self, worker: _Worker) -> None:
        alive = worker.proc.poll() is None
        if alive and self.spec.stop is not None:
            self.spec.stop(worker.name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.proc.pid, signal.SIGKILL)  # the worker and the tools it started (its session)
        if alive:  # never signal a pid that was already reaped (it may belong to someone else by now)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(worker.proc.pid, signal.SIGKILL)  # in case it had no session of its own yet
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.proc.wait(timeout=5)
        self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        for conn in (worker.inbox, worker.outbox):
            with contextlib.suppress(OSError):
                conn.close()
        if worker in self.workers:
            self.workers.remove(worker)

    def _stop_all(self, graceful: bool) -> None:
        if graceful:
            for worker in self.workers:
                with contextlib.suppress(OSError):
                    worker.inbox.send(("stop",))
            deadline = time.monotonic() + max(10.0, self.settings.timeout)
            for worker in list(self.workers):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for worker in list(self.workers):
            self._kill(worker)
        if self.zygote is not None:
            self.zygote.close()

    # -- outcomes ------------------------------------------------------------------------------------
    def _attempt_failed(self, batch: MiniBatch, reason: str, duration: float) -> None:
        attempt = self.attempts.get(batch.index, 1)
        self.on_error(batch.index, attempt, reason)
        if attempt <= self.settings.max_retries:
            self.attempts[batch.index] = attempt + 1
            self.stats.retries += 1
            self.pending.append(batch)
            return
        first_line = reason.strip().splitlines()[-1] if reason.strip() else reason
        self._finish(Commit(batch.index, "failed", items=batch.items, returned=0, attempts=attempt,
                            duration=duration, error=first_line[:500], what=items_of(batch)), "", None)

    def _finish(self, commit: Commit, body: str, header: str | None) -> None:
        self.to_commit.append((commit, body, header))

    def _flush_if_due(self) -> None:
        """Commit now if a mini-batch failed (thresholds are checked on commit) or COMMIT_EVERY has passed."""
        if self.to_commit and (time.monotonic() - self.committed_at >= COMMIT_EVERY
                               or any(commit.status != "ok" for commit, _, _ in self.to_commit)):
            self._flush()

    def _flush(self) -> None:
        if not self.to_commit:
            return
        self.committed_at = time.monotonic()
        batch, self.to_commit = self.to_commit, []
        self.journal.commit(batch)
        for commit, _, _ in batch:
            self.finished_work.add(commit.index)
            if commit.status == "failed":
                self.stats.failed += 1
            else:  # ok, or partial: processed, its missing items failed
                self.stats.succeeded += 1
            self.stats.items_ok += min(commit.returned, commit.items)
            self.stats.items_failed += commit.failed_items
        self._check_thresholds()
        self.on_progress(self.stats)

    def _check_thresholds(self) -> None:
        s, st = self.settings, self.stats
        if s.error_threshold >= 0 and st.items_failed > s.error_threshold:
            raise _Abort("Failed", f"{st.items_failed} items failed, more than error_threshold={s.error_threshold}")
        if s.mini_batch_error_threshold >= 0 and st.failed > s.mini_batch_error_threshold:
            raise _Abort("Failed", f"{st.failed} mini-batches failed, more than "
                                   f"mini_batch_error_threshold={s.mini_batch_error_threshold}")
        if self.partition_done and self.unscheduled_first_attempts == 0 and s.allowed_failed_percent < 100:
            total = (st.total or 0) - st.skipped
            if total > 0 and st.failed * 100.0 / total > s.allowed_failed_percent:
                raise _Abort("Failed", f"{st.failed} of {total} mini-batches failed "
                                       f"({st.failed * 100.0 / total:.1f}%), more than "
                                       f"allowed_failed_percent={s.allowed_failed_percent:g}")

    # -- messages ------------------------------------------------------------------------------------
    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            return
        if kind == "init_error":
            raise _Abort("Failed", f"{message[1]} failed in {worker.name}: {message[2]} "
                                   f"(traceback in logs/user/stderr/{worker.name}.stderr.txt)")
        batch = worker.batch
        if batch is None or message[1] != batch.index:
            return
        worker.queue.popleft()
        if worker.queue:
            worker.start_head(time.monotonic(), self.settings.timeout)
        if kind == "error":
            self._attempt_failed(batch, message[2], message[3])
            return
        _, index, items, returned, body, header, duration = message
        attempt = self.attempts.get(index, 1)
        status = "ok" if returned >= items else "partial"
        error = None if status == "ok" else f"run() returned {returned} of {items} items"
        if status == "partial":
            self.on_error(index, attempt, error or "")
        self._finish(Commit(index, status, items=items, returned=returned, attempts=attempt, duration=duration,
                            error=error, what=items_of(batch) if status != "ok" else None), body, header)

    def _on_worker_gone(self, worker: _Worker) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.proc.wait(timeout=5)
        code = worker.proc.returncode
        batch = worker.batch
        self._kill(worker)
        self._requeue_waiting(worker)
        if not worker.ready:
            raise _Abort("Failed", f"worker {worker.name} exited with {_signal_name(code)} before init() finished"
                                   f" (see logs/user/stderr/{worker.name}.stderr.txt)")
        if batch is not None:
            self._attempt_failed(batch, f"worker {worker.name} exited with {_signal_name(code)} while running "
                                        f"mini-batch {batch.index}", time.monotonic() - worker.started)
        self._spawn()

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.batch is not None and now > worker.deadline:
                batch = worker.batch
                self._kill(worker)
                self._requeue_waiting(worker)
                self._attempt_failed(batch, f"run() of mini-batch {batch.index} took longer than "
                                            f"retry_settings.timeout={self.settings.timeout:g}s; worker "
                                            f"{worker.name} was killed", now - worker.started)
                self._spawn()

    def _requeue_waiting(self, worker: _Worker) -> None:
        """Mini-batches sent to a lost worker behind the one it was running never started: no attempt used."""
        waiting = list(worker.queue)[1:]
        worker.queue.clear()
        self.pending.extendleft(reversed(waiting))

    def _dispatch(self) -> None:
        """Give idle workers a mini-batch; while plenty are left, a second one queued behind it, so a
        worker never waits for the driver between two mini-batches."""
        for depth in (1, 2):
            for worker in self.workers:
                if not self.pending or (depth == 2 and len(self.pending) <= len(self.workers)):
                    return
                if not worker.ready or len(worker.queue) >= depth:
                    continue
                batch = self.pending.popleft()
                if batch.index not in self.attempts:
                    self.attempts[batch.index] = 1
                    self.unscheduled_first_attempts -= 1
                    self.stats.scheduled += 1
                worker.queue.append(batch)
                if len(worker.queue) == 1:
                    worker.start_head(time.monotonic(), self.settings.timeout)
                    if self.stats.first_started is None:
                        self.stats.first_started = worker.started - self.stats.started
                with contextlib.suppress(OSError):  # a gone worker is reported by its pipe's EOF
                    worker.inbox.send(("run", *batch.message()))

    # -- loop ----------------------------------------------------------------------------------------
    def _start_partition(self, request: PartitionRequest) -> Connection:
        """Tables are read in a process of their own (pyarrow, no pandas, no DataFrame in the driver), started
        beside the workers, its mini-batches Arrow files; files, or in a job venv or container, in a thread."""
        if request.tabular and self.spec.amlrun_importable and self.spec.launcher is None:
            with contextlib.suppress(OSError):
                feed, self.partitioner = start_partitioner(
                    self.spec.python, self.spec.env, {**request.to_dict(), "arrow": True}, request.work_dir,
                    self.spec.logs.parent / "sys" / "partition.txt")
                return feed
        reader, writer = _feed_pipe()
        if request.tabular and (not self.spec.amlrun_importable or self.spec.launcher is not None):
            request = dataclasses.replace(request, portable=True)  # the workers' pandas is not ours

        def stream() -> None:
            with contextlib.suppress(OSError):
                stream_mini_batches(request, writer)
                writer.close()

        threading.Thread(target=stream, daemon=True).start()
        return reader

    def run(self, request: PartitionRequest) -> DriverResult:
        if fork_supported() and self.spec.launch is None and self.spec.launcher is None:
            with contextlib.suppress(OSError):
                self.zygote = Zygote(self.spec.python, self.spec.env, self.spec.config,
                                     self.spec.logs.parent / "sys" / "zygote.txt", self.spec.config["code_dir"])
        feed_r = self._start_partition(request)
        for _ in range(self.size):
            self._spawn()
        last_progress = 0.0
        try:
            while True:
                if self.cancel is not None and self.cancel.is_set():
                    raise _Abort("Canceled", "canceled")
                self._dispatch()
                busy = any(w.queue for w in self.workers)
                if self.partition_done and not self.pending and not busy:
                    self._flush()
                    break
                deadlines = [w.deadline for w in self.workers if w.batch is not None]
                timeout = 0.2 if not deadlines else max(0.0, min(min(deadlines) - time.monotonic(), 0.2))
                sources: list[Any] = [w.outbox for w in self.workers]
                if not self.partition_done:
                    sources.append(feed_r)
                for conn in wait(sources, timeout=timeout):
                    if conn is feed_r:
                        self._on_feed(feed_r)
                        continue
                    worker = next((w for w in self.workers if w.outbox is conn), None)
                    if worker is None:
                        continue
                    try:
                        while True:
                            self._on_message(worker, conn.recv())
                            if not conn.poll():
                                break
                    except (EOFError, OSError):
                        self._on_worker_gone(worker)
                self._dispatch()  # hand out work before the (fsyncing) commit
                self._flush_if_due()
                self._check_timeouts()
                now = time.monotonic()
                if now - last_progress > 0.5:
                    last_progress = now
                    self.on_progress(self.stats)
        except _Abort as abort:
            with contextlib.suppress(_Abort):
                self._flush()
            self._stop_all(graceful=False)
            return DriverResult(abort.status, abort.message, self.stats)
        except BaseException:
            self._stop_all(graceful=False)
            raise
        finally:
            feed_r.close()
            if self.partitioner is not None:
                if self.partitioner.poll() is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(self.partitioner.pid, signal.SIGKILL)
                self.partitioner.wait()
        self._stop_all(graceful=True)
        message = self._threshold_message()
        return DriverResult("Failed" if message else "Completed", message, self.stats)

    def _threshold_message(self) -> str | None:
        try:
            self._check_thresholds()
        except _Abort as abort:
            return abort.message
        return None

    def _on_feed(self, feed: Connection) -> None:
        try:
            chunk = feed.recv()
        except (EOFError, OSError):
            chunk = ("error", "the process reading the input ended early (see logs/sys/partition.txt)")
        if isinstance(chunk, tuple) and chunk[0] != "done":
            self.partition_done = True
            raise _Abort("Failed", f"could not split the input into mini-batches: {chunk[1]}")
        if isinstance(chunk, tuple):
            self.partition_done = True
            self.stats.partitioned = chunk[1] - self.stats.started
            self.stats.total = self.stats.skipped + len(self.attempts) + self.unscheduled_first_attempts
            self._check_thresholds()
            return
        for batch in chunk:
            if batch.index in self.finished_work:
                self.stats.skipped += 1
                continue
            self.pending.append(batch)
            self.unscheduled_first_attempts += 1


def _feed_pipe() -> tuple[Connection, Connection]:
    from multiprocessing import Pipe

    reader, writer = Pipe(duplex=False)
    return reader, writer


def drive(settings: ParallelSettings, spec: WorkerSpec, journal: Journal, request: PartitionRequest,
          workers: int, on_progress: Callable[[Stats], None], on_error: Callable[[int, int, str], None],
          cancel: threading.Event | None = None, started: float | None = None) -> DriverResult:
    """Run every mini-batch `journal` has not committed as succeeded; return the job's outcome.

    `started` (time.monotonic()) is when the step began, for the time-to-first-mini-batch figure.
    """
    return _Driver(settings, spec, journal, workers, on_progress, on_error, cancel, started).run(request)


def items_of(batch: MiniBatch, limit: int = 20) -> list[str]:
    """What a mini-batch held, short enough for a journal line: files as `folder/name`, a partition's
    key values, or a table's row count."""
    if batch.files:
        shown = ["/".join(Path(f).parts[-2:]) for f in batch.files[:limit]]
        return shown + ([f"... {len(batch.files) - limit} more"] if len(batch.files) > limit else [])
    if batch.partition_key_value:
        return [", ".join(f"{k}={v}" for k, v in batch.partition_key_value.items())]
    return [f"{batch.items} rows"]
