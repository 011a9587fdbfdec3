"""`amlrun report RUN`: one self-contained HTML page about a run, to look at rather than read logs.

The page holds the pipeline graph (steps coloured by state, edges labelled with the data they carry),
each step's state, duration, reuse and environment, what it logged to MLflow (last values, small line
charts of metrics logged over steps), a parallel step's mini-batch summary (counts, slowest mini-batches,
errors grouped by message) and links to each step's logs. Plotly draws the graph and the charts; its
JavaScript is inlined once, so the page needs no network when it is opened.
"""

from __future__ import annotations

import csv
import html
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from amlrun.errors import UsageError
from amlrun.store.records import RunRecord, RunStore

__all__ = ["build_report"]

STATE_COLOURS = {
    "Completed": "#2e7d32", "Reused": "#00897b", "Failed": "#c62828", "Canceled": "#757575",
    "Skipped": "#9e9e9e", "NotStarted": "#bdbdbd", "Running": "#1565c0", "Preparing": "#1565c0",
}


@dataclass
class _Step:
    path: str
    record: RunRecord
    source: RunRecord  # the run that did the work: the record itself, or for a Reused step the run it reused
    values: Any = None  # TrackedValues
    histories: list[Any] = field(default_factory=list)


def build_report(store: RunStore, record: RunRecord) -> str:
    """The page for run `record` (a command, parallel or pipeline job), as one HTML string."""
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UsageError("amlrun report draws with plotly, which is not installed",
                         hint="pip install 'amlrun[report]'") from None
    steps = _steps(store, record)
    _read_tracking(record, steps)
    parts = [_header(record)]
    if record.type == "pipeline":
        parts.append('<h2>Graph</h2><div class="graph">' + _figure_html(_graph(go, record, steps)) + "</div>")
    parts.append(_steps_table(record, steps))
    parts.extend(_metrics_section(go, steps))
    parts.extend(_parallel_section(step) for step in steps if step.source.extra.get("parallel"))
    title = f"amlrun report: {record.name}"
    return _PAGE.format(title=html.escape(title), plotly=get_plotlyjs(), body="\n".join(p for p in parts if p),
                        made=html.escape(datetime.now().strftime("%Y-%m-%d %H:%M:%S")))


def _steps(store: RunStore, record: RunRecord) -> list[_Step]:
    """A pipeline's leaf steps in the order they were created; a single job is its own one step."""
    if record.type != "pipeline":
        return [_Step(record.name, record, record)]
    found: list[_Step] = []

    def walk(name: str) -> None:
        for child in store.children(name):
            if child.type == "pipeline":
                walk(child.name)
            else:
                path = child.extra.get("step_path") or child.extra.get("step") or child.name
                found.append(_Step(path, child, _reused(store, child) or child))

    walk(record.name)
    return found


def _reused(store: RunStore, record: RunRecord) -> RunRecord | None:
    if record.status != "Reused" or not record.reused_from:
        return None
    from amlrun.errors import RunError

    try:
        return store.get(record.reused_from)
    except RunError:
        return None


def _read_tracking(record: RunRecord, steps: list[_Step]) -> None:
    """Each step's params, last metric values and histories, when the run used MLflow."""
    uri = record.extra.get("tracking_uri")
    if not uri:
        return
    from amlrun.store.tracking_read import read_histories, read_values

    ids = {step.path: step.source.extra["mlflow_run_id"] for step in steps if step.source.extra.get("mlflow_run_id")}
    values = read_values(uri, list(ids.values()))
    for step in steps:
        run_id = ids.get(step.path)
        if run_id and run_id in values:
            step.values = values[run_id]
            step.histories = [h for h in read_histories(uri, run_id, sorted(step.values.metrics))
                              if len(h.values) > 1]


def _header(record: RunRecord) -> str:
    rows = [("run", record.name), ("type", record.type), ("status", _state(record.status)),
            ("started", _when(record.started)), ("duration", _duration(record))]
    if record.extra.get("experiment"):
        rows.append(("experiment", html.escape(record.extra["experiment"])))
    if record.spec_path:
        rows.append(("job file", html.escape(record.spec_path)))
    if record.error:
        rows.append(("error", html.escape(record.error)))
    cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<h1>{html.escape(record.name)}</h1><table class="facts">{cells}</table>'


def _state(status: str) -> str:
    colour = STATE_COLOURS.get(status, "#616161")
    return f'<span class="state" style="background:{colour}">{html.escape(status)}</span>'


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _duration(record: RunRecord) -> str:
    if record.status == "Reused" or record.started is None:
        return "-"
    return f"{(record.ended or time.time()) - record.started:.1f}s"


def _log_link(record: RunRecord) -> str:
    log = Path(record.run_dir) / "user_logs" / "std_log.txt"
    links = [f'<a href="{html.escape(log.as_uri())}">std_log.txt</a>'] if log.exists() else []
    parallel_logs = Path(record.run_dir) / "logs"
    if record.extra.get("parallel") and parallel_logs.is_dir():
        links.append(f'<a href="{html.escape(parallel_logs.as_uri())}/">logs/</a>')
    return " ".join(links) or "-"


def _steps_table(record: RunRecord, steps: list[_Step]) -> str:
    head = "<tr><th>step</th><th>type</th><th>state</th><th>duration</th><th>reuse</th><th>environment</th>" \
           "<th>logged to MLflow</th><th>logs</th></tr>"
    rows = []
    for step in steps:
        r = step.record
        reuse = f"reused from {html.escape(r.reused_from)}" if r.reused_from else "-"
        logged = _values_html(step.values)
        env = html.escape(str(r.extra.get("environment") or step.source.extra.get("environment") or "-"))
        error = f'<div class="error">{html.escape(r.error)}</div>' if r.error and r.status == "Failed" else ""
        rows.append(f'<tr class="step" data-step="{html.escape(step.path)}" data-state="{html.escape(r.status)}">'
                    f'<td class="name">{html.escape(step.path)}{error}</td><td>{html.escape(r.type)}</td>'
                    f"<td>{_state(r.status)}</td><td>{_duration(r)}</td><td>{reuse}</td><td>{env}</td>"
                    f"<td>{logged}</td><td>{_log_link(step.source)}</td></tr>")
    title = "Steps" if record.type == "pipeline" else "Job"
    return f'<h2>{title}</h2><table class="steps">{head}{"".join(rows)}</table>'


def _values_html(values: Any) -> str:
    if values is None:
        return "-"
    metrics = [f"<b>{html.escape(k)}</b>={v:.6g}" for k, v in sorted(values.metrics.items())]
    params = [f"{html.escape(k)}={html.escape(str(v))}" for k, v in sorted(values.params.items())]
    return "<br>".join(filter(None, [" ".join(metrics), '<span class="params">' + " ".join(params) + "</span>"
                                     if params else ""])) or "-"


def _metrics_section(go: Any, steps: list[_Step]) -> list[str]:
    charts = []
    for step in steps:
        for history in step.histories:
            fig = go.Figure(go.Scatter(x=history.steps, y=history.values, mode="lines+markers",
                                       line={"color": "#1565c0"}, name=history.key))
            fig.update_layout(title={"text": f"{step.path}: {history.key}", "font": {"size": 13}}, width=360,
                              height=220, margin={"l": 40, "r": 10, "t": 36, "b": 30}, showlegend=False,
                              xaxis_title=None, yaxis_title=None)
            charts.append(f'<div class="chart">{_figure_html(fig)}</div>')
    return ['<h2>Metrics over steps</h2><div class="charts">' + "".join(charts) + "</div>"] if charts else []


def _parallel_section(step: _Step) -> str:
    counts = step.source.extra.get("parallel") or {}
    rows = _mini_batch_rows(Path(step.source.run_dir))
    facts = (f'<table class="counts" data-step="{html.escape(step.path)}">'
             "<tr><th></th><th>total</th><th>ok</th><th>failed</th><th>retried</th></tr>"
             f"<tr><th>mini-batches</th><td class=\"mb-total\">{counts.get('mini_batches', 0)}</td>"
             f"<td class=\"mb-ok\">{counts.get('succeeded', 0)}</td><td class=\"mb-failed\">{counts.get('failed', 0)}"
             f"</td><td class=\"mb-retried\">{counts.get('retried', 0)}</td></tr>"
             f"<tr><th>items</th><td class=\"items-total\">{counts.get('items', 0)}</td>"
             f"<td class=\"items-ok\">{counts.get('items_succeeded', 0)}</td>"
             f"<td class=\"items-failed\">{counts.get('items_failed', 0)}</td><td>-</td></tr></table>")
    slowest = sorted(rows, key=lambda r: -_float(r.get("run_seconds")))[:5]
    slow_html = "".join(f"<tr><td>{html.escape(r.get('mini_batch_index', ''))}</td><td>{html.escape(r.get('status', ''))}"
                        f"</td><td>{html.escape(r.get('items', ''))}</td><td>{_float(r.get('run_seconds')):.2f}s</td></tr>"
                        for r in slowest)
    errors = Counter(r.get("error", "") for r in rows if r.get("error"))
    error_html = "".join(f'<tr><td class="count">{n}</td><td class="message">{html.escape(message)}</td></tr>'
                         for message, n in errors.most_common(20))
    return (f'<h2>Parallel step {html.escape(step.path)}</h2>{facts}'
            + (f"<h3>Slowest mini-batches</h3><table><tr><th>mini-batch</th><th>status</th><th>items</th>"
               f"<th>run()</th></tr>{slow_html}</table>" if slow_html else "")
            + (f'<h3>Errors by message</h3><table class="errors"><tr><th>mini-batches</th><th>message</th></tr>'
               f"{error_html}</table>" if error_html else ""))


def _mini_batch_rows(run_dir: Path) -> list[dict[str, str]]:
    report = run_dir / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    if not report.is_file():
        return []
    with open(report, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _graph(go: Any, record: RunRecord, steps: list[_Step]) -> Any:
    """Steps in layers (each one right of what it reads), coloured by state; edges carry output names."""
    edges = [tuple(e) for e in record.extra.get("edges") or []]  # (from_step, output, to_step, input)
    paths = [s.path for s in steps]
    layer = {p: 0 for p in paths}
    for _ in paths:  # longest path from a source; steps come in topological order, this settles fast
        for source, _out, target, _in in edges:
            if source in layer and target in layer:
                layer[target] = max(layer[target], layer[source] + 1)
    rows: dict[int, int] = {}
    position = {}
    for p in paths:
        position[p] = (layer[p], -rows.get(layer[p], 0))
        rows[layer[p]] = rows.get(layer[p], 0) + 1
    fig = go.Figure()
    for source, out, target, inp in edges:
        if source not in position or target not in position:
            continue
        (x0, y0), (x1, y1) = position[source], position[target]
        fig.add_annotation(x=x1 - 0.18, y=y1, ax=x0 + 0.18, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor="#607d8b", text="")
        label = out if out == inp else f"{out} → {inp}"
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2 + 0.12, text=html.escape(label), showarrow=False,
                           font={"size": 11, "color": "#455a64"}, bgcolor="rgba(255,255,255,0.8)")
    by_step = {s.path: s.record for s in steps}
    fig.add_trace(go.Scatter(
        x=[position[p][0] for p in paths], y=[position[p][1] for p in paths], mode="markers+text",
        marker={"symbol": "square", "size": 64, "color": [STATE_COLOURS.get(by_step[p].status, "#616161")
                                                          for p in paths], "line": {"width": 0}},
        text=[f"<b>{html.escape(p)}</b><br>{html.escape(by_step[p].status)}" for p in paths],
        textposition="bottom center", textfont={"size": 12},
        hovertext=[f"{p}: {by_step[p].status}, {_duration(by_step[p])}" for p in paths], hoverinfo="text"))
    width = max(420, 220 * (max(layer.values(), default=0) + 1))
    height = max(260, 150 * max(rows.values(), default=1))
    fig.update_layout(width=width, height=height, showlegend=False, plot_bgcolor="white",
                      margin={"l": 30, "r": 30, "t": 20, "b": 20},
                      xaxis={"visible": False, "range": [-0.5, max(layer.values(), default=0) + 0.5]},
                      yaxis={"visible": False, "range": [-max(rows.values(), default=1) + 0.4, 0.6]})
    return fig


def _figure_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False,
                                                                          "responsive": False})


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #212121; }}
h1 {{ font-size: 22px; margin: 0 0 8px; }} h2 {{ font-size: 17px; margin: 24px 0 8px; }}
h3 {{ font-size: 14px; margin: 12px 0 6px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ text-align: left; padding: 4px 10px; border-bottom: 1px solid #e0e0e0; vertical-align: top; }}
table.facts th {{ color: #616161; font-weight: normal; }}
.state {{ color: white; border-radius: 3px; padding: 1px 6px; font-size: 12px; }}
.error {{ color: #c62828; font-size: 12px; white-space: pre-wrap; max-width: 420px; }}
.params {{ color: #616161; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 8px; }}
footer {{ margin-top: 32px; color: #9e9e9e; font-size: 12px; }}
</style>
<script>{plotly}</script>
</head><body>
{body}
<footer>made by amlrun at {made}</footer>
</body></html>
"""
