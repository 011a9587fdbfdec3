"""Copy a job's `code` folder into the run folder, honouring `.amlignore` (else `.gitignore`).

AzureML uploads a snapshot of `code` and runs the command inside it; doing the same locally
means a job cannot depend on files the service would not have.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.errors import UsageError

__all__ = ["IgnoreRules", "SnapshotSummary", "list_snapshot_files", "take_snapshot"]

_ALWAYS_IGNORED = {".git", ".amlrun", "__pycache__", ".venv", ".ipynb_checkpoints"}


@dataclass
class SnapshotSummary:
    files: int
    bytes: int
    ignore_file: str | None


class IgnoreRules:
    """A small gitignore-style matcher: globs, `dir/`, leading `/` anchors, `!` negation, `**`."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[re.Pattern[str], bool, bool, bool]] = []  # (pattern, negate, dir_only, anchored)
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            self.rules.append((_glob_to_regex(line.lstrip("/")), negate, dir_only, anchored))

    @classmethod
    def for_folder(cls, folder: Path) -> tuple[IgnoreRules, str | None]:
        for name in (".amlignore", ".gitignore"):
            file = folder / name
            if file.is_file():
                return cls(file.read_text(encoding="utf-8", errors="replace").splitlines()), name
        return cls([]), None

    def ignored(self, relative: str, is_dir: bool) -> bool:
        result = False
        name = relative.rsplit("/", 1)[-1]
        for pattern, negate, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            if pattern.fullmatch(relative if anchored else name):
                result = not negate
        return result


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    """gitignore globs: `*` and `?` stay within one path segment, `**` spans segments."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out, i = out + "/.*", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def list_snapshot_files(code_dir: Path) -> tuple[list[Path], str | None]:
    """Files (relative paths) that a snapshot of `code_dir` contains.

    Symbolic links are followed as AzureML's snapshot upload follows them (a linked file is uploaded
    with its target's bytes, a linked folder with its files under the link's name), as long as they
    stay inside the code folder; a link leaving it, a dangling one and one looping back to a folder
    that contains it are refused with the link's path. Ignored paths are never looked at.
    """
    rules, ignore_file = IgnoreRules.for_folder(code_dir)
    real_root = code_dir.resolve()
    files: list[Path] = []
    for root, dirs, names in os.walk(code_dir, followlinks=True):
        rel_root = Path(root).relative_to(code_dir)
        kept = []
        for d in sorted(dirs):
            rel = (rel_root / d).as_posix()
            if d in _ALWAYS_IGNORED or rules.ignored(rel, True) or (Path(root) / d / "runs.db").exists():
                continue  # (a run store inside the code folder would copy every earlier run)
            if (Path(root) / d).is_symlink():
                _check_link(code_dir, real_root, Path(root) / d, rel, folder=True)
            kept.append(d)
        dirs[:] = kept
        for n in sorted(names):
            rel = (rel_root / n).as_posix()
            if n in (".amlignore",) or not rules.ignored(rel, False):
                if (Path(root) / n).is_symlink():
                    _check_link(code_dir, real_root, Path(root) / n, rel, folder=False)
                files.append(Path(rel))
    return files, ignore_file


def _check_link(code_dir: Path, real_root: Path, link: Path, rel: str, folder: bool) -> None:
    """Refuse a link the snapshot cannot hold: leaving the code folder, dangling, or looping."""
    target = link.resolve()
    where = f"{rel} in the code folder {code_dir} is a symbolic link to {os.readlink(link)}"
    ignore = f"list `{rel}` in .amlignore to leave it out"
    if not target.exists():
        raise UsageError(f"{where}, which does not exist", hint=f"fix or remove the link, or {ignore}")
    if target != real_root and real_root not in target.parents:
        raise UsageError(f"{where} ({target}), outside the code folder: the snapshot holds only the code folder's "
                         "own files", hint=f"copy what the job needs into the code folder, or {ignore}; data the job "
                         "reads belongs in an input")
    if folder and (target == real_root or target in link.parent.resolve().parents or target == link.parent.resolve()):
        raise UsageError(f"{where}, a folder that contains the link: the snapshot would never end",
                         hint=f"remove the link, or {ignore}")


REUSE_MIN_BYTES = 1024 * 1024  # smaller files cost less to copy than to check


def take_snapshot(code_dir: Path, target: Path, reuse_index: Path | None = None) -> SnapshotSummary:
    """Copy the snapshot of `code_dir` to `target` (hard links to the sources would let jobs modify them).

    With `reuse_index` (a file in the store), a large file unchanged since an earlier snapshot (same
    size, mtime and inode) is hard-linked from that snapshot's copy when the copy is untouched too
    (same inode, size and ctime): a 2 GB model in `code` is copied once, not per run. The snapshot
    stays immune to later edits of the user's files, which are never linked themselves.
    """
    files, ignore_file = list_snapshot_files(code_dir)
    earlier = _read_index(reuse_index)
    now: dict[str, list[Any]] = {}
    total = 0
    for rel in files:
        src = code_dir / rel
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        st = src.stat()
        key = rel.as_posix()
        if reuse_index is None or st.st_size < REUSE_MIN_BYTES or not _link_earlier(earlier.get(key), st, dst):
            shutil.copy2(src, dst)
        total += st.st_size
        if reuse_index is not None and st.st_size >= REUSE_MIN_BYTES:
            now[key] = [st.st_size, st.st_mtime_ns, st.st_ino, str(dst)]
    target.mkdir(parents=True, exist_ok=True)
    if reuse_index is not None and now:
        for entry in now.values():  # stamped after every link: linking moves a copy's ctime
            copy = Path(entry[3]).stat()
            entry.extend([copy.st_ino, copy.st_size, copy.st_ctime_ns])
        _write_index(reuse_index, {**earlier, **now})
    return SnapshotSummary(len(files), total, ignore_file)


def _link_earlier(entry: list[Any] | None, st: os.stat_result, dst: Path) -> bool:
    """Hard-link an earlier snapshot's copy of this file to `dst` if both are provably unchanged."""
    if not entry or len(entry) != 7 or entry[:3] != [st.st_size, st.st_mtime_ns, st.st_ino]:
        return False
    copy = Path(entry[3])
    try:
        cst = copy.stat()
        if [cst.st_ino, cst.st_size, cst.st_ctime_ns] != entry[4:]:
            return False  # a step wrote to it, or it was replaced
        os.link(copy, dst)
    except OSError:
        return False
    return True


def _read_index(path: Path | None) -> dict[str, list[Any]]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_index(path: Path, data: dict[str, list[Any]]) -> None:
    with contextlib.suppress(OSError):  # reuse is an optimisation: never fail a run over it
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
