"""The job summary in the service's layout, under the run folder.

    logs/job_result.txt                              one paragraph: succeeded or why it failed
    logs/job_error.txt                               errors that failed mini-batches or the job
    logs/job_progress_overview.<timestamp>.txt       the final counters
    logs/sys/job_report/processed_mini-batches.csv   one row per mini-batch: status, items, attempts
    logs/user/{stdout,stderr,entry_script_log,error}/...   what the workers and the entry script wrote
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from amlrun.engine.parallel.driver import DriverResult
from amlrun.engine.parallel.journal import HEADER_INDEX, Journal

__all__ = ["append_error_log", "short_returns_line", "summary_counts", "write_summary"]

# `partial`: run() returned fewer items than it got; the mini-batch was processed, the rest are failed items.
_CSV_STATUS = {"ok": "succeeded", "partial": "partial", "failed": "failed"}


def append_error_log(logs: Path, index: int, attempt: int, message: str) -> None:
    """Keep every failed attempt's traceback: logs/user/error/minibatch_<i>.txt."""
    folder = logs / "user" / "error"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"minibatch_{index}.txt", "a", encoding="utf-8") as fh:
        fh.write(f"--- mini-batch {index}, attempt {attempt} ---\n{message.rstrip()}\n")


def summary_counts(journal: Journal, result: DriverResult, error_threshold: int = -1) -> dict[str, Any]:
    """Counts over everything the journal holds (earlier sessions included)."""
    commits = [c for c in journal.commits.values() if c.index != HEADER_INDEX]
    stats = result.stats
    return {
        "status": result.status,
        "mini_batches": stats.total if stats.total is not None else len(commits),
        "processed": len(commits),
        "succeeded": sum(c.status != "failed" for c in commits),  # a short return is processed, items failed
        "failed": sum(c.status == "failed" for c in commits),
        "short": sum(c.status == "partial" for c in commits),
        "retried": stats.retries,
        "items": sum(c.items for c in commits),
        "items_succeeded": sum(min(c.returned, c.items) for c in commits if c.status != "failed"),
        "items_failed": sum(c.failed_items for c in commits),
        "workers": stats.workers,
        "first_mini_batch_seconds": None if stats.first_started is None else round(stats.first_started, 3),
        "partition_seconds": None if stats.partitioned is None else round(stats.partitioned, 3),
        "error_threshold": error_threshold,
        "error": result.error,
    }


def short_returns_line(counts: dict[str, Any]) -> str | None:
    """Why items failed in mini-batches that did not: run() returned fewer items than it got."""
    short = counts.get("short") or 0
    if not short:
        return None
    threshold = counts.get("error_threshold", -1)
    judged = "error_threshold=-1: failed items are not checked" if threshold is None or threshold < 0 \
        else f"counted against error_threshold={threshold}"
    return (f"{short} mini-batch{'es' if short != 1 else ''} returned fewer items from run() than {'they' if short != 1 else 'it'} "
            f"got: the missing ones are failed items ({judged})")


def write_summary(logs: Path, journal: Journal, result: DriverResult, error_threshold: int = -1) -> dict[str, Any]:
    counts = summary_counts(journal, result, error_threshold)
    report = logs / "sys" / "job_report"
    report.mkdir(parents=True, exist_ok=True)
    with open(report / "processed_mini-batches.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["mini_batch_index", "status", "items", "items_returned", "items_failed", "attempts",
                         "run_seconds", "error"])
        for c in sorted(journal.commits.values(), key=lambda c: c.index):
            if c.index == HEADER_INDEX:
                continue
            writer.writerow([c.index, _CSV_STATUS.get(c.status, c.status), c.items, c.returned,
                             c.failed_items, c.attempts, f"{c.duration:.3f}", c.error or ""])
    lines = [
        f"mini-batches: {counts['mini_batches']} total, {counts['processed']} processed, "
        f"{counts['succeeded']} succeeded, {counts['failed']} failed, {counts['retried']} retries",
        f"items: {counts['items']} processed, {counts['items_succeeded']} succeeded, {counts['items_failed']} failed",
    ]
    short = counts["short_returns"] = short_returns_line(counts)
    if short:
        lines.append(short)
    if result.status == "Completed":
        head = "Job succeeded: every mini-batch was processed and no error threshold was exceeded."
    else:
        head = f"Job {result.status.lower()}: {result.error}"
    (logs / "job_result.txt").write_text("\n".join([head, *lines]) + "\n", encoding="utf-8")
    stamp = time.strftime("%Y%m%d%H%M%S")
    (logs / f"job_progress_overview.{stamp}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = [f"mini-batch {c.index}: {c.error}" for c in sorted(journal.commits.values(), key=lambda c: c.index)
              if c.status == "failed" and c.error]
    if result.error:
        errors.insert(0, f"job: {result.error}")
    error_file = logs / "job_error.txt"
    if errors:
        error_file.write_text("\n".join(errors) + "\n", encoding="utf-8")
    elif error_file.exists():
        error_file.unlink()
    return counts
