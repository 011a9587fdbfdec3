"""A content-addressed object cache shared by all runs of a store, with a size limit.

Objects live at `<store>/cache/data/objects/<k[:2]>/<k>`, read-only, with their mtime pinned to a
sentinel: a later write through a hardlinked view changes the mtime, so a modified object is noticed
(and dropped) instead of being served again. Least-recently-used objects are evicted past the limit;
"used" is the atime, set explicitly on every use (mtime stays pinned; reads alone never make an
object look older). Eviction walks the cache only when what this process added since its last walk
could have pushed the cache past its limit, so a run's many inputs cost one walk, not one each.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

__all__ = ["SENTINEL_MTIME_NS", "ObjectCache", "object_key"]

SENTINEL_MTIME_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z


def object_key(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


class ObjectCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._folders: set[Path] = set()  # folders known to exist: a fetch commits thousands of objects
        self._walked: int | None = None  # bytes in the cache after the last eviction walk
        self._added = 0  # bytes committed by this process since then
        self._added_lock = threading.Lock()

    def _folder(self, path: Path) -> Path:
        if path not in self._folders:
            path.mkdir(parents=True, exist_ok=True)
            self._folders.add(path)
        return path

    def path(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def has(self, key: str, size: int) -> bool:
        """True when a sound object for `key` exists; a tampered one is removed."""
        p = self.path(key)
        try:
            st = p.stat()
        except FileNotFoundError:
            return False
        if st.st_size == size and st.st_mtime_ns == SENTINEL_MTIME_NS:
            with contextlib.suppress(OSError):
                os.utime(p, ns=(time.time_ns(), SENTINEL_MTIME_NS))  # most recently used
            return True
        self.discard(key)
        return False

    def temp_path(self) -> Path:
        import uuid  # (uuid imports platform: not on a command job's path)

        return self._folder(self.root / "tmp") / uuid.uuid4().hex

    def commit(self, key: str, temp: Path, size: int | None = None) -> Path:
        """Move a fully written temp file (of `size` bytes, if known) into the cache under `key` (atomic)."""
        target = self.path(key)
        self._folder(target.parent)
        os.chmod(temp, 0o444)
        os.utime(temp, ns=(time.time_ns(), SENTINEL_MTIME_NS))
        try:
            os.replace(temp, target)
        except FileNotFoundError:  # the folder was removed behind our back (the cache cleared by hand)
            self._folders.discard(target.parent)
            os.replace(temp, self._folder(target.parent) / key)
        with self._added_lock:
            self._added += target.stat().st_size if size is None else size
        return target

    def add_copy(self, key: str, source: Path) -> Path:
        temp = self.temp_path()
        shutil.copyfile(source, temp)
        return self.commit(key, temp)

    def discard(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def link(self, key: str, dest: Path, parent_ready: bool = False) -> None:
        """Put the object at `dest` without copying when the filesystem allows (a hardlink)."""
        if not parent_ready:
            dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(key), dest)
        except OSError:
            shutil.copyfile(self.path(key), dest)
            os.chmod(dest, 0o444)
            os.utime(dest, ns=(SENTINEL_MTIME_NS, SENTINEL_MTIME_NS))

    def copy_out(self, key: str, dest: Path, parent_ready: bool = False) -> None:
        if not parent_ready:
            dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(key), dest)

    def size(self) -> int:
        return sum(size for _, size, _ in self._objects())

    def _objects(self) -> list[tuple[int, int, Path]]:
        """(atime_ns, size, path) of every object: one scandir a folder, one stat an object."""
        found = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root / "objects") as folders:
            for folder in folders:
                with contextlib.suppress(OSError), os.scandir(folder.path) as objects:
                    for entry in objects:
                        with contextlib.suppress(FileNotFoundError):
                            if entry.is_file(follow_symlinks=False):
                                st = entry.stat(follow_symlinks=False)
                                found.append((st.st_atime_ns, st.st_size, Path(entry.path)))
        return found

    def evict(self, keep: set[str] = frozenset()) -> int:  # type: ignore[assignment]
        """Drop least-recently-used objects until the cache fits its limit; returns bytes freed."""
        with self._lock:
            with self._added_lock:
                added = self._added
            if self._walked is not None and self._walked + added <= self.max_bytes:
                return 0
            stale = time.time() - 24 * 3600  # temp files of transfers killed midway
            for temp in (self.root / "tmp").glob("*") if (self.root / "tmp").is_dir() else []:
                with contextlib.suppress(OSError):
                    if temp.stat().st_ctime < stale:  # not mtime: commit pins it to 2000 just before the move
                        temp.unlink()
            entries = self._objects()
            total = sum(size for _, size, _ in entries)
            freed = 0
            for _, size, f in sorted(entries):
                if total - freed <= self.max_bytes:
                    break
                if f.name in keep:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
                    freed += size
            with self._added_lock:
                self._added -= added
            self._walked = total - freed
            return freed
