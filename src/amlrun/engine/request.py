"""What `amlrun run` was asked to do, as a value every runner reads (below the entry point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (yaml, which spec.overrides imports, is not needed to reuse a cached plan)
    from amlrun.spec.overrides import Override

__all__ = ["RunRequest"]


@dataclass
class RunRequest:
    """What `amlrun run` was asked to do, as a value."""

    file: Path
    overrides: list[Override] = field(default_factory=list)
    name: str | None = None
    store_root: Path | None = None
    max_parallel: int | None = None
    max_workers: int | None = None
    force_rerun: bool = False
    step: str | None = None
    dry_run: bool = False
    env: str | None = None  # --env auto|host|container (None: amlrun.yaml's default, else auto)
    strict_python: bool = False  # refuse to stand in another Python for the one an environment pins
    source: str | None = None  # the Python that built the job (`build.py:make_pipeline`), when `file` is its dump
    origin: Path | None = None  # where the project (amlrun.yaml, .amlrun/) is looked up; default: `file`
    debug: Any = None  # a debug.DebugSession for the job, or for the one pipeline step `step` names
    plan_watch: Any = None  # a plan_cache.PlanWatch noting what planning reads (the plan cache's key)

    def recorded_source(self) -> dict[str, str]:
        """The run record's `source` field: the Python a dumped job came from (what `show` names)."""
        return {"source": self.source} if self.source else {}
