"""`amlrun.run(...)`: run a job from Python (tests, notebooks) and get a result to assert on.

    result = amlrun.run("pipeline.yml", set={"inputs.epochs": 2})
    assert result.steps["train"].status == "Completed"
    model = result.outputs["model"] / "model.pkl"

The job is a YAML file, `"build.py:make_pipeline"`, or an azure-ai-ml job object (dumped with the
SDK's own serialisation, exactly as `amlrun run build.py:make_pipeline` does). A failed run is a
result (`result.ok` is False); `raise_on_failure=True` raises `RunFailed` carrying the failing step's
log tail instead. Problems in the job itself raise `amlrun.errors.SpecError` / `UsageError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.errors import RunError, UsageError

__all__ = ["RunFailed", "RunResult", "StepResult", "run"]

LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class StepResult:
    """One pipeline step as it ended: status, time, reuse, where its log and outputs are."""

    name: str  # full path, `outer.inner` for a step of a nested pipeline
    status: str  # Completed | Reused | Failed | Canceled | Skipped | NotStarted
    run_name: str
    folder: Path
    duration: float | None
    reused_from: str | None
    error: str | None
    outputs: dict[str, Path]
    parallel: dict[str, Any] | None  # a parallel step's summary: mini_batches, succeeded, failed, items...
    environment: str | None = None  # where it ran: the current interpreter, a venv, a container image

    @property
    def reused(self) -> bool:
        return self.reused_from is not None

    @property
    def log(self) -> Path:
        """The step's stdout+stderr (a parallel step: its driver's log; workers' logs are under logs/user)."""
        return self.folder / "user_logs" / "std_log.txt"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log, lines)


class Steps(dict[str, StepResult]):
    """Steps by full path; a unique leaf name works too (`steps["score"]` for `inner.score`)."""

    def __missing__(self, key: str) -> StepResult:
        from amlrun.store.steps import resolve_step

        try:
            return self[resolve_step(key, list(self), "this run")]
        except UsageError as exc:
            raise KeyError(f"{exc.message} ({exc.hint})") from None


@dataclass(frozen=True)
class RunResult:
    """A finished local run, read back from its record."""

    name: str
    status: str  # Completed | Failed | Canceled
    type: str  # command | pipeline | parallel
    folder: Path
    store: Path
    outputs: dict[str, Path]
    steps: Steps = field(default_factory=Steps)
    error: str | None = None
    source: str | None = None  # the Python a job object came from
    parallel: dict[str, Any] | None = None  # a standalone parallel job's summary

    @property
    def ok(self) -> bool:
        return self.status in ("Completed", "Reused")

    @property
    def log(self) -> Path:
        """The run's log: a command job's output, a pipeline's step events."""
        return self.folder / "user_logs" / "std_log.txt"

    def failed_steps(self) -> list[StepResult]:
        return [s for s in self.steps.values() if s.status == "Failed"]

    def raise_for_status(self) -> RunResult:
        """Raise `RunFailed` unless the run completed; return self so calls chain."""
        if not self.ok:
            raise RunFailed(self)
        return self


class RunFailed(RunError):
    """A run ended Failed or Canceled: names the failing step and carries its log's last lines."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        failed = result.failed_steps()
        step = failed[0] if failed else None
        what = f"step {step.name} {step.status}" + (f": {step.error}" if step.error else "") if step else \
            (result.error or result.status)
        tail = step.log_tail() if step else _tail(_failure_log(result), LOG_TAIL_LINES)
        message = f"run {result.name} {result.status}: {what}"
        if tail:
            message += f"\n--- last lines of {(step.log if step else _failure_log(result))} ---\n{tail}"
        super().__init__(message, hint=f"`amlrun show {result.name} --store {result.store}` for the whole record")
        self.step = step
        self.log_tail = tail


def _failure_log(result: RunResult) -> Path:
    errors = result.folder / "logs" / "job_error.txt"  # a parallel job's failed mini-batches
    return errors if result.type == "parallel" and errors.is_file() else result.log


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _paths(outputs: Mapping[str, Any] | None) -> dict[str, Path]:
    """Local outputs as Paths (a blob output stays its URI, as text)."""
    return {name: (value if "://" in str(value) else Path(str(value))) for name, value in (outputs or {}).items()}


def _overrides(values: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise UsageError("set= takes a mapping like {'inputs.epochs': 2}", hint="pass a dict of path -> value")
    return [(str(key), str(value) if isinstance(value, os.PathLike) else value) for key, value in values.items()]


def run(job: str | os.PathLike[str] | Any, *, set: Mapping[str, Any] | None = None,  # noqa: A002 - as --set
        step: str | None = None, name: str | None = None, store: str | os.PathLike[str] | None = None,
        max_workers: int | None = None, max_parallel: int | None = None, env: str | None = None,
        force_rerun: bool = False, raise_on_failure: bool = False, quiet: bool = False) -> RunResult:
    """Run a job locally, as `amlrun run` does, and return its result.

    `job`: a YAML job file, `"build.py:make_pipeline"` / `"pkg.module:fn"`, or an azure-ai-ml job.
    `set`: overrides as `--set` (`{"inputs.epochs": 2}`); `step`: one pipeline step and what it needs;
    `store`: the run store folder (default: `$AMLRUN_HOME`, else `.amlrun/` in the job's project);
    `env`: where steps run, as `--env` (auto, host or container; default: auto);
    `quiet`: no progress lines or job output on the terminal (the logs keep everything).
    """
    from amlrun.engine.events import PlainReporter, SilentReporter
    from amlrun.engine.runner import RunRequest, run_job

    for label, value in (("max_workers", max_workers), ("max_parallel", max_parallel)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UsageError(f"{label}={value!r} must be a positive integer", hint=f"omit {label} for the default")
    if env not in (None, "auto", "host", "container"):
        raise UsageError(f"env={env!r} is not an environment mode", hint="use 'auto', 'host' or 'container', as --env")
    request = RunRequest(file=Path("."), overrides=_overrides(set), name=name,
                         store_root=Path(store) if store is not None else None, max_parallel=max_parallel,
                         max_workers=max_workers, force_rerun=force_rerun, step=step, env=env)
    sdk = None
    if isinstance(job, str | os.PathLike):
        from amlrun.azureml.sdk_jobs import parse_target

        if isinstance(job, str) and parse_target(job) is not None:
            from amlrun.azureml.sdk_jobs import load_target

            sdk = load_target(job)
        else:
            request.file = Path(job)
    else:
        from amlrun.azureml.sdk_jobs import job_from_object

        sdk = job_from_object(job)
    reporter = SilentReporter() if quiet else PlainReporter(prefix_steps=True)
    if sdk is not None:
        from amlrun.azureml.sdk_local import blamed_on_python, sdk_run_request

        request = sdk_run_request(sdk, request)
        with blamed_on_python(sdk, request.file):
            record = run_job(request, reporter)
    else:
        record = run_job(request, reporter)
    result = read_result(record.name, Path(record.run_dir), _store_of(request))
    if raise_on_failure:
        result.raise_for_status()
    return result


def _store_of(request: Any) -> Path:
    from amlrun.store.records import find_store_root

    return Path(request.store_root) if request.store_root else find_store_root((request.origin or request.file).parent)


def read_result(name: str, folder: Path, store_root: Path) -> RunResult:
    """A run's result from its records: the run, and every step under it."""
    from amlrun.engine.pipeline import descendants
    from amlrun.store.records import RunStore

    store = RunStore(store_root)
    record = store.get(name)
    steps = Steps()
    for child in descendants(store, name) if record.type == "pipeline" else []:
        path = child.extra.get("step_path")
        if not path or child.type == "pipeline":
            continue  # nested pipelines: their steps are listed by full path
        steps[path] = StepResult(
            name=path, status=child.status, run_name=child.name, folder=Path(child.run_dir),
            duration=None if child.status == "Reused" else child.duration, reused_from=child.reused_from,
            error=child.error, outputs=_paths(child.extra.get("outputs")), parallel=child.extra.get("parallel"),
            environment=child.extra.get("environment"))
    return RunResult(name=record.name, status=record.status, type=record.type, folder=folder, store=store.root,
                     outputs=_paths(record.extra.get("outputs")), steps=steps, error=record.error,
                     source=record.extra.get("source"), parallel=record.extra.get("parallel"))
