"""`amlrun resume RUN`: finish an earlier run in place, redoing only what did not succeed.

Each runner that can continue a run says what is left (`work_left`) and resumes it (`resume`):
pipelines (`pipeline.py`) and standalone parallel jobs (`parallel/job.py`).
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from amlrun.engine.events import PlainReporter, Reporter
from amlrun.errors import RunError
from amlrun.store.liveness import owner_fields, reap_orphans
from amlrun.store.records import TERMINAL_STATES, RunRecord, RunStore

__all__ = ["resume_run"]

_RUNNERS = {"pipeline": "amlrun.engine.pipeline", "parallel": "amlrun.engine.parallel.job"}


def resume_run(name: str, store_root: Path | None = None, max_parallel: int | None = None,
               max_workers: int | None = None, reporter: Reporter | None = None,
               cancel: threading.Event | None = None) -> RunRecord:
    """Continue run `name` under the same name and folders.

    Pipelines rerun the steps that failed, were skipped or canceled, reusing finished ones;
    parallel jobs rerun only the mini-batches that did not succeed, also as steps of a pipeline.
    """
    from amlrun.store.run_index import resolve_run_store

    store = RunStore(resolve_run_store(store_root, name))
    reap_orphans(store)  # a run whose amlrun died: its surviving processes are killed before anything reruns
    record = store.get(name)
    if record.status not in TERMINAL_STATES:
        raise RunError(f"run {record.name} is still {record.status} (amlrun process {record.extra.get('pid')})",
                       hint=f"wait for it (`amlrun logs {record.name} -f`), or stop that process first")
    runner = importlib.import_module(_RUNNERS[record.type]) if record.type in _RUNNERS else None
    if record.status == "Completed" and not (runner and runner.work_left(record, store)):
        raise RunError(f"run {record.name} already completed; nothing to resume",
                       hint="use `amlrun run` to run the job again")
    if record.parent is not None:
        raise RunError(f"{record.name} is a step of run {record.parent}",
                       hint=f"resume the pipeline: `amlrun resume {record.parent}`")
    if runner is None:
        raise RunError(f"run {record.name} is a {record.type} job, which has nothing to resume partially",
                       hint=f"run it again: `amlrun run {record.spec_path}`")
    reporter = reporter or PlainReporter(prefix_steps=record.type == "pipeline")
    store.update(record, extra={**record.extra, **owner_fields(), "orphaned": False})  # this process owns it now
    return runner.resume(record, store, reporter, cancel, max_parallel=max_parallel, max_workers=max_workers)
