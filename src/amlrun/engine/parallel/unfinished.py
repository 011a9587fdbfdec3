"""What a parallel run or step still has to do after it Completed: the one rule `amlrun resume` applies."""

from __future__ import annotations

from amlrun.store.records import RunRecord

__all__ = ["mini_batches_left"]


def mini_batches_left(record: RunRecord) -> int:
    """Failed mini-batches of a parallel run or step that still Completed (within its error thresholds).

    The one rule for both standalone jobs and pipeline steps of what `amlrun resume` still has to do.
    """
    if record.type != "parallel" or record.status != "Completed":
        return 0
    counts = record.extra.get("parallel")
    return int((counts or {}).get("failed") or 0)
