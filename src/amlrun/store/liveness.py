"""Is the amlrun process that owns a run still alive? If not, finish its record and kill what it left.

An amlrun killed hard (SIGKILL, OOM, a closed laptop lid on a remote shell) cannot record anything.
Its steps die with it (PR_SET_PDEATHSIG, engine.process), but what a step started in turn may live on
in the step's process group. Each run records its owner (pid and start time, so a reused pid is not
mistaken for it) and each running step its process group (`process.json` in the step's folder). Any
command that reads the index then calls `reap_orphans`: a run whose owner is gone has its surviving
groups killed, and it and its unfinished steps become `Failed` with `orphaned` set.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from amlrun.errors import RunError
from amlrun.store.records import TERMINAL_STATES, RunRecord, RunStore
from amlrun.store.steps import descendants

__all__ = ["GROUP_FILE", "ORPHANED", "is_orphaned", "owner_fields", "reap_orphans", "write_group_file"]

GROUP_FILE = "process.json"
ORPHANED = "orphaned: the amlrun process running it died (killed?) before it finished"


def _started(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks since boot), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""  # alive, no /proc to tell a reused pid apart
    return stat.rsplit(")", 1)[1].split()[19]


def owner_fields() -> dict[str, Any]:
    """What a run record keeps about the process running it."""
    return {"pid": os.getpid(), "pid_start": _started(os.getpid())}


def write_group_file(path: Path, pgid: int) -> None:
    """Record a step's process group (its leader's pid and start time) for `reap_orphans`."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pgid": pgid, "start": _started(pgid), "owner": os.getpid()}))


def _alive(pid: Any, start: Any) -> bool:
    if not isinstance(pid, int):
        return True  # nothing recorded: never guess a run dead
    now = _started(pid)
    return now is not None and (not start or not now or now == start)


def is_orphaned(record: RunRecord) -> bool:
    """True when the run is unfinished but the amlrun process that ran it is gone."""
    return record.status not in TERMINAL_STATES and not _alive(record.extra.get("pid"), record.extra.get("pid_start"))


def _kill_group(run_dir: str) -> bool:
    """SIGKILL the step's process group if any of it survives; True when something was killed."""
    try:
        info = json.loads((Path(run_dir) / GROUP_FILE).read_text())
    except (OSError, ValueError):
        return False
    pgid, start = info.get("pgid"), info.get("start")
    if not isinstance(pgid, int) or pgid <= 1:
        return False
    leader = _started(pgid)
    if leader is not None and start and leader and leader != start:
        return False  # the leader's pid was reused by another process: not ours
    try:  # (a group id is never reused while any member lives, so a group without its leader is still ours)
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def reap_orphans(store: RunStore) -> list[str]:
    """Finish the records of runs whose amlrun died, killing their surviving step groups first; their names."""
    reaped = []
    for record in store.unfinished():
        if not is_orphaned(record):
            continue
        steps = descendants(store, record.name)
        killed = any([_kill_group(r.run_dir) for r in [record, *steps] if r.status not in TERMINAL_STATES])
        if killed:
            time.sleep(0.05)  # let the kernel deliver the kills before anyone resumes into the folders
        now = time.time()
        try:
            for r in [*steps, record]:
                if r.status not in TERMINAL_STATES:
                    store.update(r, status="Failed", ended=now, error=ORPHANED, extra={**r.extra, "orphaned": True})
        except RunError:
            continue  # a read-only store: shown as orphaned, recorded by the next writable command
        reaped.append(record.name)
    return reaped
