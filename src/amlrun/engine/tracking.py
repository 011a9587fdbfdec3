"""What a local job tells MLflow: its experiment, each step's run, tags and literal inputs as params.

The endpoint and the store are `store.tracking`'s; this module decides names and what each run says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext
from amlrun.engine.events import Reporter
from amlrun.engine.plan import StepPlan
from amlrun.spec.node import Node
from amlrun.store.records import RunRecord, RunStore
from amlrun.store.tracking import Tracking, project_tracking_uri, tracking_artifact_root

__all__ = ["experiment_name", "mentions_mlflow", "open_tracking", "record_tracking", "start_step_tracking",
           "step_params", "step_tags", "tracking_extra"]


def experiment_name(node: Node, spec_path: Path) -> str:
    """`experiment_name` of the job, else the job file's folder name, as the service picks it."""
    job = node.job if node.job is not None else node.definition
    return getattr(job, "experiment_name", None) or Path(spec_path).resolve().parent.name or "Default"


def open_tracking(node: Node, spec_path: Path, data: DataContext, reporter: Reporter) -> Tracking:
    """Start the job's tracking endpoint (a listening socket; MLflow loads when a step first calls it)."""
    uri = project_tracking_uri(data.store_root, data.config)
    return Tracking(uri, experiment_name(node, spec_path), tracking_artifact_root(data.store_root),
                    note=lambda message: reporter.event("note", message=message),
                    fallback=data.store_root / "tracking" / "mlruns").start()


_CODE_SUFFIXES = {".py", ".ipynb", ".sh", ".r", ".cfg", ".toml", ".yml", ".yaml"}
_SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".amlrun", "mlruns"}


def mentions_mlflow(plan: StepPlan, max_files: int = 3000) -> bool:
    """Whether a step's command or code names MLflow: then it will very likely call the endpoint."""
    if "mlflow" in (plan.command or "").lower():
        return True
    if plan.code_dir is None or not plan.code_dir.is_dir():
        return False
    return _code_mentions_mlflow(plan.code_dir.resolve(), max_files)


_CODE_VERDICTS: dict[tuple[Path, int], bool] = {}  # steps of a pipeline share code folders: read each once


def _code_mentions_mlflow(code_dir: Path, max_files: int) -> bool:
    """Whether a code file in `code_dir` names MLflow (a hint for prefetching: kept for the process)."""
    key = (code_dir, max_files)
    if key not in _CODE_VERDICTS:
        _CODE_VERDICTS[key] = _read_for_mlflow(code_dir, max_files)
    return _CODE_VERDICTS[key]


def _read_for_mlflow(code_dir: Path, max_files: int) -> bool:
    seen = 0
    for folder, dirs, files in os.walk(code_dir):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS]
        for name in files:
            if Path(name).suffix.lower() not in _CODE_SUFFIXES:
                continue
            seen += 1
            if seen > max_files:
                return False
            try:
                with open(os.path.join(folder, name), "rb") as fh:
                    if b"mlflow" in fh.read(2_000_000):
                        return True
            except OSError:
                continue
    return False


def start_step_tracking(tracking: Tracking, plan: StepPlan, key: str) -> None:
    """Give the step its MLFLOW_* variables; load MLflow meanwhile when its code names it."""
    plan.tracking_env = tracking.env(key)
    tracking.prefetch(lambda: mentions_mlflow(plan))


def step_tags(plan: StepPlan, step_path: str | None = None) -> dict[str, str]:
    tags = {"amlrun.job_type": plan.kind, "amlrun.environment": plan.environment.label}
    if step_path:
        tags["amlrun.step"] = step_path
    return tags


def step_params(plan: StepPlan) -> dict[str, Any]:
    """Literal inputs (numbers, strings, booleans): the values a run was made with."""
    return {name: item.value for name, item in plan.inputs.items() if item.is_literal and item.value is not None}


def tracking_extra(tracking: Tracking, ids: dict[str, str], name: str) -> dict[str, str]:
    """What a run record keeps of its MLflow run, so `show`, `runs --metric` and `report` find its values."""
    if name not in ids:
        linked = {"tracking_uri": tracking.uri} if tracking.linked else {}  # Reused steps show earlier values
        return {"experiment": tracking.experiment, **linked}
    return {"mlflow_run_id": ids[name], "experiment": tracking.experiment, "tracking_uri": tracking.uri}


def record_tracking(store: RunStore, records: list[RunRecord], tracking: Tracking, ids: dict[str, str]) -> None:
    for record in records:
        if record.name in ids or record.parent is None:
            store.update(record, extra={**record.extra, **tracking_extra(tracking, ids, record.name)})
