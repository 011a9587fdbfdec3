"""MPI jobs launched through Open MPI's `mpirun`, as the service does, when it is installed here.

AzureML builds the `mpirun` command itself (users cannot give their own) and runs the job's command
in every process; Open MPI sets `OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE,NODE_RANK}` and
`MPI_Init` finds its peers, so `mpi4py` and Horovod scripts work. The service adds
`AZ_BATCH_MASTER_NODE` (`<addr>:<port>`) and `AZ_BATCHAI_MPI_MASTER_NODE`.

Locally all processes run on this machine, so the `LOCAL_*` variables describe one node holding every
process (the service gives each instance its own). `mpirun --tag-output` marks each line with its rank:
amlrun splits the stream into `user_logs/std_log_process_<rank>.txt`, as for other distributed jobs,
and `user_logs/std_log.txt` gets every line prefixed with its process. When a process fails, mpirun
stops the others and exits with its code; the job fails naming that rank.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from amlrun.engine.events import Reporter
from amlrun.engine.process import ProcessResult, command_argv, pdeathsig_prefix, run_shell

__all__ = ["find_mpirun", "run_mpirun"]

_TAG = re.compile(r"^\[\d+,(\d+)\]<(?:stdout|stderr)>:")
_FAILED_RANK = re.compile(r"Process name:\s*\[\[\d+,\d+\],(\d+)\]")
_SIGNALED_RANK = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)")


def find_mpirun(env: dict[str, str]) -> str | None:
    """Open MPI's `mpirun` on the job's PATH, or None (absent, or another MPI whose flags differ)."""
    found = shutil.which("mpirun", path=env.get("PATH"))
    return found if found and _is_open_mpi(os.path.realpath(found)) else None


@functools.cache
def _is_open_mpi(path: str) -> bool:
    try:
        probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in probe.stdout + probe.stderr or "OpenRTE" in probe.stdout + probe.stderr


def mpirun_argv(mpirun: str, processes: int, command: str, env: dict[str, str]) -> list[str]:
    """One mpirun starting `processes` copies of the command, on however few cores there are.

    mpirun puts each process in a process group of its own, beyond amlrun's clean-up of a killed run.
    So, where util-linux's `setpriv` exists: mpirun gets SIGTERM (not the SIGKILL amlrun's children get)
    when amlrun dies, and stops its processes; and each process gets SIGKILL if mpirun dies first."""
    return [*pdeathsig_prefix("TERM"), mpirun, "--oversubscribe", "--bind-to", "none", "--tag-output",
            "-np", str(processes), *pdeathsig_prefix("KILL"), *command_argv(command, env)]


class _RankLogs(Reporter):
    """mpirun's tagged stream, split per rank; mpirun's own lines go to the combined log as `[mpirun]`."""

    def __init__(self, inner: Reporter, logs: Path, combined: IO[bytes], log_name: dict[int, str]) -> None:
        self.inner, self.logs, self.combined, self.log_name = inner, logs, combined, log_name
        self.files: dict[int, IO[bytes]] = {}
        self.untagged: list[str] = []
        self.lock = threading.Lock()

    def event(self, kind: str, step: str | None = None, **data: Any) -> None:
        self.inner.event(kind, step, **data)

    def log_line(self, step: str | None, line: str) -> None:
        match = _TAG.match(line)
        text = line[match.end():] if match else line
        label = f"rank {match[1]}" if match else "mpirun"
        with self.lock, contextlib.suppress(OSError):
            if match:
                rank = int(match[1])
                if rank not in self.files:
                    self.files[rank] = open(self.logs / self.log_name.get(rank, f"std_log_process_{rank:02d}.txt"),  # noqa: SIM115
                                            "ab", buffering=0)
                self.files[rank].write(text.encode("utf-8", errors="replace"))
            else:
                self.untagged.append(line)
            self.combined.write(f"[{label}] {text}".encode("utf-8", errors="replace"))
        self.inner.log_line(step, f"[{label}] {text}")

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def run_mpirun(mpirun: str, command: str, cwd: Path, env: dict[str, str], logs: Path, log_names: list[str],
               reporter: Reporter, step: str | None, timeout: float | None,
               cancel: threading.Event | None) -> tuple[ProcessResult, str | None]:
    """Run the command in `len(log_names)` MPI processes. Returns the job's result and why it failed."""
    logs.mkdir(parents=True, exist_ok=True)
    argv = mpirun_argv(mpirun, len(log_names), command, env)
    with tempfile.TemporaryDirectory(prefix="amlrun-mpi-") as session, \
            open(logs / "std_log.txt", "ab", buffering=0) as combined:
        # as root (containers, CI) Open MPI refuses to start unless told twice that this is wanted; a session
        # folder of its own, as Open MPI's shared one in /tmp can be removed by another job's mpirun ending
        mpi_env = {**env, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                   "OMPI_MCA_orte_tmpdir_base": session, "PRTE_MCA_prte_tmpdir_base": session}
        ranks = _RankLogs(reporter, logs, combined, dict(enumerate(log_names)))
        try:
            result = run_shell(command, cwd, mpi_env, Path(os.devnull), ranks, step, timeout=timeout, cancel=cancel,
                               argv=argv)
        finally:
            ranks.close()
        if result.timed_out:
            combined.write(f"\n[amlrun] killed: exceeded limits.timeout of {timeout:g}s\n".encode())
    if result.canceled or (result.exit_code == 0 and not result.timed_out):
        return result, None
    return result, _failure(result, ranks.untagged, log_names, timeout)


def _failure(result: ProcessResult, mpirun_lines: list[str], log_names: list[str], timeout: float | None) -> str:
    if result.timed_out:
        return f"timed out after limits.timeout={timeout:g}s; mpirun stopped every process"
    text = "".join(mpirun_lines)
    failed, signaled = _FAILED_RANK.search(text), _SIGNALED_RANK.search(text)
    if failed:
        code = re.search(r"Exit code:\s*(-?\d+)", text[failed.end():])
        rank, how = int(failed[1]), f"exited with code {code[1] if code else result.exit_code}"
    elif signaled:
        rank, how = int(signaled[1]), f"was killed by signal {signaled[2]}"
    else:
        last = next((ln.strip() for ln in reversed(mpirun_lines) if ln.strip().strip("-")), "")
        return f"mpirun exited with code {result.exit_code}" + (f": {last}" if last else "")
    log = log_names[rank] if rank < len(log_names) else f"std_log_process_{rank:02d}.txt"
    return f"rank {rank} {how} (log: user_logs/{log})"
