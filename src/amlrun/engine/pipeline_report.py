"""What a pipeline run says and logs, shared by a planned run (`pipeline_loop`) and a fully reused one
(`pipeline_reused`), so both read the same. Imports nothing heavy: a reused run stays cheap."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from amlrun.engine.events import LoggingReporter, PlainReporter, Reporter
from amlrun.store.records import RunRecord

__all__ = ["live_or", "logged", "started_message", "summary_text"]


def live_or(reporter: Reporter) -> Reporter:
    """The live view on a terminal; the reporter we were given everywhere else."""
    if type(reporter) is PlainReporter and sys.stderr.isatty() and not os.environ.get("AMLRUN_PLAIN"):
        from amlrun.engine.live import LiveReporter

        return LiveReporter()
    return reporter


def logged(reporter: Reporter, run_dir: Path) -> Reporter:
    """Keep the pipeline's events (steps starting, finishing, the summary) as its log, for `amlrun logs RUN`."""
    return LoggingReporter(reporter, run_dir / "user_logs" / "std_log.txt", prefix_steps=True, close_inner=True)


def started_message(name: str, steps: list[str], max_parallel: int, run_dir: str, only: str | None = None,
                    upstream: int = 0) -> str:
    return (f"pipeline {name}: {len(steps)} step{'s' if len(steps) != 1 else ''}"
            + (f" (--step {only} and {upstream} upstream)" if only else "")
            + f", up to {max_parallel} at once (records: {run_dir})")


def summary_text(records: dict[str, RunRecord]) -> str:
    """The table printed when a pipeline ends: each step's status, duration and note."""
    rows = [("step", "status", "duration", "note")]
    for path, rec in records.items():
        dur = f"{rec.duration:.1f}s" if rec.duration is not None and rec.status not in ("Reused",) else "-"
        note = f"reused from {rec.reused_from}" if rec.reused_from else (rec.error or "")
        rows.append((path, rec.status, dur, note))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + ("  " + r[3] if r[3] else "") for r in rows]
    return "summary\n" + "\n".join(line.rstrip() for line in lines)
