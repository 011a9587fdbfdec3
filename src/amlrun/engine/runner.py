"""The entry point for running a job file locally: load, check, name the run, hand it to its runner.

    command_job.py     command jobs
    pipeline.py        pipeline jobs (pipeline_loop.py schedules, pipeline_step.py runs one step)
    parallel/job.py    standalone parallel jobs
Pipeline and parallel runners load only when a job of their kind runs.
"""

from __future__ import annotations

import threading
from pathlib import Path

from amlrun.engine.events import PlainReporter, Reporter
from amlrun.engine.naming import check_run_name, new_run_name
from amlrun.engine.pipeline_reused import cacheable, run_reused, store_root_of
from amlrun.engine.plan_cache import PlanWatch, entry_key
from amlrun.engine.request import RunRequest
from amlrun.errors import RunError, UsageError
from amlrun.store.records import RunRecord, RunStore, find_store_root

__all__ = ["RunRequest", "run_job"]


def open_store(root: Path | None, near: Path | None = None) -> RunStore:
    return RunStore(root or find_store_root(near))


def run_job(request: RunRequest, reporter: Reporter | None = None,
            cancel: threading.Event | None = None) -> RunRecord:
    """Run a job file to a terminal state and return its record (Failed is a result, not an error)."""
    if cacheable(request):  # an unchanged pipeline whose steps are all reused: from its cached plan
        record = run_reused(request, reporter)
        if record is not None:
            return record
        request.plan_watch = PlanWatch(entry_key(request, store_root_of(request))).start()
    try:
        return _run_planned(request, reporter, cancel)
    finally:
        if request.plan_watch is not None:
            request.plan_watch.stop(keep=False)  # (a pipeline stopped it once planned)


def _run_planned(request: RunRequest, reporter: Reporter | None, cancel: threading.Event | None) -> RunRecord:
    from amlrun.data.locations import DataContext
    from amlrun.engine.cloud_only import runnable_tree
    from amlrun.spec.check import load_checked_job

    node = load_checked_job(request.file, request.overrides)  # every problem at once, as `check` lists them
    if request.plan_watch is not None and node.kind != "pipeline":
        request.plan_watch.stop(keep=False)  # only pipelines keep plans
    node = runnable_tree(node, request.step, str(request.file))  # cloud-only steps: refused up front
    if request.step and node.kind != "pipeline":
        raise UsageError(f"--step names a step of a pipeline, but {request.file.name} is a {node.kind} job",
                         hint=f"drop --step: `amlrun run {request.file}` runs the whole job")
    near = request.origin or request.file  # a dumped SDK job: its Python's project
    store = open_store(request.store_root, near.parent)
    name = check_run_name(request.name) if request.name else new_run_name()
    if store.exists(name):
        raise UsageError(f"a run named {name!r} already exists", hint="choose another --name or omit it")
    reporter = reporter or PlainReporter(prefix_steps=node.kind == "pipeline")
    if request.store_root is None and find_store_root(Path.cwd()) != store.root:
        reporter.event("note", message=f"this run is kept in {store.root} (the job file's project), not in this "
                       f"folder's; `amlrun show {name}` finds it from any folder")
    data = DataContext.for_project(store.root, near)
    if node.kind == "command":
        from amlrun.engine.command_job import run_command_job

        return run_command_job(node, request, store, data, name, reporter, cancel)
    if node.kind == "pipeline":
        from amlrun.engine.pipeline import run_pipeline_job

        return run_pipeline_job(node, request, store, data, name, reporter, cancel)
    if node.kind == "parallel":
        from amlrun.engine.parallel.job import run_parallel_job

        return run_parallel_job(node, request, store, data, name, reporter, cancel)
    raise RunError(f"cannot run a job of type {node.kind!r} locally")
