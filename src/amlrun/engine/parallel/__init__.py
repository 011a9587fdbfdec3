"""Parallel jobs (`type: parallel`) run locally with the service's semantics.

    plan.py       settings from YAML and PRS flags; plan_parallel_step
    partition.py  input -> mini-batch descriptors (files, or pickled DataFrames from an MLTable)
    worker.py     the worker process: init(), run(mini_batch[, context]), shutdown()
    driver.py     scheduling, retries, timeouts, replaced workers, thresholds
    journal.py    durable per-mini-batch state, exactly-once append_row output
    summary.py    logs/job_result.txt, processed_mini-batches.csv, ...
    progress.py   a live bar or plain lines
    step.py       run_parallel_step (pipeline steps and standalone jobs)
    job.py        run_parallel_job / resume_parallel_job (standalone job files)
"""


from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlrun.engine.parallel.job import resume_parallel_job, run_parallel_job
    from amlrun.engine.parallel.plan import ParallelSettings, plan_parallel_step
    from amlrun.engine.parallel.step import forget_mini_batches, run_parallel_step

__all__ = ["ParallelSettings", "forget_mini_batches", "plan_parallel_step", "resume_parallel_job", "run_parallel_job",
           "run_parallel_step"]

_HOMES = {"ParallelSettings": "plan", "plan_parallel_step": "plan", "resume_parallel_job": "job",
          "run_parallel_job": "job", "run_parallel_step": "step", "forget_mini_batches": "step"}


def __getattr__(name: str) -> Any:
    """Exports load on first use: the table-reading process imports `partition` without the engine."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"amlrun.engine.parallel.{_HOMES[name]}"), name)
    raise AttributeError(name)
