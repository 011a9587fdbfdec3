"""Run a pipeline job: plan the DAG, then execute it (`pipeline_loop`), reusing what AzureML would reuse.

Also what `amlrun resume` asks of pipelines: whether work is left (`work_left`) and to continue (`resume`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext
from amlrun.engine.events import Reporter
from amlrun.engine.parallel.unfinished import describe_left, mini_batches_left
from amlrun.engine.pipeline_loop import PipelineExecution, step_names
from amlrun.engine.pipeline_plan import PipelinePlan, plan_pipeline
from amlrun.engine.pipeline_report import live_or, logged
from amlrun.engine.pipeline_reused import keep_plan
from amlrun.engine.planner import env_choice
from amlrun.engine.scheduler import FINISHED_OK
from amlrun.errors import RunError, UsageError
from amlrun.spec.loader import Node, load_job
from amlrun.spec.validate import validate_node
from amlrun.store.liveness import owner_fields
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.spec_copy import write_spec_copy
from amlrun.store.steps import descendants, resolve_step

__all__ = ["resume", "resume_pipeline_job", "run_pipeline_job", "work_left"]


def run_pipeline_job(node: Node, request: Any, store: RunStore, data: DataContext, name: str,
                     reporter: Reporter, cancel: threading.Event | None) -> RunRecord:
    """Run a loaded pipeline job (or one of its steps, with `request.step`) to a terminal state."""
    run_dir = store.run_dir(name)
    plan = plan_pipeline(node, data, name, run_dir, env_choice(data, request.env, request.strict_python))
    if request.plan_watch is not None:
        request.plan_watch.stop()  # what planning read: the plan cache's key
    only = resolve_step(request.step, step_names(plan), f"pipeline {Path(request.file).name}") \
        if request.step else None
    force_rerun = request.force_rerun
    if request.debug is not None:  # the one step debugged runs (never reused); its upstream comes from the cache
        only = _debugged_step(plan, only, request.file)
        plan.steps[only].plan.debug = request.debug
        force_rerun = True
    record = RunRecord(name=name, type="pipeline", status="Preparing", run_dir=str(run_dir),
                       spec_path=str(Path(request.file).resolve()), extra={
                           "overrides": [list(o) for o in request.overrides],
                           "force_rerun": bool(request.force_rerun),
                           "env_mode": request.env, "strict_python": request.strict_python,
                           "only_step": only,
                           **request.recorded_source(),
                           "outputs": {k: str(o.location.local_path or o.location.uri) for k, o in plan.outputs.items()},
                           **owner_fields(),
                           "edges": _edges(plan),
                       })
    write_spec_copy(node, run_dir)
    shown = reporter if request.debug is not None else live_or(reporter)  # a debugger needs plain lines
    execution = PipelineExecution(plan, store, record, logged(shown, run_dir), cancel,
                                  request.max_parallel, request.max_workers, force_rerun=force_rerun)
    execution.tracking_source = (node, Path(request.file), data)
    result = execution.run(only=only)
    keep_plan(request, store, plan, execution.steps, result, execution.steps.tracking)
    return result


def _debugged_step(plan: PipelinePlan, only: str | None, file: Path) -> str:
    """The single leaf step `--debug`/`--pdb` applies to: `--step`, or the pipeline's only step."""
    leaves = [path for path in plan.steps if only is None or path == only or path.startswith(only + ".")]
    if len(leaves) == 1:
        return leaves[0]
    raise UsageError(f"--debug/--pdb debug one step, and {'step ' + only if only else Path(file).name} has "
                     f"{len(leaves)}: {', '.join(leaves)}",
                     hint=f"add --step {leaves[0]} (its upstream steps run first, reused when unchanged)")


def resume_pipeline_job(record: RunRecord, store: RunStore, reporter: Reporter, cancel: threading.Event | None,
                        max_parallel: int | None = None, max_workers: int | None = None) -> RunRecord:
    """Continue pipeline run `record` in place: rerun what failed, was skipped or canceled."""
    if not record.spec_path or not Path(record.spec_path).is_file():
        raise RunError(f"the pipeline file of run {record.name} ({record.spec_path}) is gone",
                       hint="resume needs the original YAML and components; run the pipeline again instead")
    overrides = [(str(k), v) for k, v in record.extra.get("overrides") or []]
    node = load_job(record.spec_path, overrides)
    validate_node(node)
    data = DataContext.for_project(store.root, Path(record.spec_path))
    plan = plan_pipeline(node, data, record.name, Path(record.run_dir),
                         env_choice(data, record.extra.get("env_mode"), bool(record.extra.get("strict_python"))))
    previous = {r.extra.get("step_path"): r for r in descendants(store, record.name)}
    partial = [path for path, r in previous.items() if path in plan.steps and mini_batches_left(r)]
    stale = _downstream(plan, partial)  # their inputs change once the failed mini-batches' rows are in
    partial = [path for path in partial if path not in stale]  # (a partial step downstream starts over)
    finished = {path: r for path, r in previous.items()
                if r.status in FINISHED_OK and path in plan.steps and path not in partial and path not in stale}
    shown = logged(live_or(reporter), Path(record.run_dir))
    shown.event("resume", message=f"resuming {record.name}: {len(finished)} of {len(plan.steps)} steps "
                "already finished" + "".join(f"; {p} reruns its {describe_left(previous[p])}" for p in partial)
                + (f", then {', '.join(stale)}" if stale else ""))
    _restart_parallel_steps(plan, [p for p in stale if p in previous])
    execution = PipelineExecution(plan, store, record, shown, cancel, max_parallel, max_workers,
                                  force_rerun=bool(record.extra.get("force_rerun")), continued=set(partial))
    execution.tracking_source = (node, Path(record.spec_path), data)
    return execution.run(only=record.extra.get("only_step"), finished=finished,
                         created={path: r.created for path, r in previous.items() if path})


def _edges(plan: PipelinePlan) -> list[list[str]]:
    """[from step, its output, to step, its input] for each binding between steps (the report draws them)."""
    return [[item.from_step, item.from_output or "", path, name] for path, step in plan.steps.items()
            for name, item in step.plan.inputs.items() if item.from_step is not None]


def _downstream(plan: PipelinePlan, paths: list[str]) -> list[str]:
    """Every step reading an output of `paths`, directly or through other steps, in plan order."""
    found: list[str] = []
    for path, step in plan.steps.items():  # plan order is topological: upstream steps come first
        if step.deps.intersection(paths) or step.deps.intersection(found):
            found.append(path)
    return found


def _restart_parallel_steps(plan: PipelinePlan, paths: list[str]) -> None:
    """A parallel step whose input changed must not continue from mini-batches of the old input."""
    for path in paths:
        if plan.steps[path].kind == "parallel":
            from amlrun.engine.parallel.step import forget_mini_batches

            forget_mini_batches(plan.steps[path].plan)


def work_left(record: RunRecord, store: RunStore) -> bool:
    """Whether a Completed pipeline run still has parallel steps with failed mini-batches."""
    return any(mini_batches_left(step) for step in descendants(store, record.name))


resume = resume_pipeline_job  # what `amlrun resume` calls
