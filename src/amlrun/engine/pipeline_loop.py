"""The scheduling loop of one pipeline execution: start ready steps, settle their results, finish the run.

The main thread owns the scheduler (a pure state machine) and waits on a queue for step results:
no polling. `pipeline_step.StepLauncher` runs each started step in a worker thread and writes its
record. Ctrl-C kills the running processes and records Canceled.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

from amlrun.engine.command_step import announce_environment
from amlrun.engine.events import Reporter, report_outputs
from amlrun.engine.pipeline_plan import PipelinePlan
from amlrun.engine.pipeline_report import started_message, summary_text
from amlrun.engine.pipeline_step import StepLauncher, StepResult, groups_of
from amlrun.engine.scheduler import FINISHED_OK, Scheduler, overall_status
from amlrun.engine.tracking import open_tracking, record_tracking
from amlrun.errors import RunError
from amlrun.store.records import RunRecord, RunStore

__all__ = ["PipelineExecution", "step_names"]


class PipelineExecution:
    """One execution of a pipeline plan: the scheduler and the main loop around it."""

    def __init__(self, plan: PipelinePlan, store: RunStore, record: RunRecord, reporter: Reporter,
                 cancel: threading.Event | None, max_parallel: int | None, max_workers: int | None,
                 force_rerun: bool, continued: set[str] | None = None) -> None:
        self.plan = plan
        self.store = store
        self.record = record
        self.reporter = reporter
        self.stop = cancel or threading.Event()
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.force_rerun = force_rerun  # the user's --force-rerun; `settings.force_rerun` is in the plan
        self.continued = continued or set()  # resume: Completed parallel steps rerunning their failed mini-batches
        self.chosen: list[str] = []  # with --step: the steps asked for (their upstream only supports them)
        self.steps = StepLauncher(plan, store, record, reporter, self.stop, max_workers)
        self.fail_fast_stopped = False
        self.workers: list[threading.Thread] = []
        self.tracking_source: tuple[Any, Path, Any] | None = None  # (node, job file, data): open_tracking's

    # -- the main loop ------------------------------------------------------------------------

    def run(self, only: str | None = None, finished: dict[str, RunRecord] | None = None,
            created: dict[str, float] | None = None) -> RunRecord:
        # Workers write records while the scheduler starts the next step: with CPython's default 5 ms
        # switch interval a new step would wait behind that bookkeeping for the GIL.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        if self.tracking_source is not None:
            self.steps.tracking = open_tracking(*self.tracking_source, self.reporter)
            self.steps.tracking.add_run(self.record.name, None, {"amlrun.job_type": "pipeline"},
                                        run_id=self.record.extra.get("mlflow_run_id"))
        try:
            with self.store.hold():
                return self._run(only, finished or {}, created or {})
        except Exception:
            self.reporter.close()  # a live view must give the terminal back
            raise
        finally:
            sys.setswitchinterval(interval)
            if self.steps.tracking is not None:
                self.steps.tracking.close()

    def _run(self, only: str | None, finished: dict[str, RunRecord], created: dict[str, float]) -> RunRecord:
        # `--step X` runs what `amlrun run` would run to produce X, and nothing else: upstream steps
        # are reused when unchanged, X too; --force-rerun forces X alone, settings.force_rerun all.
        self.chosen = _chosen_steps(self.plan, only) if only else list(self.plan.steps)
        if not self.chosen:  # resuming a --step run whose step was since removed from the file
            raise RunError(f"{Path(self.record.spec_path or '').name} has no step {only!r} any more",
                           hint=f"run the pipeline again: `amlrun run {self.record.spec_path}`")
        steps = _needed_steps(self.plan, self.chosen) if only else self.chosen
        self.steps.forced = set(steps) if self.plan.force_rerun else set(self.chosen) if self.force_rerun else set()
        self.steps.forced |= self.continued & set(steps)  # continue in place, never swap in another run's outputs
        self.steps.create_records(steps, finished, created)
        for path, rec in finished.items():
            self.steps.outputs[path] = {name: {"path": p, "hash": rec.extra.get("output_hashes", {}).get(name, "")}
                                  for name, p in (rec.extra.get("outputs") or {}).items()}
        deps = {path: self.plan.steps[path].deps for path in steps}
        scheduler = Scheduler(deps, self.plan.continue_on_failure,
                              already={p: r.status for p, r in finished.items() if p in deps})
        self.store.update(self.record, status="Running", started=self.record.started or time.time(), ended=None,
                          error=None)
        upstream = len(steps) - len(self.chosen)
        self.reporter.event("started", message=started_message(self.record.name, steps, self.max_parallel,
                                                               self.record.run_dir, only, upstream), steps=steps)
        self._announce_environments(steps)
        interrupted = False
        try:
            self._loop(scheduler)
        except KeyboardInterrupt:
            interrupted = True
            self._interrupt(scheduler)
        try:
            return self._finish(scheduler, interrupted)
        finally:
            self.steps.cache.close()

    def _announce_environments(self, steps: list[str]) -> None:
        """One line per distinct environment, naming the steps that run in it."""
        groups: dict[str, list[str]] = {}
        for path in steps:
            groups.setdefault(self.plan.steps[path].plan.environment.description, []).append(path)
        for paths in groups.values():
            announce_environment(self.reporter, self.plan.steps[paths[0]].plan, paths)

    def _loop(self, scheduler: Scheduler) -> None:
        while True:
            if self.stop.is_set() and not scheduler.should_stop_running:
                self._mark(scheduler.cancel_pending("canceled"), scheduler)
            for path in scheduler.ready():
                if len(scheduler.running) >= self.max_parallel:
                    break
                scheduler.started(path)
                self.workers.append(self.steps.start(path))
            if not scheduler.running:
                return
            path, result = self.steps.results.get()
            self._settle(scheduler, path, result)

    def _settle(self, scheduler: Scheduler, path: str, result: StepResult) -> None:
        if result.status in FINISHED_OK:
            self.steps.outputs[path] = result.outputs
        self._mark(scheduler.finished(path, result.status), scheduler)
        if scheduler.should_stop_running and not self.stop.is_set():
            self.fail_fast_stopped = True
            self.stop.set()

    def _interrupt(self, scheduler: Scheduler) -> None:
        """Ctrl-C: stop starting steps, kill running ones, wait for their workers to record them."""
        self.stop.set()
        self._mark(scheduler.cancel_pending("canceled: interrupted"), scheduler)
        while scheduler.running:
            try:
                path, result = self.steps.results.get()
            except KeyboardInterrupt:
                continue
            self._settle(scheduler, path, result)

    def _mark(self, paths: list[str], scheduler: Scheduler) -> None:
        """Record steps the scheduler skipped or canceled without running them."""
        for path in paths:
            status = scheduler.states[path]
            reason = scheduler.reasons.get(path, status.lower())
            self.steps.mark(path, status, reason)

    def _finish(self, scheduler: Scheduler, interrupted: bool) -> RunRecord:
        for worker in self.workers:  # they report results before they finish writing records
            worker.join()
        self.workers.clear()
        status = scheduler.outcome()
        if interrupted or (self.stop.is_set() and not self.fail_fast_stopped and status != "Failed"):
            status = "Canceled"
        for path in self.plan.groups:
            if path in self.steps.group_records:
                inner = [s for p, s in scheduler.states.items() if p.startswith(path + ".")]
                self.store.update(self.steps.group_records[path], status=overall_status(inner), ended=time.time())
        failed = [p for p, s in scheduler.states.items() if s == "Failed"]
        error = f"step{'s' if len(failed) > 1 else ''} failed: {', '.join(failed)}" if failed else None
        self.store.update(self.record, status=status, ended=time.time(), error=error)
        self._close_tracking()
        self.reporter.event("summary", message=self._summary(scheduler))
        note = self._reused_note(scheduler)
        if note:
            self.reporter.event("note", message=note)
        if status == "Completed" and not self.record.extra.get("only_step"):
            report_outputs(self.reporter, self.record.extra.get("outputs") or {})
        self.reporter.event("finished", message=f"pipeline {self.record.name} {status}"
                            + (f": {error}" if error else f" in {self.record.duration or 0:.1f}s"))
        self.reporter.close()
        if interrupted:
            raise KeyboardInterrupt
        return self.record

    def _close_tracking(self) -> None:
        """Final statuses into MLflow; each record learns its MLflow run id (when a step used MLflow)."""
        tracking = self.steps.tracking
        if tracking is None:
            return
        records = [self.record, *self.steps.group_records.values(), *self.steps.records.values()]
        for rec in records:  # the pipelines, and steps that ended without reaching the end of their worker
            run = tracking.runs.get(rec.name)
            if run is not None and (run.status is None or rec.type == "pipeline"):
                tracking.end_run(rec.name, rec.status, rec.started, rec.ended)
        record_tracking(self.store, records, tracking, tracking.close())

    def _reused_note(self, scheduler: Scheduler) -> str | None:
        """With --step: say plainly that the step asked for did not run, why, and how to make it run."""
        only = self.record.extra.get("only_step")
        reused = [p for p in self.chosen if scheduler.states.get(p) == "Reused"]
        if not only or not reused:
            return None
        what = (f"step {reused[0]} was not run: Reused from {self.steps.records[reused[0]].reused_from}, because its"
                if len(reused) == 1 else f"steps {', '.join(reused)} were not run: Reused, because their")
        spec = Path(self.record.extra.get("source") or self.record.spec_path or "pipeline.yml")
        with contextlib.suppress(ValueError):
            spec = spec.relative_to(Path.cwd())
        sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in self.record.extra.get("overrides") or [])
        return (f"{what} command, code, environment and inputs are unchanged. To run it anyway: "
                f"amlrun run {shlex.quote(str(spec))} --step {only}{sets} --force-rerun")

    def _summary(self, scheduler: Scheduler) -> str:
        return summary_text({path: self.steps.records[path] for path in scheduler.states})


def step_names(plan: PipelinePlan) -> list[str]:
    """Every name `--step` accepts, in plan order: leaf steps and the nested pipelines holding them."""
    names: list[str] = []
    for path in plan.steps:
        names.extend(g for g in groups_of(path) if g not in names)
        names.append(path)
    return names


def _chosen_steps(plan: PipelinePlan, only: str) -> list[str]:
    """The leaf steps `--step only` asks for: the step itself, or every step of a nested pipeline."""
    return [path for path in plan.steps if path == only or path.startswith(only + ".")]


def _needed_steps(plan: PipelinePlan, chosen: list[str]) -> list[str]:
    """`chosen` and everything upstream of it, in plan order: what must finish for `chosen` to run."""
    needed = set(chosen)
    todo = list(chosen)
    while todo:
        for dep in plan.steps[todo.pop()].deps:
            if dep not in needed:
                needed.add(dep)
                todo.append(dep)
    return [path for path in plan.steps if path in needed]
