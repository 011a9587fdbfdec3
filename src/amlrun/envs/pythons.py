"""Find Python interpreters on this machine without starting any of them.

A venv is built from the Python its environment asks for (`python=3.10`). Interpreters are found by
name and folder (PATH's `python3.X`, pyenv and uv-managed installs, the one amlrun runs on); none is
executed, so planning stays instant. When the version asked for is missing, the nearest one is used
and the caller says so.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Interpreter", "available", "choose", "host"]

_MIN = (3, 8)  # uv builds venvs for 3.8 and newer


@dataclass(frozen=True)
class Interpreter:
    version: tuple[int, int]
    path: str

    @property
    def label(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


def host() -> Interpreter:
    return Interpreter((sys.version_info[0], sys.version_info[1]), sys.executable)


def _candidates() -> list[tuple[tuple[int, int], str]]:
    found: list[tuple[tuple[int, int], str]] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or "shims" in Path(folder).parts:  # pyenv shims fail for versions not selected
            continue
        for exe in glob.glob(os.path.join(glob.escape(folder), "python3.[0-9]*")):
            match = re.fullmatch(r"python(\d+)\.(\d+)", os.path.basename(exe))
            if match:
                found.append(((int(match.group(1)), int(match.group(2))), exe))
    roots = [os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")]
    for root in roots:
        for exe in glob.glob(os.path.join(glob.escape(root), "versions", "*", "bin", "python3")):
            match = re.match(r"(\d+)\.(\d+)\.\d+$", Path(exe).parents[1].name)
            if match:
                found.append(((int(match.group(1)), int(match.group(2))), exe))
    uv_dir = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "uv", "python")
    for exe in glob.glob(os.path.join(glob.escape(uv_dir), "cpython-3.*", "bin", "python3")):
        match = re.match(r"cpython-(\d+)\.(\d+)\.", Path(exe).parents[1].name)
        if match:
            found.append(((int(match.group(1)), int(match.group(2))), exe))
    return found


def available() -> list[Interpreter]:
    """Every usable interpreter, one per minor version; the host's own first for its version."""
    by_version: dict[tuple[int, int], Interpreter] = {host().version: host()}
    for version, exe in _candidates():
        if version >= _MIN and version not in by_version and os.access(exe, os.X_OK):
            by_version[version] = Interpreter(version, exe)
    return sorted(by_version.values(), key=lambda i: i.version)


def _parse(request: str) -> tuple[str, tuple[int, int]] | None:
    match = re.fullmatch(r"\s*(>=|==|~=|>)?\s*(\d+)\.(\d+)(?:\.\d+)?\s*", request)
    if not match:
        return None
    return match.group(1) or "==", (int(match.group(2)), int(match.group(3)))


def choose(request: str | None) -> tuple[Interpreter, bool]:
    """(interpreter, exact) for a version request: `exact` False when the nearest stands in."""
    if request is None:
        return host(), True
    parsed = _parse(request)
    if parsed is None:
        return host(), False
    op, wanted = parsed
    if host().version == wanted or (op in (">=", "~=") and host().version >= wanted
                                    and (op != "~=" or host().version[0] == wanted[0])):
        return host(), True  # the usual case needs no search
    pythons = available()
    if op in (">=", ">", "~="):
        ok = [p for p in pythons if (p.version > wanted if op == ">" else p.version >= wanted)
              and (op != "~=" or p.version[0] == wanted[0])]
        if host() in ok:
            return host(), True
        if ok:
            return ok[0], True
    exact = [p for p in pythons if p.version == wanted]
    if exact:
        return exact[0], True
    return min(pythons, key=lambda p: (abs(p.version[0] * 100 + p.version[1] - wanted[0] * 100 - wanted[1]),
                                       -p.version[1])), False
