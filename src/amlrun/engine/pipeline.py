"""Run a pipeline job: plan the DAG, run ready steps concurrently, reuse what AzureML would reuse.

The main thread owns the scheduler (a pure state machine) and waits on a queue for step results:
no polling. Each started step runs in a worker thread that decides reuse, runs the step's process
and writes the step's record. Ctrl-C kills the running processes and records Canceled.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext, Location
from amlrun.engine.cache import StepCache, cache_key
from amlrun.engine.command_step import StepOutcome, run_command_step
from amlrun.engine.events import LoggingReporter, PlainReporter, Reporter, report_outputs
from amlrun.engine.pipeline_plan import PipelinePlan, PlannedStep, plan_pipeline
from amlrun.engine.resume import mini_batches_left
from amlrun.engine.scheduler import FINISHED_OK, Scheduler, overall_status
from amlrun.errors import RunError
from amlrun.spec.loader import Node, load_job
from amlrun.spec.validate import validate_node
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.steps import resolve_step

__all__ = ["descendants", "resume_pipeline_job", "run_pipeline_job"]


@dataclass
class StepResult:
    """What a worker reports back: the final status and where the step's outputs now are."""

    status: str
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"path", "hash"}
    reused_from: str | None = None
    error: str | None = None
    duration: float = 0.0


def run_pipeline_job(node: Node, request: Any, store: RunStore, data: DataContext, name: str,
                     reporter: Reporter, cancel: threading.Event | None) -> RunRecord:
    """Run a loaded pipeline job (or one of its steps, with `request.step`) to a terminal state."""
    from amlrun.engine.runner import write_spec_copy

    run_dir = store.run_dir(name)
    plan = plan_pipeline(node, data, name, run_dir)
    only = resolve_step(request.step, _step_names(plan), f"pipeline {Path(request.file).name}") \
        if request.step else None
    record = RunRecord(name=name, type="pipeline", status="Preparing", run_dir=str(run_dir),
                       spec_path=str(Path(request.file).resolve()), extra={
                           "overrides": [list(o) for o in request.overrides],
                           "force_rerun": bool(request.force_rerun),
                           "only_step": only,
                           "outputs": {k: str(o.location.local_path or o.location.uri) for k, o in plan.outputs.items()},
                       })
    execution = _Execution(plan, store, record, reporter, cancel, request.max_parallel,
                           request.max_workers, force_rerun=request.force_rerun)
    write_spec_copy(node, run_dir)
    execution.reporter = _logged(_live_or(reporter), run_dir)
    return execution.run(only=only)


def resume_pipeline_job(record: RunRecord, store: RunStore, reporter: Reporter, cancel: threading.Event | None,
                        max_parallel: int | None = None, max_workers: int | None = None) -> RunRecord:
    """Continue pipeline run `record` in place: rerun what failed, was skipped or canceled."""
    if not record.spec_path or not Path(record.spec_path).is_file():
        raise RunError(f"the pipeline file of run {record.name} ({record.spec_path}) is gone",
                       hint="resume needs the original YAML and components; run the pipeline again instead")
    overrides = [(str(k), v) for k, v in record.extra.get("overrides") or []]
    node = load_job(record.spec_path, overrides)
    validate_node(node)
    plan = plan_pipeline(node, DataContext.for_project(store.root, Path(record.spec_path)), record.name, Path(record.run_dir))
    previous = {r.extra.get("step_path"): r for r in descendants(store, record.name)}
    partial = [path for path, r in previous.items() if path in plan.steps and mini_batches_left(r)]
    stale = _downstream(plan, partial)  # their inputs change once the failed mini-batches' rows are in
    partial = [path for path in partial if path not in stale]  # (a partial step downstream starts over)
    finished = {path: r for path, r in previous.items()
                if r.status in FINISHED_OK and path in plan.steps and path not in partial and path not in stale}
    logged = _logged(_live_or(reporter), Path(record.run_dir))
    logged.event("resume", message=f"resuming {record.name}: {len(finished)} of {len(plan.steps)} steps "
                 "already finished" + "".join(f"; {p} reruns its {_mini_batches(mini_batches_left(previous[p]))}"
                                              for p in partial)
                 + (f", then {', '.join(stale)}" if stale else ""))
    _restart_parallel_steps(plan, [p for p in stale if p in previous])
    execution = _Execution(plan, store, record, logged, cancel, max_parallel, max_workers,
                           force_rerun=bool(record.extra.get("force_rerun")))
    execution.continued = set(partial)
    return execution.run(only=record.extra.get("only_step"), finished=finished,
                         created={path: r.created for path, r in previous.items() if path})


def _live_or(reporter: Reporter) -> Reporter:
    """The live view on a terminal; the reporter we were given everywhere else."""
    if type(reporter) is PlainReporter and sys.stderr.isatty() and not os.environ.get("AMLRUN_PLAIN"):
        from amlrun.engine.live import LiveReporter

        return LiveReporter()
    return reporter


def _logged(reporter: Reporter, run_dir: Path) -> Reporter:
    """Keep the pipeline's events (steps starting, finishing, the summary) as its log, for `amlrun logs RUN`."""
    return LoggingReporter(reporter, run_dir / "user_logs" / "std_log.txt", prefix_steps=True, close_inner=True)


def descendants(store: RunStore, name: str) -> list[RunRecord]:
    """Every record under run `name`: its steps, nested pipelines and their steps."""
    found = []
    for child in store.children(name):
        found.append(child)
        found.extend(descendants(store, child.name))
    return found


def _mini_batches(count: int) -> str:
    return f"{count} failed mini-batch{'es' if count != 1 else ''}"


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
            from amlrun.engine.parallel import forget_mini_batches

            forget_mini_batches(plan.steps[path].plan)


def _step_names(plan: PipelinePlan) -> list[str]:
    """Every name `--step` accepts, in plan order: leaf steps and the nested pipelines holding them."""
    names: list[str] = []
    for path in plan.steps:
        names.extend(g for g in _groups_of(path) if g not in names)
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


class _Execution:
    """One execution of a pipeline plan: records, cache, scheduler, workers."""

    def __init__(self, plan: PipelinePlan, store: RunStore, record: RunRecord, reporter: Reporter,
                 cancel: threading.Event | None, max_parallel: int | None, max_workers: int | None,
                 force_rerun: bool) -> None:
        self.plan = plan
        self.store = store
        self.record = record
        self.reporter = reporter
        self.stop = cancel or threading.Event()
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.max_workers = max_workers
        self.force_rerun = force_rerun  # the user's --force-rerun; `settings.force_rerun` is in the plan
        self.forced: set[str] = set()  # steps that must run even when an earlier run could be reused
        self.continued: set[str] = set()  # resume: Completed parallel steps rerunning their failed mini-batches
        self.chosen: list[str] = []  # with --step: the steps asked for (their upstream only supports them)
        self.cache = StepCache(store.root)
        self.records: dict[str, RunRecord] = {}
        self.group_records: dict[str, RunRecord] = {}
        self.outputs: dict[str, dict[str, dict[str, str]]] = {}  # step path -> its outputs, once finished
        self.results: queue.Queue[tuple[str, StepResult]] = queue.Queue()
        self.fail_fast_stopped = False
        self.workers: list[threading.Thread] = []

    # -- the main loop ------------------------------------------------------------------------

    def run(self, only: str | None = None, finished: dict[str, RunRecord] | None = None,
            created: dict[str, float] | None = None) -> RunRecord:
        # Workers write records while the scheduler starts the next step: with CPython's default 5 ms
        # switch interval a new step would wait behind that bookkeeping for the GIL.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        try:
            with self.store.hold():
                return self._run(only, finished or {}, created or {})
        except Exception:
            self.reporter.close()  # a live view must give the terminal back
            raise
        finally:
            sys.setswitchinterval(interval)

    def _run(self, only: str | None, finished: dict[str, RunRecord], created: dict[str, float]) -> RunRecord:
        # `--step X` runs what `amlrun run` would run to produce X, and nothing else: upstream steps
        # are reused when unchanged, X too; --force-rerun forces X alone, settings.force_rerun all.
        self.chosen = _chosen_steps(self.plan, only) if only else list(self.plan.steps)
        if not self.chosen:  # resuming a --step run whose step was since removed from the file
            raise RunError(f"{Path(self.record.spec_path or '').name} has no step {only!r} any more",
                           hint=f"run the pipeline again: `amlrun run {self.record.spec_path}`")
        steps = _needed_steps(self.plan, self.chosen) if only else self.chosen
        self.forced = set(steps) if self.plan.force_rerun else set(self.chosen) if self.force_rerun else set()
        self.forced |= self.continued & set(steps)  # continue in place, never swap in another run's outputs
        self._create_records(steps, finished, created)
        for path, rec in finished.items():
            self.outputs[path] = {name: {"path": p, "hash": rec.extra.get("output_hashes", {}).get(name, "")}
                                  for name, p in (rec.extra.get("outputs") or {}).items()}
        deps = {path: self.plan.steps[path].deps for path in steps}
        scheduler = Scheduler(deps, self.plan.continue_on_failure,
                              already={p: r.status for p, r in finished.items() if p in deps})
        self.store.update(self.record, status="Running", started=self.record.started or time.time(), ended=None,
                          error=None)
        upstream = len(steps) - len(self.chosen)
        self.reporter.event("started", message=f"pipeline {self.record.name}: {len(steps)} step"
                            f"{'s' if len(steps) != 1 else ''}"
                            + (f" (--step {only} and {upstream} upstream)" if only else "")
                            + f", up to {self.max_parallel} at once (records: {self.record.run_dir})", steps=steps)
        interrupted = False
        try:
            self._loop(scheduler)
        except KeyboardInterrupt:
            interrupted = True
            self._interrupt(scheduler)
        try:
            return self._finish(scheduler, interrupted)
        finally:
            self.cache.close()

    def _loop(self, scheduler: Scheduler) -> None:
        while True:
            if self.stop.is_set() and not scheduler.should_stop_running:
                self._mark(scheduler.cancel_pending("canceled"), scheduler)
            for path in scheduler.ready():
                if len(scheduler.running) >= self.max_parallel:
                    break
                scheduler.started(path)
                worker = threading.Thread(target=self._worker, args=(path,), name=f"step-{path}", daemon=True)
                worker.start()
                self.workers.append(worker)
            if not scheduler.running:
                return
            path, result = self.results.get()
            self._settle(scheduler, path, result)

    def _settle(self, scheduler: Scheduler, path: str, result: StepResult) -> None:
        if result.status in FINISHED_OK:
            self.outputs[path] = result.outputs
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
                path, result = self.results.get()
            except KeyboardInterrupt:
                continue
            self._settle(scheduler, path, result)

    def _mark(self, paths: list[str], scheduler: Scheduler) -> None:
        """Record steps the scheduler skipped or canceled without running them."""
        for path in paths:
            status = scheduler.states[path]
            reason = scheduler.reasons.get(path, status.lower())
            rec = self.records[path]
            self.store.update(rec, status=status, error=reason, started=None, ended=None)
            self.reporter.event("step", step=path, state=status, message=reason)

    def _finish(self, scheduler: Scheduler, interrupted: bool) -> RunRecord:
        for worker in self.workers:  # they report results before they finish writing records
            worker.join()
        self.workers.clear()
        status = scheduler.outcome()
        if interrupted or (self.stop.is_set() and not self.fail_fast_stopped and status != "Failed"):
            status = "Canceled"
        for path in self.plan.groups:
            if path in self.group_records:
                inner = [s for p, s in scheduler.states.items() if p.startswith(path + ".")]
                self.store.update(self.group_records[path], status=overall_status(inner), ended=time.time())
        failed = [p for p, s in scheduler.states.items() if s == "Failed"]
        error = f"step{'s' if len(failed) > 1 else ''} failed: {', '.join(failed)}" if failed else None
        self.store.update(self.record, status=status, ended=time.time(), error=error)
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

    def _reused_note(self, scheduler: Scheduler) -> str | None:
        """With --step: say plainly that the step asked for did not run, why, and how to make it run."""
        only = self.record.extra.get("only_step")
        reused = [p for p in self.chosen if scheduler.states.get(p) == "Reused"]
        if not only or not reused:
            return None
        what = (f"step {reused[0]} was not run: Reused from {self.records[reused[0]].reused_from}, because its"
                if len(reused) == 1 else f"steps {', '.join(reused)} were not run: Reused, because their")
        spec = Path(self.record.spec_path or "pipeline.yml")
        with contextlib.suppress(ValueError):
            spec = spec.relative_to(Path.cwd())
        sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in self.record.extra.get("overrides") or [])
        return (f"{what} command, code, environment and inputs are unchanged. To run it anyway: "
                f"amlrun run {shlex.quote(str(spec))} --step {only}{sets} --force-rerun")

    def _summary(self, scheduler: Scheduler) -> str:
        rows = [("step", "status", "duration", "note")]
        for path in scheduler.states:
            rec = self.records[path]
            dur = f"{rec.duration:.1f}s" if rec.duration is not None and rec.status not in ("Reused",) else "-"
            note = f"reused from {rec.reused_from}" if rec.reused_from else (rec.error or "")
            rows.append((path, rec.status, dur, note))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + ("  " + r[3] if r[3] else "") for r in rows]
        return "summary\n" + "\n".join(line.rstrip() for line in lines)

    # -- records --------------------------------------------------------------------------------

    def _create_records(self, steps: list[str], finished: dict[str, RunRecord], created: dict[str, float]) -> None:
        """A record per step (NotStarted) and per nested pipeline; a resumed run keeps creation times."""
        spec_path = self.record.spec_path or ""
        new: list[RunRecord] = []
        for path in steps:
            step = self.plan.steps[path]
            for group in _groups_of(path):  # a nested pipeline's record comes just before its first step
                if group not in self.group_records:
                    self._create_group_record(group)
            if path in finished:
                self.records[path] = finished[path]
                continue
            parent = self.group_records[step.group].name if step.group else self.record.name
            rec = RunRecord(name=step.run_name, type=step.kind, status="NotStarted", run_dir=str(step.plan.run_dir),
                            parent=parent, spec_path=spec_path,
                            extra={"step": path.rsplit(".", 1)[-1], "step_path": path})
            rec.created = created.get(path, rec.created)
            new.append(rec)
            self.records[path] = rec
        self.store.save_many(new)  # record.json files follow with each step's result

    def _create_group_record(self, path: str) -> None:
        group = self.plan.groups[path]
        parent = self.group_records[group.group].name if group.group else self.record.name
        rec = RunRecord(name=group.run_name, type="pipeline", status="Running", run_dir=str(group.run_dir),
                        parent=parent, started=time.time(),
                        extra={"step": path.rsplit(".", 1)[-1], "step_path": path})
        if self.store.exists(rec.name):  # resumed
            rec = self.store.get(rec.name)
            rec.status = "Running"
        self.store.save(rec)
        self.group_records[path] = rec

    # -- one step (worker thread) ---------------------------------------------------------------

    def _worker(self, path: str) -> None:
        reported = threading.Event()

        def report(result: StepResult) -> None:
            reported.set()
            self.results.put((path, result))

        try:
            self._run_step(self.plan.steps[path], report)
        except Exception as exc:  # noqa: BLE001 - a step's failure must never hang the pipeline
            from amlrun.errors import AmlrunError

            message = exc.render() if isinstance(exc, AmlrunError) else f"{type(exc).__name__}: {exc}"
            self.store.update(self.records[path], status="Failed", error=message, ended=time.time())
            self.reporter.event("step", step=path, state="Failed", message=f"Failed: {message}")
            if not reported.is_set():
                report(StepResult("Failed", error=message))

    def _run_step(self, step: PlannedStep, report: Any) -> None:
        """Decide reuse or run; `report` the result as soon as downstream steps may start, then record."""
        rec = self.records[step.path]
        if self.stop.is_set():
            self.store.update(rec, status="Canceled", error="canceled")
            return report(StepResult("Canceled"))
        self._connect_inputs(step)
        key = self._cache_key(step) if step.plan.is_deterministic else None
        if key is not None and step.path not in self.forced:
            reused = self._try_reuse(step, key)
            if reused is not None:
                return report(reused)
        rec.status, rec.started, rec.ended, rec.error, rec.exit_code, rec.reused_from = (
            "Running", time.time(), None, None, None, None)
        self.store.save(rec, write_json=False)
        self.reporter.event("step", step=step.path, state="Running", message="started")
        outcome = self._execute(step)
        ended = time.time()
        outputs: dict[str, dict[str, str]] = {}
        if outcome.status == "Completed":
            for name, out in step.plan.outputs.items():
                local = out.location.local_path
                outputs[name] = {"path": str(local),
                                 "hash": self.cache.hash_path(local) if local is not None else out.location.uri}
        self.reporter.event("step", step=step.path, state=outcome.status, duration=outcome.duration,
                            message=f"{outcome.status} in {outcome.duration:.1f}s"
                            + (f": {outcome.error}" if outcome.error else ""))
        report(StepResult(outcome.status, outputs, error=outcome.error, duration=outcome.duration))
        if key is not None and outcome.status == "Completed":
            self.cache.remember(key, step.run_name, outputs)
        command_file = step.plan.run_dir / "command.sh"
        extra = {**rec.extra, "cache_key": key, "outputs": {n: o["path"] for n, o in outputs.items()}
                 or {n: str(o.location.local_path) for n, o in step.plan.outputs.items()},
                 "output_hashes": {n: o["hash"] for n, o in outputs.items()},
                 "command": command_file.read_text().strip() if command_file.exists() else None}
        for kept in ("parallel", "append_row_file", "unpublished"):
            if outcome.extra.get(kept):
                extra[kept] = outcome.extra[kept]
        self.store.update(rec, status=outcome.status, ended=ended, exit_code=outcome.exit_code,
                          error=outcome.error, extra=extra)

    def _execute(self, step: PlannedStep) -> StepOutcome:
        if step.kind == "parallel":
            try:
                from amlrun.engine.parallel import run_parallel_step  # type: ignore[attr-defined]
            except ImportError:
                return StepOutcome("Failed", error="parallel steps cannot run in this build of amlrun")
            return run_parallel_step(step.plan, self.reporter, self.stop, self.max_workers)
        return run_command_step(step.plan, self.reporter, self.stop)

    def _connect_inputs(self, step: PlannedStep) -> None:
        """Point inputs bound to upstream outputs at where those outputs are (maybe an earlier run's)."""
        for name, item in step.plan.inputs.items():
            if item.from_step is None:
                continue
            produced = self.outputs.get(item.from_step, {}).get(item.from_output or "")
            if produced is None:
                raise RunError(f"step {step.path}: input {name!r} needs output {item.from_output!r} of "
                               f"{item.from_step}, which is not available")
            planned = self.plan.steps[item.from_step].plan.outputs.get(item.from_output or "")
            if planned is not None and str(planned.location.local_path) == produced["path"]:
                item.location = planned.location  # keeps its datastore URI
            else:  # an earlier run's output (reused or resumed)
                item.location = Location(produced["path"], local_path=Path(produced["path"]))

    def _cache_key(self, step: PlannedStep) -> str:
        plan = step.plan
        inputs: dict[str, Any] = {}
        for name, item in plan.inputs.items():
            if item.from_step is not None:
                produced = self.outputs[item.from_step][item.from_output or ""]
                inputs[name] = {"type": item.type, "mode": item.mode, "hash": produced["hash"]}
            elif item.location is not None:
                local = item.location.local_path
                inputs[name] = {"type": item.type, "mode": item.mode,
                                "hash": self.cache.hash_path(local) if local is not None else item.location.uri}
            else:
                inputs[name] = {"type": item.type, "value": item.value}
        node = plan.node
        parts = {
            "v": 1,
            "kind": plan.kind,
            "definition": node.definition.model_dump(mode="json", exclude_none=True, by_alias=True),
            "settings": {k: (v.model_dump(mode="json", exclude_none=True) if hasattr(v, "model_dump") else v)
                         for k, v in node.settings.items()},
            "command": plan.command,
            "environment": plan.environment.fingerprint,
            "environment_variables": plan.environment_variables,
            "timeout": plan.timeout,
            "code": self.cache.hash_code(plan.code_dir) if plan.code_dir is not None else None,
            "inputs": inputs,
            "outputs": {n: [o.type, o.mode] for n, o in plan.outputs.items()},
            "parallel": plan.parallel,
        }
        return cache_key(parts)

    def _try_reuse(self, step: PlannedStep, key: str) -> StepResult | None:
        entry = self.cache.lookup(key)
        if entry is None or entry.run_name == step.run_name:
            return None
        if not entry.outputs_exist() or set(entry.outputs) != set(step.plan.outputs):
            self.cache.forget(key)
            return None
        outputs: dict[str, dict[str, str]] = {}
        for name, earlier in entry.outputs.items():
            out = step.plan.outputs[name]
            if name in step.default_outputs or out.location.local_path is None:
                outputs[name] = dict(earlier)  # AzureML: a reused step's outputs are the earlier run's
            else:
                _copy(Path(earlier["path"]), out.location.local_path)  # a bound/explicit path must be filled
                outputs[name] = {"path": str(out.location.local_path), "hash": earlier["hash"]}
        rec = self.records[step.path]
        now = time.time()
        self.store.update(rec, status="Reused", started=now, ended=now, reused_from=entry.run_name, error=None,
                          extra={**rec.extra, "cache_key": key,
                                 "outputs": {n: o["path"] for n, o in outputs.items()},
                                 "output_hashes": {n: o["hash"] for n, o in outputs.items()}})
        self.reporter.event("step", step=step.path, state="Reused", reused_from=entry.run_name,
                            message=f"Reused (outputs of {entry.run_name})")
        return StepResult("Reused", outputs, reused_from=entry.run_name)


def _groups_of(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _copy(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
