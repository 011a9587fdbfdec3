"""The venv cache as a user sees it: what is there, how big, when last used; pruning old entries."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from amlrun.envs.venvs import MARKER, cache_root, read_marker, venv_lock

__all__ = ["CachedEnv", "list_cached", "prune_cached"]


@dataclass
class CachedEnv:
    key: str
    folder: Path
    source: str
    python: str
    packages: list[str]
    size: int
    last_used: float


def _size(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def list_cached(root: Path | None = None) -> list[CachedEnv]:
    """Every finished venv in the cache, most recently used first."""
    root = root or cache_root()
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        marker = read_marker(folder) if folder.is_dir() else None
        if marker is None:
            continue
        found.append(CachedEnv(folder.name, folder, marker.get("source", "?"), marker.get("python", "?"),
                               list(marker.get("packages") or []), _size(folder),
                               (folder / MARKER).stat().st_mtime))
    return sorted(found, key=lambda e: -e.last_used)


def prune_cached(older_than: float | None = None, root: Path | None = None) -> tuple[list[CachedEnv], list[str]]:
    """Remove venvs unused for `older_than` seconds (all when None), and unfinished builds.

    Returns (removed, skipped because a run holds their lock). A venv being built is never removed.
    """
    root = root or cache_root()
    removed, busy = [], []
    cutoff = None if older_than is None else time.time() - older_than
    for env in list_cached(root):
        if cutoff is not None and env.last_used >= cutoff:
            continue
        with venv_lock(root, env.key, wait=False) as locked:
            if not locked:
                busy.append(env.key)
                continue
            shutil.rmtree(env.folder, ignore_errors=True)
            (root / f"{env.key}.lock").unlink(missing_ok=True)
            removed.append(env)
    for folder in root.iterdir() if root.is_dir() else []:  # half-built venvs nobody is building
        if folder.is_dir() and read_marker(folder) is None:
            with venv_lock(root, folder.name, wait=False) as locked:
                if locked:
                    shutil.rmtree(folder, ignore_errors=True)
    return removed, busy
