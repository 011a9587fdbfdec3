"""Copy a job's `code` folder into the run folder, honouring `.amlignore` (else `.gitignore`).

AzureML uploads a snapshot of `code` and runs the command inside it; doing the same locally
means a job cannot depend on files the service would not have.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

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
    """Files (relative paths) that a snapshot of `code_dir` contains."""
    rules, ignore_file = IgnoreRules.for_folder(code_dir)
    files: list[Path] = []
    for root, dirs, names in os.walk(code_dir):
        rel_root = Path(root).relative_to(code_dir)
        kept = []
        for d in sorted(dirs):
            rel = (rel_root / d).as_posix()
            if d in _ALWAYS_IGNORED or rules.ignored(rel, True) or (Path(root) / d / "runs.db").exists():
                continue  # (a run store inside the code folder would copy every earlier run)
            kept.append(d)
        dirs[:] = kept
        for n in sorted(names):
            rel = (rel_root / n).as_posix()
            if n in (".amlignore",) or not rules.ignored(rel, False):
                files.append(Path(rel))
    return files, ignore_file


def take_snapshot(code_dir: Path, target: Path) -> SnapshotSummary:
    """Copy the snapshot of `code_dir` to `target` (hard links would let jobs modify sources)."""
    files, ignore_file = list_snapshot_files(code_dir)
    total = 0
    for rel in files:
        src = code_dir / rel
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        total += dst.stat().st_size
    target.mkdir(parents=True, exist_ok=True)
    return SnapshotSummary(len(files), total, ignore_file)
