"""What `amlrun run` was asked to do, as a value every runner reads (below the entry point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
