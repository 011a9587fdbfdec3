"""The entry point for running a job file locally: load, plan, execute, record."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from amlrun.data.locations import DataContext
from amlrun.engine.command_step import run_command_step
from amlrun.engine.events import PlainReporter, Reporter, report_outputs
from amlrun.engine.naming import check_run_name, new_run_name
from amlrun.engine.planner import plan_command_like
from amlrun.engine.process import cancel_on_interrupt
from amlrun.errors import RunError, UsageError
from amlrun.spec.check import load_checked_job
from amlrun.spec.loader import Node
from amlrun.spec.overrides import Override
from amlrun.store.records import RunRecord, RunStore, find_store_root

__all__ = ["RunRequest", "run_job"]


@dataclass
class RunRequest:
    """What `amlrun run` was asked to do, as a value."""

    file: Path
    overrides: list[Override] = field(default_factory=list)
    name: str | None = None
    store_root: Path | None = None
    max_parallel: int | None = None
    max_workers: int | None = None
    force_rerun: bool = False
    step: str | None = None
    dry_run: bool = False


def open_store(root: Path | None, near: Path | None = None) -> RunStore:
    return RunStore(root or find_store_root(near))


def run_job(request: RunRequest, reporter: Reporter | None = None,
            cancel: threading.Event | None = None) -> RunRecord:
    """Run a job file to a terminal state and return its record (Failed is a result, not an error)."""
    node = load_checked_job(request.file, request.overrides)  # every problem at once, as `check` lists them
    if request.step and node.kind != "pipeline":
        raise UsageError(f"--step names a step of a pipeline, but {request.file.name} is a {node.kind} job",
                         hint=f"drop --step: `amlrun run {request.file}` runs the whole job")
    store = open_store(request.store_root, request.file.parent)
    name = check_run_name(request.name) if request.name else new_run_name()
    if store.exists(name):
        raise UsageError(f"a run named {name!r} already exists", hint="choose another --name or omit it")
    reporter = reporter or PlainReporter(prefix_steps=node.kind == "pipeline")
    if request.store_root is None and find_store_root(Path.cwd()) != store.root:
        reporter.event("note", message=f"this run is kept in {store.root} (the job file's project), not in this "
                       f"folder's: to see it from here, `amlrun show {name} --store {store.root}`")
    data = DataContext.for_project(store.root, request.file)
    if node.kind == "command":
        return _run_command_job(node, request, store, data, name, reporter, cancel)
    if node.kind == "pipeline":
        from amlrun.engine.pipeline import run_pipeline_job

        return run_pipeline_job(node, request, store, data, name, reporter, cancel)
    if node.kind == "parallel":
        from amlrun.engine.parallel import run_parallel_job

        return run_parallel_job(node, request, store, data, name, reporter, cancel)
    raise RunError(f"cannot run a job of type {node.kind!r} locally")


def write_spec_copy(node: Node, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 5x faster
    (run_dir / "spec.yml").write_text(yaml.dump(node.source.data, Dumper=dumper, sort_keys=False))


def _run_command_job(node: Node, request: RunRequest, store: RunStore, data: DataContext, name: str,
                     reporter: Reporter, cancel: threading.Event | None) -> RunRecord:
    run_dir = store.run_dir(name)
    plan = plan_command_like(node, data, name, run_dir)
    record = RunRecord(name=name, type="command", status="Preparing", run_dir=str(run_dir),
                       spec_path=str(request.file.resolve()),
                       extra={"overrides": [f"{k}={v}" for k, v in request.overrides], "pid": os.getpid()})
    store.create(record)  # fails if another run took the name meanwhile
    write_spec_copy(node, run_dir)
    reporter.event("environment", message=f"environment: {plan.environment.description}")
    reporter.event("started", message=f"run {name} started (logs: {run_dir / 'user_logs' / 'std_log.txt'})")
    store.update(record, status="Running", started=time.time())
    cancel = cancel or threading.Event()
    with cancel_on_interrupt(cancel):  # Ctrl-C / SIGTERM: kill the job's process group, record Canceled
        outcome = run_command_step(plan, reporter, cancel)
    store.update(record, status=outcome.status, ended=time.time(), exit_code=outcome.exit_code,
                 error=outcome.error, extra={
                     **record.extra,
                     "command": (run_dir / "command.sh").read_text().strip() if (run_dir / "command.sh").exists()
                     else None,
                     "outputs": {k: str(o.location.local_path or o.location.uri) for k, o in plan.outputs.items()},
                     **outcome.extra,
                 })
    if outcome.status == "Completed":
        report_outputs(reporter, record.extra["outputs"])
    reporter.event("finished", message=f"run {name} {outcome.status}"
                   + (f": {outcome.error}" if outcome.error else f" in {outcome.duration:.1f}s"))
    return record
