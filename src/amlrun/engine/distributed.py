"""Distributed command jobs: `distribution: {type: pytorch | tensorflow | mpi}` as local processes.

The service starts `resources.instance_count` x `process_count_per_instance` copies of the command
(TensorFlow: one per `worker_count` worker and `parameter_server_count` parameter server) and gives
each the variables of its launcher:

- pytorch: `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE` (all processes), `RANK`, `LOCAL_RANK`,
  `NODE_RANK`, so `torch.distributed.init_process_group(init_method="env://")` works;
- mpi: launched through Open MPI's `mpirun` when it is installed (engine.mpirun), so `MPI_Init` works;
  otherwise amlrun starts the processes itself with the `OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,
  LOCAL_SIZE,NODE_RANK}` mpirun would set (and says so). Scripts reach the first node through
  `AZ_BATCH_MASTER_NODE` (`<addr>:<port>`) and `AZ_BATCHAI_MPI_MASTER_NODE`;
- tensorflow: `TF_CONFIG` (cluster of `worker` and `ps` addresses, this process's task).

Locally every "node" is this machine (`127.0.0.1`, free ports). Each process logs to
`user_logs/std_log_process_<rank>.txt` (TensorFlow: `std_log_node_<index>_<worker|ps>.txt`), as the
service names them; `user_logs/std_log.txt` gets every line prefixed with its process, for `amlrun logs`.
When one process fails, the others are stopped and the job fails naming it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.engine.events import Reporter
from amlrun.engine.mpirun import find_mpirun, run_mpirun
from amlrun.engine.process import ProcessResult, run_shell
from amlrun.errors import RunError

__all__ = ["Launch", "plan_launches", "run_distributed"]

HOST = "127.0.0.1"
KNOWN_TYPES = ("pytorch", "tensorflow", "mpi")


@dataclass(frozen=True)
class Launch:
    """One process of a distributed job: what it is called, where it logs, what it is told."""

    label: str  # "rank 1", "worker 0"
    log_name: str
    env: dict[str, str]
    kind: str = ""  # the distribution type


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _count(distribution: dict[str, Any], key: str, default: int) -> int:
    value = distribution.get(key)
    try:
        count = default if value is None else int(value)
    except (TypeError, ValueError):
        raise RunError(f"distribution.{key} is {value!r}, not a whole number",
                       hint=f"set distribution.{key} to the number of processes") from None
    if count < 0 or (count == 0 and key != "parameter_server_count"):
        raise RunError(f"distribution.{key} is {count}", hint="use a positive number")
    return count


def plan_launches(distribution: dict[str, Any] | None, instance_count: int | None) -> list[Launch] | None:
    """The processes a distributed job starts, or None for an ordinary (one-process) job."""
    if not distribution:
        return None
    kind = str(distribution.get("type") or "").lower()
    nodes = max(1, int(instance_count or 1))
    if kind not in KNOWN_TYPES:
        raise RunError(f"distribution type {distribution.get('type')!r} cannot run locally",
                       hint=f"use one of {', '.join(KNOWN_TYPES)}, or drop `distribution:` to run one process")
    if kind == "tensorflow":
        return _tensorflow(_count(distribution, "worker_count", nodes),
                           _count(distribution, "parameter_server_count", 0))
    per_node = _count(distribution, "process_count_per_instance", 1)
    world = nodes * per_node
    port = _free_port()
    launches = []
    for rank in range(world):
        node, local = divmod(rank, per_node)
        master = {"AZ_BATCH_MASTER_NODE": f"{HOST}:{port}", "AZ_BATCHAI_MPI_MASTER_NODE": HOST}
        if kind == "pytorch":
            env = {"MASTER_ADDR": HOST, "MASTER_PORT": str(port), "WORLD_SIZE": str(world), "RANK": str(rank),
                   "LOCAL_RANK": str(local), "NODE_RANK": str(node), **master}
        else:
            env = {"OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": str(world),
                   "OMPI_COMM_WORLD_LOCAL_RANK": str(local), "OMPI_COMM_WORLD_LOCAL_SIZE": str(per_node),
                   "OMPI_COMM_WORLD_NODE_RANK": str(local), **master}  # Open MPI's: not the node's index
        launches.append(Launch(f"rank {rank}", f"std_log_process_{rank:02d}.txt", env, kind))
    return launches


def _tensorflow(workers: int, parameter_servers: int) -> list[Launch]:
    roles = [("worker", i) for i in range(workers)] + [("ps", i) for i in range(parameter_servers)]
    addresses = {role: [f"{HOST}:{_free_port()}" for r, _ in roles if r == role] for role in ("worker", "ps")}
    cluster = {role: hosts for role, hosts in addresses.items() if hosts}
    return [Launch(f"{role} {index}", f"std_log_node_{index:02d}_{role}.txt",
                   {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": role, "index": index},
                                             "environment": "cloud"})})
            for role, index in roles]


class _Prefixed(Reporter):
    """One process's output: to the terminal and to the combined std_log.txt, marked with the process."""

    def __init__(self, inner: Reporter, label: str, combined: Any, lock: threading.Lock) -> None:
        self.inner, self.label, self.combined, self.lock = inner, label, combined, lock

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:
        self.inner.event(kind, step, **data)

    def log_line(self, step: str | None, line: str) -> None:
        text = f"[{self.label}] {line}"
        with self.lock, contextlib.suppress(OSError):
            self.combined.write(text.encode("utf-8", errors="replace"))
        self.inner.log_line(step, text)


def run_distributed(command: str, cwd: Path, env: dict[str, str], logs: Path, launches: list[Launch],
                    reporter: Reporter, step: str | None, timeout: float | None,
                    cancel: threading.Event | None,
                    argv_for: Callable[[dict[str, str]], list[str]] | None = None) -> tuple[ProcessResult, str | None]:
    """Start every process; stop the rest when one fails. Returns the job's result and why it failed.

    `argv_for` turns one process's environment into the engine command running it in a container."""
    if launches[0].kind == "mpi":
        mpirun = find_mpirun(env) if argv_for is None else None
        if mpirun is not None:
            master = {k: v for k, v in launches[0].env.items() if k.startswith("AZ_")}
            return run_mpirun(mpirun, command, cwd, {**env, **master}, logs, [launch.log_name for launch in launches],
                              reporter, step, timeout, cancel)
        where = "the job runs in a container: amlrun" if argv_for is not None else \
            "mpirun (Open MPI) is not installed here: amlrun"
        reporter.event("note", step, message=f"{where} starts the {len(launches)} MPI processes itself with the "
                       "OMPI_COMM_WORLD_* variables mpirun sets; MPI_Init in each sees a world of one process")
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()  # set by the first failure or by the caller's cancel
    results: dict[int, ProcessResult] = {}
    failed: list[int] = []  # in the order processes failed
    lock = threading.Lock()
    started = time.monotonic()

    def one(index: int, launch: Launch, combined: Any) -> None:
        process_env = {**env, **launch.env}
        argv = argv_for(process_env) if argv_for is not None else None
        result = run_shell(command, cwd, process_env, logs / launch.log_name,
                           _Prefixed(reporter, launch.label, combined, lock), step, timeout=timeout, cancel=stop,
                           argv=argv)
        with lock:
            results[index] = result
            if (result.exit_code != 0 or result.timed_out) and not result.canceled:
                failed.append(index)
                stop.set()

    def relay_cancel() -> None:
        while not stop.wait(0.1):
            if cancel is not None and cancel.is_set():
                stop.set()

    with open(logs / "std_log.txt", "ab", buffering=0) as combined:
        threads = [threading.Thread(target=one, args=(i, launch, combined), name=f"dist-{i}", daemon=True)
                   for i, launch in enumerate(launches)]
        relay = threading.Thread(target=relay_cancel, daemon=True)
        relay.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        relay.join()
    duration = time.monotonic() - started
    canceled = cancel is not None and cancel.is_set() and not failed
    if failed:
        first = failed[0]
        result = results[first]
        stopped = [launches[i].label for i, r in sorted(results.items()) if r.canceled]
        reason = (f"{launches[first].label} timed out after limits.timeout={timeout:g}s" if result.timed_out
                  else f"{launches[first].label} exited with code {result.exit_code}")
        reason += f" (log: user_logs/{launches[first].log_name})"
        if stopped:
            reason += f"; stopped the other process{'es' if len(stopped) > 1 else ''}: {', '.join(stopped)}"
        return ProcessResult(result.exit_code, result.timed_out, False, duration), reason
    return ProcessResult(130 if canceled else 0, False, canceled, duration), None
