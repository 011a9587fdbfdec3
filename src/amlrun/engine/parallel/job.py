"""A standalone `type: parallel` job file: one record, one parallel step run in the job's own folder.

(The service runs parallel jobs only inside pipelines; `amlrun submit` wraps a standalone file into a
one-step pipeline. Locally the job runs directly.)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext
from amlrun.engine.command_step import announce_environment
from amlrun.engine.events import Reporter, report_outputs
from amlrun.engine.parallel.plan import plan_parallel_step
from amlrun.engine.parallel.step import run_parallel_step
from amlrun.engine.parallel.unfinished import mini_batches_left
from amlrun.engine.planner import env_choice
from amlrun.engine.tracking import open_tracking, start_step_tracking, step_params, step_tags, tracking_extra
from amlrun.errors import RunError
from amlrun.spec.loader import Node, load_job
from amlrun.spec.validate import validate_node
from amlrun.store.liveness import owner_fields
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.spec_copy import write_spec_copy

__all__ = ["resume", "resume_parallel_job", "run_parallel_job", "work_left"]


def _execute(node: Node, record: RunRecord, store: RunStore, data: DataContext, reporter: Reporter,
             cancel: threading.Event | None, max_workers: int | None, debug: Any = None) -> RunRecord:
    run_dir = Path(record.run_dir)
    plan = plan_parallel_step(node, data, record.name, run_dir, envs=env_choice(
        data, record.extra.get("env_mode"), bool(record.extra.get("strict_python"))))
    plan.debug = debug
    record.extra["environment"] = plan.environment.label
    announce_environment(reporter, plan)
    store.update(record, status="Running", started=record.started or time.time(), ended=None, error=None)
    tracking = open_tracking(node, Path(record.spec_path or run_dir), data, reporter)
    try:
        tracking.add_run(record.name, None, step_tags(plan), step_params(plan),
                         run_id=record.extra.get("mlflow_run_id"))
        start_step_tracking(tracking, plan, record.name)
        outcome = run_parallel_step(plan, reporter, cancel, max_workers=max_workers)
        tracking.end_run(record.name, outcome.status, record.started)
    except KeyboardInterrupt:
        store.update(record, status="Canceled", ended=time.time(), error="interrupted")
        tracking.end_run(record.name, "Canceled", record.started)
        raise
    finally:
        record.extra.update(tracking_extra(tracking, tracking.close(), record.name))
    store.update(record, status=outcome.status, ended=time.time(), exit_code=outcome.exit_code,
                 error=outcome.error, extra={**record.extra, **outcome.extra})
    counts = outcome.extra.get("parallel") or {}
    detail = (f": {counts.get('succeeded', 0)}/{counts.get('mini_batches', 0)} mini-batches succeeded, "
              f"{counts.get('items_failed', 0)} items failed") if counts else ""
    if outcome.status == "Completed":
        report_outputs(reporter, outcome.extra.get("outputs") or {}, outcome.extra.get("append_row_file"))
    reporter.event("finished", message=f"run {record.name} {outcome.status}{detail}"
                   + (f" ({outcome.error})" if outcome.error else f" in {outcome.duration:.1f}s"))
    return record


def run_parallel_job(node: Node, request: Any, store: RunStore, data: DataContext, name: str, reporter: Reporter,
                     cancel: threading.Event | None) -> RunRecord:
    """`amlrun run parallel.yml`: a new run record, then the parallel step in the run's folder."""
    run_dir = store.run_dir(name)
    record = RunRecord(name=name, type="parallel", status="Preparing", run_dir=str(run_dir),
                       spec_path=str(Path(request.file).resolve()),
                       extra={"overrides": [list(o) for o in request.overrides], **request.recorded_source(), **owner_fields(),
                              "env_mode": request.env, "strict_python": request.strict_python})
    write_spec_copy(node, run_dir)
    store.save(record)
    return _execute(node, record, store, data, reporter, cancel, request.max_workers, request.debug)


def resume_parallel_job(record: RunRecord, store: RunStore, reporter: Reporter, cancel: threading.Event | None,
                        max_workers: int | None = None) -> RunRecord:
    """`amlrun resume RUN`: the same plan in the same folder; only unfinished mini-batches run."""
    if not record.spec_path or not Path(record.spec_path).is_file():
        raise RunError(f"the job file of run {record.name} ({record.spec_path}) is gone",
                       hint="restore it, or run the job again with `amlrun run`")
    overrides = [(str(k), v) for k, v in record.extra.get("overrides", [])]
    node = load_job(record.spec_path, overrides)
    validate_node(node)
    reporter.event("resume", message=f"resuming parallel run {record.name}")
    return _execute(node, record, store, DataContext.for_project(store.root, Path(record.spec_path)), reporter, cancel, max_workers)


def work_left(record: RunRecord, store: RunStore) -> bool:
    """Whether a Completed parallel run still has mini-batches for `amlrun resume` (failed, or with failed items)."""
    return mini_batches_left(record) > 0


def resume(record: RunRecord, store: RunStore, reporter: Reporter, cancel: threading.Event | None,
           max_parallel: int | None = None, max_workers: int | None = None) -> RunRecord:
    """`amlrun resume` of a standalone parallel job (`max_parallel` is for pipelines)."""
    return resume_parallel_job(record, store, reporter, cancel, max_workers=max_workers)
