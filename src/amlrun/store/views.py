"""Print runs, one run, and logs for the CLI (stdout: the data; nothing else)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from amlrun.errors import RunError, UsageError
from amlrun.store.liveness import is_orphaned, reap_orphans
from amlrun.store.records import TERMINAL_STATES, RunRecord, RunStore, find_store_root, refuse_file_as_store
from amlrun.store.steps import resolve_step

__all__ = ["find_step", "open_existing_store", "print_logs", "print_run", "print_runs"]


def _store(root: Path | None, name: str | None = None) -> RunStore:
    """The run store; looking at runs never creates one (no stray `.amlrun/` where nothing ran).

    A run named here but kept in another project's store is found through the user-level index."""
    from amlrun.store.run_index import resolve_run_store

    root = resolve_run_store(root, name) if name else root or find_store_root()
    refuse_file_as_store(root)
    if not (root / "runs.db").exists():
        raise RunError(f"no run named {name!r} in {root}" if name else f"no runs yet in {root}",
                       hint="runs are kept in the project of the job file (the nearest folder with amlrun.yaml, "
                       ".git or pyproject.toml) or in $AMLRUN_HOME; run this there, or pass --store")
    store = RunStore(root)
    reap_orphans(store)
    return store


def open_existing_store(root: Path | None, name: str | None = None) -> RunStore:
    """The run store holding run `name`; an error (not a new store) when there is none."""
    return _store(root, name)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _dur(record: RunRecord) -> str:
    d = record.duration
    return f"{d:.1f}s" if d is not None and record.status != "Reused" else "-"  # a Reused step ran nothing


def print_runs(root: Path | None, limit: int, experiment: str | None = None, metric: str | None = None,
               ascending: bool = False) -> None:
    """Recent runs; `experiment` keeps that experiment's; `metric` adds its column and orders by it."""
    from rich.console import Console
    from rich.table import Table

    root = root or find_store_root()
    refuse_file_as_store(root)
    store = _store(root) if (root / "runs.db").exists() else None
    records = store.recent(limit if not (experiment or metric) else 100_000) if store is not None else []
    if experiment:
        records = [r for r in records if r.extra.get("experiment") == experiment]
    values: dict[str, float] = {}
    if metric and store is not None:
        values = _metric_values(store, records, metric)
        records = sorted(records, key=lambda r: (r.name not in values,
                                                 (values.get(r.name, 0.0) if ascending else -values.get(r.name, 0.0))))
    records = records[:limit]
    if not records:
        where = f" of experiment {experiment!r}" if experiment else ""
        print(f"no runs{where} yet in {root}", file=sys.stderr)
    _mention_other_stores(root)
    if not records:
        return
    table = Table(box=None, pad_edge=False)
    columns = ["name", "type", "status", "started", "duration"] + (["experiment"] if experiment or metric else [])
    for col in (*columns, *([metric] if metric else [])):
        table.add_column(col, justify="right" if col == metric else "left")
    for r in records:
        row = [r.name, r.type, _status(r), _when(r.started or r.created), _dur(r)]
        if experiment or metric:
            row.append(r.extra.get("experiment") or "-")
        if metric:
            row.append(f"{values[r.name]:.6g}" if r.name in values else "-")
        table.add_row(*row)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def _mention_other_stores(root: Path) -> None:
    """Runs started from other projects are not lost: say where they are (the user-level index knows)."""
    from amlrun.store.run_index import other_stores

    for store, count in sorted(other_stores(root).items()):
        print(f"[amlrun] {count} run{'s' if count != 1 else ''} kept in {store}: `amlrun runs --store {store}` "
              "(show/logs/resume find them by name from anywhere)", file=sys.stderr)


def _metric_values(store: RunStore, records: list[RunRecord], metric: str) -> dict[str, float]:
    """run name -> the last value of `metric` it logged (a pipeline: its own, else its first step's)."""
    from amlrun.store.tracking_read import read_values, tracked_id

    by_uri: dict[str, list[tuple[str, list[str]]]] = {}
    for record in records:
        uri = record.extra.get("tracking_uri")
        if not uri:
            continue
        ids = [tracked_id(r, _get_or_none(store, r.reused_from) if r.reused_from else None)
               for r in (record, *_descendants(store, record.name))]
        by_uri.setdefault(uri, []).append((record.name, [i for i in ids if i]))
    found: dict[str, float] = {}
    for uri, runs in by_uri.items():
        values = read_values(uri, [i for _, ids in runs for i in ids])
        for name, ids in runs:
            value = next((values[i].metrics[metric] for i in ids if i in values and metric in values[i].metrics),
                         None)
            if value is not None:
                found[name] = value
    return found


def _status(record: RunRecord) -> str:
    if is_orphaned(record) or (record.status == "Failed" and record.extra.get("orphaned")):
        return "Failed (orphaned)"
    return record.status


def print_run(root: Path | None, name: str, step: str | None = None) -> None:
    store = _store(root, name)
    record = store.get(name)
    if step:
        record = find_step(store, record, step)
    lines = [
        f"name:      {record.name}",
        f"type:      {record.type}",
        f"status:    {_status(record)}",
        f"started:   {_when(record.started)}",
        f"duration:  {_dur(record)}",
        f"folder:    {record.run_dir}" + ("" if Path(record.run_dir).is_dir() else "  (missing: deleted or moved)"),
    ]
    if record.extra.get("source"):
        lines.append(f"source:    {record.extra['source']} (built with azure-ai-ml)")
    if record.spec_path:
        lines.append(f"spec:      {record.spec_path}" + ("  (its YAML dump)" if record.extra.get("source") else ""))
    if record.extra.get("package"):
        lines.append(f"package:   {record.extra['package'].get('hash')} (from {record.extra['package'].get('source')})")
    if record.exit_code is not None:
        lines.append(f"exit code: {record.exit_code}")
    if record.reused_from:
        lines.append(f"reused:    from {record.reused_from}")
    if record.error:
        lines.append(f"error:     {record.error}")
    if record.extra.get("overrides"):
        lines.append("overrides: " + " ".join(
            f"--set {o[0]}={o[1]}" if isinstance(o, list | tuple) else f"--set {o}" for o in record.extra["overrides"]))
    if record.extra.get("environment"):
        lines.append(f"env:       {record.extra['environment']}")
    command = record.extra.get("command")
    if command:
        lines.append(f"command:   {command}")
    unpublished = record.extra.get("unpublished") or {}
    for key, value in (record.extra.get("outputs") or {}).items():
        aside = (f" (not published: the run did not succeed; what it wrote is in {unpublished[key]}"
                 " until the next run writing there)") if key in unpublished else ""
        lines.append(f"output:    {key} -> {value}{aside}")
    lines.extend(_artifact_lines(record))
    lines.extend(_parallel_lines(record))
    tracked = _tracked_values(store, record)
    if record.extra.get("mlflow_run_id"):
        lines.append(f"experiment: {record.extra['experiment']} (MLflow run {record.extra.get('mlflow_run_id')}; "
                     "`amlrun ui` to browse)")
    if tracked.get(record.name):
        lines.append(f"tracked:   {tracked[record.name]}")
    print("\n".join(lines))
    _print_children(store, record, indent="", tracked=tracked)


def _tracked_values(store: RunStore, record: RunRecord) -> dict[str, str]:
    """run name -> its metrics and params as one line, for a run and its steps that used MLflow."""
    uri = record.extra.get("tracking_uri")
    if not uri:
        return {}
    from amlrun.store.tracking_read import format_values, read_values, tracked_id

    records = [record, *_descendants(store, record.name)]
    ids: dict[str, str] = {}
    for r in records:
        reused = _get_or_none(store, r.reused_from) if r.status == "Reused" and r.reused_from else None
        run_id = tracked_id(r, reused)
        if run_id:
            ids[r.name] = run_id
    values = read_values(uri, list(ids.values()))
    return {name: format_values(values.get(run_id)) for name, run_id in ids.items() if values.get(run_id)}


def _descendants(store: RunStore, name: str) -> list[RunRecord]:
    found = []
    for child in store.children(name):
        found += [child, *_descendants(store, child.name)]
    return found


def _get_or_none(store: RunStore, name: str) -> RunRecord | None:
    try:
        return store.get(name)
    except RunError:
        return None


def _print_children(store: RunStore, record: RunRecord, indent: str, tracked: dict[str, str] | None = None) -> None:
    children = store.children(record.name)
    if not children:
        return
    if not indent:
        print("steps:")
    for child in children:
        extra = f" (reused from {child.reused_from})" if child.reused_from else ""
        step = child.extra.get("step", child.name)
        env = f"  [{child.extra['environment']}]" if child.extra.get("environment") else ""
        values = f"  {tracked[child.name]}" if tracked and tracked.get(child.name) else ""
        print(f"{indent}  {step:<20} {child.status:<10} {_dur(child):>8}{extra}{env}{values}{_parallel_brief(child)}")
        _print_children(store, child, indent + "  ", tracked)


def find_step(store: RunStore, run: RunRecord, wanted: str) -> RunRecord:
    """A step of pipeline run `run`, at any depth: by full name (`outer.inner`), unique short name or run name."""
    steps = _steps_of(store, run.name)
    if not steps:
        raise UsageError(f"run {run.name} is a {run.type} job, which has no steps",
                         hint="drop --step")
    by_run_name = [r for r in steps.values() if r.name == wanted]
    if by_run_name:
        return by_run_name[0]
    return steps[resolve_step(wanted, list(steps), f"run {run.name}")]


def _steps_of(store: RunStore, name: str) -> dict[str, RunRecord]:
    """step path -> record, nested pipelines' steps just after their pipeline, as `show` lists them."""
    found: dict[str, RunRecord] = {}
    for child in store.children(name):
        found[child.extra.get("step_path") or child.extra.get("step") or child.name] = child
        found.update(_steps_of(store, child.name))
    return found


def _log_record(store: RunStore, run: RunRecord, step: str) -> RunRecord:
    """The record whose log `logs --step` prints: a reused step's log is the run it reused."""
    record = find_step(store, run, step)
    path = record.extra.get("step_path", step)
    if record.type == "pipeline":
        inner = [p for p, r in _steps_of(store, record.name).items() if r.type != "pipeline"]
        raise UsageError(f"step {path} of run {run.name} is a nested pipeline; its steps have the logs: "
                         f"{', '.join(inner)}", hint=f"`amlrun logs {run.name} --step {inner[0]}`" if inner else None)
    if record.status == "Reused" and record.reused_from:
        try:
            earlier = store.get(record.reused_from)
        except RunError:
            raise RunError(f"step {path} of run {run.name} reused run {record.reused_from}, whose record is gone",
                           hint=f"run it again: `amlrun run {run.spec_path} --step {path} --force-rerun`") from None
        print(f"[amlrun] step {path} was Reused: this is the log of {earlier.name}, the run whose outputs it reused",
              file=sys.stderr)
        return earlier
    return record


def print_logs(root: Path | None, name: str, follow: bool = False, step: str | None = None) -> str:
    """Print a run's log (following it until the run ends); returns the run's status at the end."""
    store = _store(root, name)
    record = store.get(name)
    if step:
        record = _log_record(store, record, step)
    log = Path(record.run_dir) / "user_logs" / "std_log.txt"
    if not Path(record.run_dir).is_dir():
        raise RunError(f"the folder of run {record.name} is gone ({record.run_dir}), and its log with it",
                       hint=f"`amlrun show {record.name}` still shows what the index kept; run the job again "
                            "for a new log")
    if not log.exists() and record.status in TERMINAL_STATES and record.type != "pipeline":
        raise RunError(f"run {record.name} has no log: {log} does not exist",
                       hint="it was deleted, or the run ended before its command started; "
                            f"`amlrun show {record.name}` says why")
    position = 0
    while True:
        if log.exists():
            with open(log, "rb") as fh:
                fh.seek(position)
                chunk = fh.read()
                position += len(chunk)
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
        current = store.get(record.name)
        if follow and is_orphaned(current):
            reap_orphans(store)
            current = store.get(record.name)
        if follow and current.extra.get("orphaned"):
            print(f"[amlrun] the process running {record.name} is gone; the run will not finish", file=sys.stderr)
            break
        if not follow or current.status in TERMINAL_STATES:
            if follow and log.exists() and log.stat().st_size > position:
                continue
            break
        time.sleep(0.2)
    if record.type == "pipeline":
        steps = [p for p, r in _steps_of(store, record.name).items() if r.type != "pipeline"]
        if steps:
            print(f"[amlrun] {record.name} is a pipeline: this log has its steps' events; a step's own output: "
                  f"`amlrun logs {record.name} --step {steps[0]}` (steps: {', '.join(steps)})", file=sys.stderr)
    return _status(current)


def _artifact_lines(record: RunRecord, limit: int = 20) -> list[str]:
    """What the job wrote under ./outputs and ./logs, kept as the run's artifacts."""
    artifacts = record.extra.get("artifacts")
    if not artifacts:
        return []
    files = list(artifacts.get("files") or [])
    lines = [f"artifacts: {artifacts.get('folder')} ({len(files)} file{'s' if len(files) != 1 else ''})"]
    lines.extend(f"           {name}" for name in files[:limit])
    if len(files) > limit:
        lines.append(f"           ... and {len(files) - limit} more in that folder")
    return lines


def _parallel_brief(record: RunRecord) -> str:
    """`  99/99 mini-batches, 11979 items failed` beside a parallel step in a pipeline's step list."""
    counts = record.extra.get("parallel")
    if not counts:
        return ""
    text = f"  {counts.get('succeeded')}/{counts.get('mini_batches')} mini-batches"
    if counts.get("failed"):
        text += f", {counts['failed']} failed"
    if counts.get("items_failed"):
        text += f", {counts['items_failed']} items failed"
    return text


def _parallel_lines(record: RunRecord) -> list[str]:
    """A parallel job's summary (mini-batches and items), as in its logs/job_result.txt."""
    counts = record.extra.get("parallel")
    if not counts:
        return []
    lines = [
        f"mini-batches: {counts.get('mini_batches')} total, {counts.get('succeeded')} succeeded, "
        f"{counts.get('failed')} failed, {counts.get('retried')} retries",
        f"items:     {counts.get('items')} processed, {counts.get('items_succeeded')} succeeded, "
        f"{counts.get('items_failed')} failed",
    ]
    if counts.get("short_returns"):
        lines.append(f"           {counts['short_returns']}")
    if record.extra.get("append_row_file"):
        lines.append(f"rows:      {record.extra['append_row_file']}")
    lines.append(f"summary:   {Path(record.run_dir) / 'logs' / 'job_result.txt'}")
    threshold = counts.get("error_threshold")
    return lines + _failed_mini_batches(Path(record.run_dir), with_short=threshold is not None and threshold >= 0)


_SHOWN_FAILURES = 10


def _failed_mini_batches(run_dir: Path, with_short: bool = False) -> list[str]:
    """The first failed mini-batches with their items and error line, and where the rest are; with
    `with_short`, also those whose run() returned fewer items than it got (their failed items count)."""
    import json

    try:
        lines = (run_dir / "parallel" / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    commits = []
    for line in lines:
        try:
            commits.append(json.loads(line))
        except ValueError:
            break
    commits.sort(key=lambda c: c.get("index", 0))
    failed = [c for c in commits if c.get("status") == "failed"]
    short = [c for c in commits if c.get("status") == "partial"] if with_short else []
    if not failed and not short:
        return []
    out: list[str] = []
    for title, group in (("failed mini-batches", failed), ("mini-batches with failed items", short)):
        if not group:
            continue
        out.append(f"{title} ({len(group)}):")
        for c in group[:_SHOWN_FAILURES]:
            items = ", ".join(c.get("what") or []) or f"{c.get('items')} items"
            attempts = c.get("attempts", 1)
            out.append(f"  #{c.get('index')} ({attempts} attempt{'s' if attempts != 1 else ''}): {items}")
            if c.get("error"):
                out.append(f"      {c['error']}")
        if len(group) > _SHOWN_FAILURES:
            out.append(f"  {len(group) - _SHOWN_FAILURES} more")
    logs = run_dir / "logs"
    out.append(f"  every failed attempt's traceback: {logs / 'user' / 'error'}/minibatch_<n>.txt; "
               f"all mini-batches: {logs / 'sys' / 'job_report' / 'processed_mini-batches.csv'}")
    return out
