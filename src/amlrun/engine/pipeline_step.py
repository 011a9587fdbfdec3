"""One pipeline step at a time: decide reuse or run it in a worker thread, report, and record it.

`pipeline_loop` owns the scheduler and asks this module to start steps; results come back on a queue.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.locations import Location
from amlrun.engine.cache import StepCache, cache_key, copy_output, input_part, step_key
from amlrun.engine.command_step import StepOutcome, run_command_step
from amlrun.engine.events import Reporter
from amlrun.engine.pipeline_plan import PipelinePlan, PlannedStep
from amlrun.engine.plan import InputPlan, StepPlan
from amlrun.engine.tracking import start_step_tracking, step_params, step_tags
from amlrun.errors import AmlrunError, RunError
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.tracking import Tracking

__all__ = ["StepLauncher", "StepResult", "groups_of"]


@dataclass
class StepResult:
    """What a worker reports back: the final status and where the step's outputs now are."""

    status: str
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"path", "hash"}
    reused_from: str | None = None
    error: str | None = None
    duration: float = 0.0


class StepLauncher:
    """Step records, reuse decisions and step runs of one pipeline execution (the scheduler is elsewhere)."""

    def __init__(self, plan: PipelinePlan, store: RunStore, record: RunRecord, reporter: Reporter,
                 stop: threading.Event, max_workers: int | None) -> None:
        self.plan = plan
        self.store = store
        self.record = record
        self.reporter = reporter
        self.stop = stop
        self.max_workers = max_workers
        self.forced: set[str] = set()  # steps that must run even when an earlier run could be reused
        self.cache = StepCache(store.root)
        self.records: dict[str, RunRecord] = {}
        self.group_records: dict[str, RunRecord] = {}
        self.outputs: dict[str, dict[str, dict[str, str]]] = {}  # step path -> its outputs, once finished
        self.results: queue.Queue[tuple[str, StepResult]] = queue.Queue()
        self.tracking: Tracking | None = None  # the MLflow runs of this execution, when tracking is on
        self.static_keys: dict[str, str] = {}  # step path -> static_key of its plan (the plan cache keeps them)

    # -- records --------------------------------------------------------------------------------

    def create_records(self, steps: list[str], finished: dict[str, RunRecord], created: dict[str, float]) -> None:
        """A record per step (NotStarted) and per nested pipeline; a resumed run keeps creation times."""
        spec_path = self.record.spec_path or ""
        new: list[RunRecord] = []
        for path in steps:
            step = self.plan.steps[path]
            for group in groups_of(path):  # a nested pipeline's record comes just before its first step
                if group not in self.group_records:
                    self._create_group_record(group)
            if path in finished:
                self.records[path] = finished[path]
                continue
            parent = self.group_records[step.group].name if step.group else self.record.name
            rec = RunRecord(name=step.run_name, type=step.kind, status="NotStarted", run_dir=str(step.plan.run_dir),
                            parent=parent, spec_path=spec_path,
                            extra={"step": path.rsplit(".", 1)[-1], "step_path": path,
                                   "environment": step.plan.environment.label})
            if self.tracking is not None:
                earlier = self.store.get(step.run_name) if path in created else None  # resumed: same MLflow run
                self.tracking.add_run(step.run_name, parent, step_tags(step.plan, path), step_params(step.plan),
                                      run_id=earlier.extra.get("mlflow_run_id") if earlier is not None else None)
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
        if self.tracking is not None:
            self.tracking.add_run(rec.name, parent, {"amlrun.job_type": "pipeline", "amlrun.step": path},
                                  run_id=rec.extra.get("mlflow_run_id"))

    # -- one step (worker thread) ---------------------------------------------------------------

    def start(self, path: str) -> threading.Thread:
        """Run step `path` in a worker thread; its result arrives on `self.results`."""
        worker = threading.Thread(target=self._worker, args=(path,), name=f"step-{path}", daemon=True)
        worker.start()
        return worker

    def mark(self, path: str, status: str, reason: str) -> None:
        """Record a step the scheduler skipped or canceled without running it."""
        self.store.update(self.records[path], status=status, error=reason, started=None, ended=None)
        if self.tracking is not None:
            self.tracking.end_run(self.records[path].name, status)
        self.reporter.event("step", step=path, state=status, message=reason)

    def _worker(self, path: str) -> None:
        reported = threading.Event()

        def report(result: StepResult) -> None:
            reported.set()
            self.results.put((path, result))

        try:
            self._run_step(self.plan.steps[path], report)
        except Exception as exc:  # noqa: BLE001 - a step's failure must never hang the pipeline
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
        if self.tracking is not None:
            start_step_tracking(self.tracking, step.plan, step.run_name)
        outcome = self._execute(step)
        ended = time.time()
        if self.tracking is not None:
            self.tracking.end_run(step.run_name, outcome.status, rec.started, ended)
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
        for kept in ("parallel", "append_row_file", "unpublished", "artifacts"):
            if outcome.extra.get(kept):
                extra[kept] = outcome.extra[kept]
        self.store.update(rec, status=outcome.status, ended=ended, exit_code=outcome.exit_code,
                          error=outcome.error, extra=extra)

    def _execute(self, step: PlannedStep) -> StepOutcome:
        if step.kind == "parallel":
            from amlrun.engine.parallel.step import run_parallel_step

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
        static = self.static_keys.get(step.path)
        if static is None:
            static = self.static_keys[step.path] = static_key(step.plan)
        code = self.cache.hash_code(step.plan.code_dir) if step.plan.code_dir is not None else None
        return step_key(static, code, {name: input_part(input_ref(item), self.cache, self.outputs)
                                       for name, item in step.plan.inputs.items()})

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
                copy_output(Path(earlier["path"]), out.location.local_path)  # a bound/explicit path must be filled
                outputs[name] = {"path": str(out.location.local_path), "hash": earlier["hash"]}
        rec = self.records[step.path]
        now = time.time()
        self.store.update(rec, status="Reused", started=now, ended=now, reused_from=entry.run_name, error=None,
                          extra={**rec.extra, "cache_key": key,
                                 "outputs": {n: o["path"] for n, o in outputs.items()},
                                 "output_hashes": {n: o["hash"] for n, o in outputs.items()}})
        if self.tracking is not None:
            self._track_reuse(rec, entry.run_name)
        self.reporter.event("step", step=step.path, state="Reused", reused_from=entry.run_name,
                            message=f"Reused (outputs of {entry.run_name})")
        return StepResult("Reused", outputs, reused_from=entry.run_name)

    def _track_reuse(self, rec: RunRecord, earlier_name: str) -> None:
        """A Reused step's MLflow run links the run whose outputs (and metrics) it reused."""
        assert self.tracking is not None
        try:
            earlier = self.store.get(earlier_name)
        except RunError:
            earlier = None
        tags = {"amlrun.reused_from": earlier_name}
        if earlier is not None and earlier.extra.get("mlflow_run_id"):
            tags["amlrun.reused_run_id"] = earlier.extra["mlflow_run_id"]
            self.tracking.linked = True
        self.tracking.add_run(rec.name, rec.parent, tags)
        self.tracking.end_run(rec.name, "Reused", rec.started, rec.ended)


def groups_of(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def static_key(plan: StepPlan) -> str:
    """The digest of what decides a step's outputs besides its code and its inputs' contents."""
    node = plan.node
    return cache_key({
        "kind": plan.kind,
        "definition": node.definition.model_dump(mode="json", exclude_none=True, by_alias=True),
        "settings": {k: (v.model_dump(mode="json", exclude_none=True) if hasattr(v, "model_dump") else v)
                     for k, v in node.settings.items()},
        "command": plan.command,
        "environment": plan.environment.fingerprint,
        "environment_variables": plan.environment_variables,
        "timeout": plan.timeout,
        "outputs": {n: [o.type, o.mode] for n, o in plan.outputs.items()},
        "parallel": plan.parallel,
    })


def input_ref(item: InputPlan) -> list[Any]:
    """Where a step input's key part comes from, as plain data a plan cache entry can keep (`cache.input_part`)."""
    if item.from_step is not None:
        return ["step", item.from_step, item.from_output or "", item.type, item.mode]
    if item.location is not None:
        local = item.location.local_path
        return ["path", str(local), item.type, item.mode] if local is not None else \
            ["uri", item.location.uri, item.type, item.mode]
    return ["value", item.value, item.type]
