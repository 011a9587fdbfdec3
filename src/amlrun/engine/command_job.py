"""A standalone `type: command` job file: one record, one command step in the run's folder."""

from __future__ import annotations

import threading
import time

from amlrun.data.locations import DataContext
from amlrun.engine.command_step import announce_environment, run_command_step
from amlrun.engine.events import Reporter, report_outputs
from amlrun.engine.planner import env_choice, plan_command_like
from amlrun.engine.process import cancel_on_interrupt
from amlrun.engine.request import RunRequest
from amlrun.engine.tracking import open_tracking, start_step_tracking, step_params, step_tags, tracking_extra
from amlrun.spec.node import Node
from amlrun.store.liveness import owner_fields
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.spec_copy import write_spec_copy

__all__ = ["run_command_job"]


def run_command_job(node: Node, request: RunRequest, store: RunStore, data: DataContext, name: str,
                    reporter: Reporter, cancel: threading.Event | None) -> RunRecord:
    """`amlrun run job.yml` for a command job: plan, record, run the command, record its outcome."""
    run_dir = store.run_dir(name)
    plan = plan_command_like(node, data, name, run_dir, envs=env_choice(data, request.env, request.strict_python))
    plan.debug = request.debug
    record = RunRecord(name=name, type="command", status="Preparing", run_dir=str(run_dir),
                       spec_path=str(request.file.resolve()),
                       extra={"overrides": [f"{k}={v}" for k, v in request.overrides], **owner_fields(),
                              **request.recorded_source(),
                              "environment": plan.environment.label, "env_mode": request.env})
    store.create(record)  # fails if another run took the name meanwhile
    write_spec_copy(node, run_dir)
    announce_environment(reporter, plan)
    reporter.event("started", message=f"run {name} started (logs: {run_dir / 'user_logs' / 'std_log.txt'})")
    store.update(record, status="Running", started=time.time())
    cancel = cancel or threading.Event()
    tracking = open_tracking(node, request.file, data, reporter)
    try:
        tracking.add_run(name, None, step_tags(plan), step_params(plan))
        start_step_tracking(tracking, plan, name)
        with cancel_on_interrupt(cancel):  # Ctrl-C / SIGTERM: kill the job's process group, record Canceled
            outcome = run_command_step(plan, reporter, cancel)
        tracking.end_run(name, outcome.status, record.started)
    finally:
        ids = tracking.close()
    record.extra.update(tracking_extra(tracking, ids, name))
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
