"""Run one planned parallel step: stage, partition, drive the workers, summarize.

Running it again on the same run folder continues from the journal: only mini-batches that did not
succeed run again, which is how `amlrun resume` and pipeline resumption work.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import threading
import time
from pathlib import Path

from amlrun.data.staging import MaterializedInput, materialize_input
from amlrun.engine.command_step import (
    StepOutcome,
    build_process_env,
    container_variables,
    prepare_environment,
    render_command,
    stage_step,
    staging_failure,
    step_mounts,
)
from amlrun.engine.events import LoggingReporter, Reporter
from amlrun.engine.parallel.driver import WorkerSpec, drive
from amlrun.engine.parallel.journal import Journal
from amlrun.engine.parallel.partition import PartitionRequest
from amlrun.engine.parallel.plan import ParallelSettings, apply_prs_flags
from amlrun.engine.parallel.progress import ProgressView
from amlrun.engine.parallel.spawn import WORKER_SCRIPT
from amlrun.engine.parallel.summary import append_error_log, write_summary
from amlrun.engine.plan import StepPlan
from amlrun.errors import AmlrunError, DataError

__all__ = ["FAILED_EXIT_CODE", "forget_mini_batches", "output_file", "run_parallel_step", "worker_count"]

FAILED_EXIT_CODE = 42  # what the service's parallel job exits with when it fails


def worker_count(settings: ParallelSettings, max_workers: int | None) -> tuple[int, str | None]:
    """instance_count x max_concurrency_per_instance, capped by --max-workers (default: CPU count)."""
    wanted = settings.requested_workers
    cap = max_workers or os.cpu_count() or 1
    if wanted <= cap:
        return wanted, None
    source = "--max-workers" if max_workers else "the CPU count"
    return cap, (f"running {cap} worker process{'es' if cap != 1 else ''} instead of {wanted} (instance_count "
                 f"{settings.instance_count} x max_concurrency_per_instance {settings.max_concurrency_per_instance})"
                 f": capped by {source}")


def output_file(settings: ParallelSettings, plan: StepPlan, outputs: dict) -> Path | None:
    """Where append_row writes: the uri_file output itself, or parallel_run_step.txt in a folder."""
    if not settings.append_row_to:
        return None
    prepared = outputs.get(settings.append_row_to)
    if prepared is None:
        raise DataError(f"append_row_to names output {settings.append_row_to!r}, which the job does not have",
                        hint="bind append_row_to to ${{outputs.<name>}} of a declared output")
    if plan.outputs[settings.append_row_to].type == "uri_file":
        return Path(prepared.local_path)
    return Path(prepared.local_path) / settings.append_row_file_name


def _partition_source(plan: StepPlan, name: str, given: MaterializedInput, step: str | None) -> MaterializedInput:
    """The local data the mini-batches are cut from.

    A `direct` input hands the entry script its URI (`${{inputs.x}}`), but PRS still reads the data
    itself to make mini-batches: a datastore URI (an upstream step's output, a blob folder) is staged
    as a read-only view for that, MLTable paths made local as for any mltable input.
    """
    planned = plan.inputs[name]
    location = planned.location
    if planned.mode != "direct" or location is None or given.value == str(location.local_path):
        return given
    return materialize_input(name, planned.type, "ro_mount", location, plan.run_dir / "partition", step)


def _debugged(spec: WorkerSpec, plan: StepPlan, reporter: Reporter) -> WorkerSpec:
    """The one worker of a debugged parallel step: started by the debugger's launcher, in the foreground for pdb."""
    from amlrun.engine.debug import announce, debug_env, worker_launch
    from amlrun.engine.parallel.spawn import WORKER_SCRIPT

    announce(plan.debug, plan, reporter)
    return dataclasses.replace(spec, env=debug_env(spec.env, plan.debug), foreground=plan.debug.foreground,
                               launch=worker_launch(spec.python, WORKER_SCRIPT, plan.debug))


def _container_name(plan: StepPlan, worker: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"amlrun-{plan.run_name}-{worker}")


def forget_mini_batches(plan: StepPlan) -> None:
    """Make the next run of this step start over: its input changed, so earlier mini-batches no longer apply.

    Without a journal, the next run also cuts the append_row output back to nothing (see journal.py).
    """
    shutil.rmtree(plan.run_dir / "parallel", ignore_errors=True)


def run_parallel_step(plan: StepPlan, reporter: Reporter, cancel: threading.Event | None = None,
                      max_workers: int | None = None) -> StepOutcome:
    """Run (or continue) a planned parallel step to a terminal state; never raises for its own failures."""
    reporter = LoggingReporter(reporter, plan.run_dir / "user_logs" / "std_log.txt")
    try:
        return _run(plan, reporter, cancel, max_workers)
    finally:
        reporter.close()


def _run(plan: StepPlan, reporter: Reporter, cancel: threading.Event | None, max_workers: int | None) -> StepOutcome:
    started = time.monotonic()
    assert plan.parallel is not None, "not a parallel plan"
    settings = ParallelSettings.from_dict(plan.parallel)
    step = plan.name if plan.node is not None and plan.run_dir.parent.name == "steps" else None
    failure = prepare_environment(plan, reporter)
    if failure is not None:
        return StepOutcome("Failed", error=failure, duration=time.monotonic() - started)
    try:
        if plan.debug is not None:
            from amlrun.engine.debug import check_debuggable

            check_debuggable(plan)
        code_dir, inputs, outputs = stage_step(plan, fresh_outputs=False)
        rendered = render_command(dataclasses.replace(plan, command=settings.program_arguments), inputs, outputs)
        argv = shlex.split(rendered)
        for note in apply_prs_flags(settings, argv):
            reporter.event("note", step=step, message=note)
        source = inputs.get(settings.input_data)
        if not isinstance(source, MaterializedInput):
            raise DataError(f"input_data input {settings.input_data!r} has no data bound",
                            hint="bind the input to a folder of files or an MLTable folder")
        out_file = output_file(settings, plan, outputs)
        table_source = _partition_source(plan, settings.input_data, source, step)
    except (AmlrunError, ValueError) as exc:
        message = exc.render() if isinstance(exc, AmlrunError) else str(exc)
        return StepOutcome("Failed", error=message, duration=time.monotonic() - started)
    except Exception as exc:  # a storage SDK's own error: the run ends Failed, never stuck in Running
        return StepOutcome("Failed", error=staging_failure(plan, exc), duration=time.monotonic() - started)
    work_dir = plan.run_dir / "parallel"  # forget_mini_batches removes it
    logs = plan.run_dir / "logs"
    journal = Journal(work_dir, out_file)
    try:
        dropped = journal.keep_only_succeeded()
        done_before = len(journal.succeeded())
        if done_before or dropped:
            reporter.event("resume", step=step, message=f"continuing: {done_before} mini-batches already succeeded"
                           + (f", {dropped} to run again" if dropped else ""))
        workers, note = worker_count(settings, max_workers)
        if plan.debug is not None:
            workers, note = 1, "debugging: one worker, no retries, no run() timeout"
            settings.max_retries, settings.timeout = 0, float(10 ** 9)
        if note:
            reporter.event("note", step=step, message=note)
        env = build_process_env(plan, inputs, outputs)
        bi_output = (out_file.parent if out_file is not None else work_dir / "output")
        bi_output.mkdir(parents=True, exist_ok=True)
        env.update({
            "AZUREML_BI_OUTPUT_PATH": str(bi_output),
            "AMLRUN_PRS_LOGS": str(logs / "user"),
            "AMLRUN_PRS_WORKING_DIR": str(work_dir / "working"),
            "AMLRUN_PRS_LOGGING_LEVEL": settings.logging_level,
        })
        input_type = plan.inputs[settings.input_data].type
        container = plan.environment.container
        mounts = step_mounts(plan, inputs, outputs) if container is not None else []
        spec = WorkerSpec(python=plan.environment.python, env=env, logs=logs / "user",
                          amlrun_importable=plan.environment.amlrun_importable,
                          launcher=None if container is None else lambda name, worker_env: container.python_argv(
                              _container_name(plan, name), WORKER_SCRIPT, code_dir, container_variables(worker_env),
                              mounts),
                          stop=None if container is None else lambda name: container.stop(_container_name(plan, name)),
                          config={
            "code_dir": str(code_dir), "entry_script": settings.entry_script, "argv": argv,
            "header": settings.append_row_dataframe_header, "dataset": settings.input_data,
            "tabular": input_type == "mltable",
        })
        if plan.debug is not None:
            spec = _debugged(spec, plan, reporter)
        request = PartitionRequest(input_type, str(table_source.value), settings.mini_batch_size,
                                   list(settings.partition_keys), str(work_dir))
        progress = ProgressView(reporter, step)
        reporter.event("started", step=step, message=f"parallel: {workers} worker process"
                       + ("es" if workers != 1 else "") + f", logs in {logs}")
        try:
            result = drive(settings, spec, journal, request, workers, progress.update,
                           lambda i, a, m: append_error_log(logs, i, a, m), cancel, started)
        except BaseException:
            progress.close(None)
            raise
        progress.close(result.stats)
        counts = write_summary(logs, journal, result, settings.error_threshold)
    finally:
        journal.close()
        if table_source is not source:
            table_source.verify()  # removes the read-only view the mini-batches were cut from
    for out in outputs.values():
        out.finalize(result.status == "Completed")
    extra = {"parallel": counts, "outputs": {k: str(o.location.local_path or o.location.uri)
                                         for k, o in plan.outputs.items()}}
    if out_file is not None:
        rows_to = outputs[settings.append_row_to]
        dest = rows_to.location.local_path if rows_to.published and rows_to.location is not None else None
        if dest is not None:  # published: the rows are where the output landed, not in its staging folder
            out_file = dest if plan.outputs[settings.append_row_to].type == "uri_file" \
                else dest / settings.append_row_file_name
        extra["append_row_file"] = str(out_file)
    code = 0 if result.status == "Completed" else FAILED_EXIT_CODE
    return StepOutcome(result.status, code, result.error, time.monotonic() - started, extra)
