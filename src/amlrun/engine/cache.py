"""The step cache, which is AzureML's reuse: same inputs, same code, same environment -> same outputs.

Content hashes are what make reuse safe, and stat results are what make it cheap: a file whose
(path, size, mtime_ns) is unchanged keeps the digest remembered in `<store>/cache.db`; only files
whose stats changed (or that changed too recently to trust their stats) are read again. The same
database maps each step's cache key to the earlier step run and where its outputs are.

The cache only saves time, so a damaged, locked or read-only `cache.db` never fails a run: amlrun
says so once and runs every step (nothing is reused, nothing remembered) until the file is fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

__all__ = ["CacheEntry", "StepCache", "cache_key", "copy_output", "input_part", "step_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, digest TEXT);
CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, run_name TEXT NOT NULL, outputs TEXT NOT NULL,
                                  created REAL NOT NULL);
"""
_CHUNK = 1 << 20
# A file changed within this many ns of being hashed may change again within the same timestamp
# tick (ext4 stamps with a coarse clock), keeping size and mtime: such "racy" digests are not
# remembered, so the file is read again next time (git's racy-index rule).
_RACY_NS = 2_000_000_000


@dataclass
class CacheEntry:
    """An earlier successful step run: `outputs` maps output name -> {"path": ..., "hash": ...}."""

    key: str
    run_name: str
    outputs: dict[str, dict[str, str]]

    def outputs_exist(self) -> bool:
        return all(Path(o["path"]).exists() for o in self.outputs.values())


class StepCache:
    """File digests with a stat fast path, and step results by cache key. Thread-safe."""

    def __init__(self, store_root: Path) -> None:
        self._path = store_root / "cache.db"
        self._lock = threading.Lock()
        self._code_digests: dict[Path, str] = {}
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._give_up(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    def _give_up(self, exc: sqlite3.Error) -> None:
        """Stop using the database for the rest of this run, and say why (once: it is off afterwards)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None
        print(f"[amlrun] warning: the step cache {self._path} is unusable ({exc}); every step runs and nothing "
              f"is reused. Move it aside (`mv {self._path} {self._path}.broken`) to start a new one.",
              file=sys.stderr, flush=True)

    def _sql(self, work: Any, fallback: _T) -> _T:
        """Run `work(db)` under the lock; any sqlite failure switches the cache off and gives `fallback`."""
        with self._lock:
            if self._db is None:
                return fallback
            try:
                return work(self._db)
            except sqlite3.Error as exc:
                self._give_up(exc)
                return fallback

    # -- content hashes -------------------------------------------------------------------------

    def hash_path(self, path: Path) -> str:
        """Digest of a file, or of a folder's relative names and file digests. Missing -> 'missing'."""
        if path.is_file():
            return self._hash_files([(path.name, path)])
        if not path.is_dir():
            return "missing"
        files: list[tuple[str, Path]] = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            rel_root = os.path.relpath(root, path)
            for name in sorted(names):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                files.append((rel, Path(root) / name))
        return self._hash_files(files)

    def hash_code(self, code_dir: Path) -> str:
        """Digest of what a snapshot of `code_dir` would contain (computed once per process run)."""
        if code_dir not in self._code_digests:
            from amlrun.engine.snapshot import list_snapshot_files

            files, _ = list_snapshot_files(code_dir)
            self._code_digests[code_dir] = self._hash_files([(f.as_posix(), code_dir / f) for f in files])
        return self._code_digests[code_dir]

    def _hash_files(self, files: list[tuple[str, Path]]) -> str:
        total = hashlib.sha256()
        stats = []
        for rel, file in files:
            try:
                st = file.stat()
            except OSError:
                continue
            stats.append((rel, str(file), st.st_size, st.st_mtime_ns))
        known = self._known([s[1] for s in stats])
        fresh: list[tuple[str, int, int, str]] = []
        racy_after = time.time_ns() - _RACY_NS
        for rel, key, size, mtime in stats:
            remembered = known.get(key)
            if remembered is not None and remembered[0] == size and remembered[1] == mtime:
                digest = remembered[2]
            else:
                digest = _file_digest(Path(key))
                if mtime < racy_after:
                    fresh.append((key, size, mtime, digest))
            total.update(f"{rel}\0{digest}\n".encode())
        if fresh:
            self._sql(lambda db: db.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", fresh),
                      None)
        return total.hexdigest()

    def _known(self, paths: list[str]) -> dict[str, tuple[int, int, str]]:
        def read(db: sqlite3.Connection) -> dict[str, tuple[int, int, str]]:
            found: dict[str, tuple[int, int, str]] = {}
            for start in range(0, len(paths), 500):
                chunk = paths[start:start + 500]
                marks = ",".join("?" for _ in chunk)
                for path, size, mtime, digest in db.execute(
                        f"SELECT path, size, mtime_ns, digest FROM file_hashes WHERE path IN ({marks})", chunk):
                    found[path] = (size, mtime, digest)
            return found

        return self._sql(read, {})

    # -- step results ---------------------------------------------------------------------------

    def lookup(self, key: str) -> CacheEntry | None:
        row = self._sql(lambda db: db.execute("SELECT run_name, outputs FROM steps WHERE key=?", (key,)).fetchone(),
                        None)
        if row is None:
            return None
        return CacheEntry(key, row[0], json.loads(row[1]))

    def remember(self, key: str, run_name: str, outputs: dict[str, dict[str, str]]) -> None:
        self._sql(lambda db: db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?)",
                                        (key, run_name, json.dumps(outputs), time.time())), None)

    def forget(self, key: str) -> None:
        self._sql(lambda db: db.execute("DELETE FROM steps WHERE key=?", (key,)), None)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """A stable digest of everything that decides a step's outputs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()



def step_key(static: str, code: str | None, inputs: dict[str, Any]) -> str:
    """A step's cache key: the digest of its plan's fixed parts (`static`), of its code, and of each input.

    A run that plans the pipeline and a run that takes its plan from the plan cache (`plan_cache`)
    compute keys here alike, so either finds what the other remembered.
    """
    return cache_key({"v": 2, "static": static, "code": code, "inputs": inputs})


def input_part(ref: list[Any], cache: StepCache, outputs: dict[str, dict[str, dict[str, str]]]) -> dict[str, Any]:
    """What one input contributes to a key, from its reference (`pipeline_step.input_ref`):

    an upstream step's output -> that output's digest; a local file or folder -> its content digest;
    a remote URI -> the URI; a literal -> its value."""
    kind = ref[0]
    if kind == "step":
        _, step, output, type_, mode = ref
        return {"type": type_, "mode": mode, "hash": outputs[step][output]["hash"]}
    if kind == "path":
        _, path, type_, mode = ref
        return {"type": type_, "mode": mode, "hash": cache.hash_path(Path(path))}
    if kind == "uri":
        _, uri, type_, mode = ref
        return {"type": type_, "mode": mode, "hash": uri}
    _, value, type_ = ref
    return {"type": type_, "value": value}


def copy_output(source: Path, target: Path) -> None:
    """Fill `target` with a copy of an earlier run's output (a Reused step's explicit or bound output path)."""
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
