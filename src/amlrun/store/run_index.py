"""A user-level index of run names to run stores, so a run is found by name from any folder.

Runs are kept in the store of the job file's project; `amlrun show NAME` typed in another folder
would not find it there. Each top-level run leaves one small file, `<state dir>/run-index/<name>`,
holding its store's path (one file per run: concurrent runs never contend, nothing to lock).
The state dir is `$AMLRUN_STATE_DIR` or the XDG state folder (amlrun.userdirs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from amlrun.store.records import RunStore, find_store_root, refuse_file_as_store
from amlrun.userdirs import state_dir

__all__ = ["other_stores", "remember_run", "resolve_run_store", "store_of"]


def _index() -> Path:
    return state_dir() / "run-index"


def remember_run(name: str, store_root: Path) -> None:
    """Record that run `name` lives in `store_root` (best effort: an unwritable index only loses the shortcut)."""
    try:
        folder = _index()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(str(Path(store_root).resolve()))
        os.replace(tmp, folder / name)
    except OSError:
        pass


def store_of(name: str) -> Path | None:
    """The store the index says holds run `name`, when that store still exists."""
    try:
        root = Path((_index() / name).read_text().strip())
    except (OSError, ValueError):
        return None
    return root if (root / "runs.db").is_file() else None


def _holds(root: Path, name: str) -> bool:
    return (root / "runs.db").is_file() and RunStore(root).exists(name)


def resolve_run_store(root: Path | None, name: str) -> Path:
    """The store holding run `name`: the given/project store when it has it, else the one the index names."""
    here = root or find_store_root()
    refuse_file_as_store(here)
    if _holds(here, name):
        return here
    elsewhere = store_of(name)
    if elsewhere is not None and elsewhere.resolve() != here.resolve() and _holds(elsewhere, name):
        print(f"[amlrun] run {name} is kept in {elsewhere}", file=sys.stderr)
        return elsewhere
    return here


def other_stores(root: Path) -> dict[Path, int]:
    """Stores other than `root` that the index knows, with how many indexed runs each holds."""
    counts: dict[Path, int] = {}
    try:
        entries = list(_index().iterdir())
    except OSError:
        return counts
    here = root.resolve()
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            store = Path(entry.read_text().strip())
        except OSError:
            continue
        if store.resolve() != here and (store / "runs.db").is_file():
            counts[store] = counts.get(store, 0) + 1
    return counts
