"""What a parallel run or step still has to do after it Completed: the one rule `amlrun resume` applies."""

from __future__ import annotations

from amlrun.store.records import RunRecord

__all__ = ["describe_left", "mini_batches_left"]


def _left(record: RunRecord) -> tuple[int, int]:
    """(failed mini-batches, mini-batches whose run() returned fewer items than it got) of a Completed run."""
    if record.type != "parallel" or record.status != "Completed":
        return 0, 0
    counts = record.extra.get("parallel") or {}
    return int(counts.get("failed") or 0), int(counts.get("short") or 0)


def mini_batches_left(record: RunRecord) -> int:
    """Mini-batches of a parallel run or step that still Completed (within its error thresholds) and that
    `amlrun resume` runs again: the failed ones and those with failed items (a short return).

    The one rule for both standalone jobs and pipeline steps of what `amlrun resume` still has to do.
    """
    return sum(_left(record))


def describe_left(record: RunRecord) -> str:
    """`1 failed mini-batch`, `2 mini-batches with failed items`, or both."""
    failed, short = _left(record)
    parts = []
    if failed:
        parts.append(f"{failed} failed mini-batch{'es' if failed != 1 else ''}")
    if short:
        parts.append(f"{short} mini-batch{'es' if short != 1 else ''} with failed items")
    return " and ".join(parts)
