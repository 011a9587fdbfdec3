"""Where amlrun keeps user-level state (outside any project): caches and the index of run names.

Each folder can be moved with an environment variable, so tests and CI never touch a real home:
`AMLRUN_CACHE_DIR` (default `$XDG_CACHE_HOME/amlrun`, else `~/.cache/amlrun`) and
`AMLRUN_STATE_DIR` (default `$XDG_STATE_HOME/amlrun`, else `~/.local/state/amlrun`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "state_dir"]


def cache_dir() -> Path:
    """Disposable data: deleting it costs time, never results (e.g. azure-ai-ml's verdicts)."""
    return _folder("AMLRUN_CACHE_DIR", "XDG_CACHE_HOME", Path(".cache"))


def state_dir() -> Path:
    """Small user-level state worth keeping (e.g. which store holds which run)."""
    return _folder("AMLRUN_STATE_DIR", "XDG_STATE_HOME", Path(".local") / "state")


def _folder(own: str, xdg: str, under_home: Path) -> Path:
    if os.environ.get(own):
        return Path(os.environ[own]).expanduser()
    base = os.environ.get(xdg)
    return (Path(base).expanduser() if base else Path.home() / under_home) / "amlrun"
