"""`amlrun resume RUN`: finish an earlier run in place, redoing only what did not succeed."""

from __future__ import annotations

import threading
from pathlib import Path

from amlrun.engine.events import PlainReporter, Reporter
from amlrun.errors import RunError
from amlrun.store.records import RunRecord, RunStore, find_store_root

__all__ = ["mini_batches_left", "resume_run"]


def resume_run(name: str, store_root: Path | None = None, max_parallel: int | None = None,
               max_workers: int | None = None, reporter: Reporter | None = None,
               cancel: threading.Event | None = None) -> RunRecord:
    """Continue run `name` under the same name and folders.

    Pipelines rerun the steps that failed, were skipped or canceled, reusing finished ones;
    parallel jobs rerun only the mini-batches that did not succeed, also as steps of a pipeline.
    """
    store = RunStore(store_root or find_store_root())
    record = store.get(name)
    if record.status == "Completed" and not _work_left(record, store):
        raise RunError(f"run {record.name} already completed; nothing to resume",
                       hint="use `amlrun run` to run the job again")
    if record.parent is not None:
        raise RunError(f"{record.name} is a step of run {record.parent}",
                       hint=f"resume the pipeline: `amlrun resume {record.parent}`")
    reporter = reporter or PlainReporter(prefix_steps=record.type == "pipeline")
    if record.type == "pipeline":
        from amlrun.engine.pipeline import resume_pipeline_job

        return resume_pipeline_job(record, store, reporter, cancel, max_parallel=max_parallel,
                                   max_workers=max_workers)
    if record.type == "parallel":
        from amlrun.engine.parallel import resume_parallel_job

        return resume_parallel_job(record, store, reporter, cancel, max_workers=max_workers)
    raise RunError(f"run {record.name} is a {record.type} job, which has nothing to resume partially",
                   hint=f"run it again: `amlrun run {record.spec_path}`")


def mini_batches_left(record: RunRecord) -> int:
    """Failed mini-batches of a parallel run or step that still Completed (within its error thresholds).

    The one rule for both standalone jobs and pipeline steps of what `amlrun resume` still has to do.
    """
    if record.type != "parallel" or record.status != "Completed":
        return 0
    counts = record.extra.get("parallel")
    return int((counts or {}).get("failed") or 0)


def _work_left(record: RunRecord, store: RunStore) -> bool:
    """Whether a Completed run still has failed mini-batches: its own, or those of its parallel steps."""
    if record.type == "pipeline":
        from amlrun.engine.pipeline import descendants

        return any(mini_batches_left(step) for step in descendants(store, record.name))
    return mini_batches_left(record) > 0
