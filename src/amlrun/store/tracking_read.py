"""Read what runs logged to MLflow, through MLflow's own client (imported only when a run was tracked).

A run record knows its MLflow run id and store once a step of it called MLflow (`mlflow_run_id`,
`tracking_uri` in its extra); a Reused step shows the metrics of the run it reused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from amlrun.errors import RunError
from amlrun.store.records import RunRecord

__all__ = ["MetricHistory", "TrackedValues", "format_values", "read_histories", "read_values", "tracked_id"]


@dataclass
class TrackedValues:
    """A run's params and the last value of each metric."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class MetricHistory:
    key: str
    steps: list[int]
    values: list[float]


def tracked_id(record: RunRecord, reused: RunRecord | None = None) -> str | None:
    """The MLflow run whose values `record` shows: its own, or for a Reused step, the reused run's."""
    if record.status == "Reused" and reused is not None and reused.extra.get("mlflow_run_id"):
        return reused.extra["mlflow_run_id"]
    return record.extra.get("mlflow_run_id")


def _client(uri: str) -> Any:
    for name in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise RunError("this run's metrics are in MLflow, which is not installed here",
                       hint="pip install 'amlrun[tracking]'") from None
    return MlflowClient(uri)


def read_values(uri: str, run_ids: list[str]) -> dict[str, TrackedValues]:
    """run id -> its params and last metric values (runs deleted from the store since are left out)."""
    client = _client(uri)
    found: dict[str, TrackedValues] = {}
    for run_id in dict.fromkeys(run_ids):
        try:
            run = client.get_run(run_id)
        except Exception:  # noqa: BLE001 - deleted from the store since: show what is left
            continue
        found[run_id] = TrackedValues(dict(run.data.params), dict(run.data.metrics))
    return found


def read_histories(uri: str, run_id: str, keys: list[str]) -> list[MetricHistory]:
    client = _client(uri)
    histories = []
    for key in keys:
        points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        histories.append(MetricHistory(key, [m.step for m in points], [m.value for m in points]))
    return histories


def format_values(values: TrackedValues | None, limit: int = 8) -> str:
    """`acc=0.8 loss=0.1 | lr=0.1`: metrics first (last values), then params; long lists cut with `...`."""
    if values is None:
        return ""
    metrics = [f"{k}={_number(v)}" for k, v in sorted(values.metrics.items())]
    params = [f"{k}={v}" for k, v in sorted(values.params.items())]
    parts = metrics[:limit] + (["..."] if len(metrics) > limit else [])
    if params:
        parts += ["|", *params[:limit], *(["..."] if len(params) > limit else [])]
    return " ".join(parts)


def _number(value: float) -> str:
    return f"{value:.6g}"
