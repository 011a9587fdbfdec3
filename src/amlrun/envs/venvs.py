"""Cached uv venvs, one per resolved environment definition, shared by every run and project.

A venv lives in `<cache>/<key>/`, where `key` hashes the Python version, the sorted requirement lines,
the content of local files they name and the platform. `amlrun-env.json` is written last: a folder
without it is a build that did not finish and is built again. Reuse is a stat and a utime (no uv
process, no lock); a build takes `<key>.lock`, so of two runs building the same environment one builds
and the other waits, then reuses. Builds try uv's cache first (`--offline`) and go to the index only
when that fails. With a stand-in Python (the one asked for is not here) wheels are tried first: an old
pin with wheels only for older Pythons is refused at once, rather than built from source for minutes. The cache folder is `$AMLRUN_ENV_CACHE`, else `$XDG_CACHE_HOME/amlrun/envs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from amlrun.envs.definition import PythonDefinition
from amlrun.envs.pythons import Interpreter
from amlrun.errors import EnvironmentError_

__all__ = ["MARKER", "VenvSpec", "cache_root", "ensure_venv", "find_uv", "read_marker", "venv_lock"]

MARKER = "amlrun-env.json"
_FORMAT = 1


def cache_root() -> Path:
    explicit = os.environ.get("AMLRUN_ENV_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "amlrun" / "envs"


def _digest_path(path: Path) -> str:
    """Content digest of a local file, or of a folder's names, sizes and mtimes (wheels dirs, projects)."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    items = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "node_modules"))
        for name in sorted(names):
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(root, name))
                items.append(f"{os.path.relpath(os.path.join(root, name), path)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(items).encode()).hexdigest()


@dataclass(frozen=True)
class VenvSpec:
    """A venv to have: its key, what defines it and the interpreter it is built from."""

    key: str
    definition: PythonDefinition = field(compare=False, hash=False)
    interpreter: Interpreter
    exact_python: bool
    root: Path

    @classmethod
    def of(cls, definition: PythonDefinition, interpreter: Interpreter, exact: bool) -> VenvSpec:
        options = [r.line for r in definition.requirements if r.line.startswith("-")]
        packages = sorted({r.line for r in definition.requirements if not r.line.startswith("-")})
        payload = {
            "format": _FORMAT,
            "python": interpreter.label if exact else f"{definition.python} (nearest {interpreter.label})",
            "options": options,
            "requirements": packages,
            "project": str(definition.project) if definition.project else None,
            # a definition file counts by content (two steps' identical conda files share one venv, as
            # AzureML's environment hash does); a folder (wheels, a project) by where it is, too
            "local": sorted(_digest_path(p) if p.is_file() else f"{p}:{_digest_path(p)}"
                            for p in set(definition.files) if p.exists()),
            "platform": [sys.platform, os.uname().machine if hasattr(os, "uname") else _machine()],
        }
        key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        return cls(key, definition, interpreter, exact, cache_root())

    @property
    def folder(self) -> Path:
        return self.root / self.key

    @property
    def python(self) -> str:
        return str(self.folder / "bin" / "python")

    @property
    def built(self) -> bool:
        return (self.folder / MARKER).is_file()


def read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def venv_lock(root: Path, key: str, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on one cached venv across processes; yields False when `wait` is off and it is held."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_uv() -> str:
    """The uv binary: $AMLRUN_UV, the `uv` package amlrun depends on, or uv on PATH."""
    explicit = os.environ.get("AMLRUN_UV")
    if explicit:
        return explicit
    with contextlib.suppress(ImportError, FileNotFoundError):
        from uv import find_uv_bin

        return find_uv_bin()
    found = shutil.which("uv")
    if found:
        return found
    raise EnvironmentError_("uv is not installed, and amlrun builds step environments with it",
                            hint="`pip install uv` (amlrun depends on it), or run with --env host")


def ensure_venv(spec: VenvSpec, progress: Callable[[str], None]) -> dict:
    """The venv of `spec`, built if needed; returns its marker (what it holds)."""
    if spec.built:
        with contextlib.suppress(OSError):
            os.utime(spec.folder / MARKER)  # last use, for `amlrun envs prune --older-than`
        return read_marker(spec.folder) or {}
    with venv_lock(spec.root, spec.key):
        if spec.built:  # another run built it while we waited
            progress(f"environment {spec.key} was built by another run meanwhile")
            return read_marker(spec.folder) or {}
        return _Build(spec, progress).run()


class _Build:
    def __init__(self, spec: VenvSpec, progress: Callable[[str], None]) -> None:
        self.spec = spec
        self.progress = progress
        self.uv = find_uv()
        self.log_path = spec.root / f"{spec.key}.build.log"
        self.offline_only = os.environ.get("UV_OFFLINE", "").lower() in ("1", "true") or \
            os.environ.get("AMLRUN_OFFLINE") == "1"

    def run(self) -> dict:
        spec, definition = self.spec, self.spec.definition
        started = time.monotonic()
        shutil.rmtree(spec.folder, ignore_errors=True)
        what = f"{len(definition.requirements)} requirement line{'s' if len(definition.requirements) != 1 else ''}"
        self.progress(f"building environment {spec.key} from {definition.source} (Python "
                      f"{spec.interpreter.label}, {what}) in {spec.folder}")
        self.log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
        try:
            self._uv(["venv", "--no-project", "--quiet", "--python", spec.interpreter.path, str(spec.folder)],
                     "create the venv")
            has_pip = self._seed_pip()
            requirements = spec.folder / "amlrun-requirements.txt"
            lines = [r.line for r in definition.requirements]
            if definition.project is not None:
                lines.append(f"-e {definition.project}")
            requirements.write_text("".join(f"{line}\n" for line in lines))
            if lines:
                self._install(["-r", str(requirements)], "install the requirements")
        except EnvironmentError_:
            self.log.close()
            shutil.rmtree(spec.folder, ignore_errors=True)
            raise
        finally:
            if not self.log.closed:
                self.log.close()
        marker = {
            "format": _FORMAT, "key": spec.key, "source": definition.source,
            "python": spec.interpreter.label, "python_requested": definition.python,
            "packages": definition.packages, "requirements": [r.line for r in definition.requirements],
            "conda_only": definition.conda_only, "project": str(definition.project) if definition.project else None,
            "files": [str(p) for p in definition.files], "pip": has_pip, "created": time.time(),
            "build_seconds": round(time.monotonic() - started, 2),
        }
        shutil.move(str(self.log_path), spec.folder / "build.log")
        temporary = spec.folder / (MARKER + ".tmp")
        temporary.write_text(json.dumps(marker, indent=1))
        os.replace(temporary, spec.folder / MARKER)
        self.progress(f"environment {spec.key} built in {marker['build_seconds']:.1f}s")
        return marker

    def _seed_pip(self) -> bool:
        """pip in the venv, so a job's own `pip install` stays inside it (from Python's bundled wheel when there)."""
        import ensurepip

        bundled = Path(ensurepip.__file__).parent / "_bundled"
        base = ["pip", "install", "--python", self.spec.python, "--quiet"]
        if bundled.is_dir() and self._run([*base, "--offline", "--find-links", str(bundled), "pip"]) == 0:
            return True
        if self._run([*base, "--offline", "pip"]) == 0:
            return True
        return not self.offline_only and self._run([*base, "pip"]) == 0

    def _install(self, args: list[str], what: str) -> None:
        base = ["pip", "install", "--python", self.spec.python, "--compile-bytecode", *args]
        if self._run([*base, "--offline"]) == 0:
            return
        if self.offline_only:
            self._fail(what + " (offline: uv's cache lacks a package)")
        self.progress("some packages are not in uv's cache: downloading them")
        if not self.spec.exact_python:
            if self._run([*base, "--no-build"], echo=False) == 0:  # a failure here is not the last word
                return
            self._refuse_old_pins(args)
        if self._run(base) != 0:
            self._fail(what)

    def _refuse_old_pins(self, args: list[str]) -> None:
        """Refuse when wheels exist for the Python asked for but not for its stand-in (then a source build
        of, say, numpy==1.22 on Python 3.11 takes minutes and fails); a package with no wheel at all, for
        any Python, is built from source as usual."""
        said = "\n".join(self._tail)
        wheel_less = sorted(set(re.findall(r"Wheels are required for `([^`]+)`|only found wheels for `([^`]+)`", said)))
        wheel_less = [a or b for a, b in wheel_less]
        asked = re.match(r"\d+\.\d+", self.spec.definition.python or "")
        if not wheel_less or asked is None or self._run(
                ["pip", "compile", "--quiet", "--no-build", "--python-version", asked[0], "--output-file",
                 os.devnull, *(a for a in args if a != "-r")], echo=False) != 0:  # compile takes the files
            return
        names = {name.lower().replace("_", "-") for name in wheel_less}
        lines = [r for r in self.spec.definition.requirements
                 if r.name and r.name.lower().replace("_", "-") in names]
        where = "".join(f"\n  {r.file}:{r.lineno}: {r.line}" for r in lines[:5])
        stand_in = self.spec.interpreter.label
        raise EnvironmentError_(
            f"could not build the environment from {self.spec.definition.source}: {', '.join(wheel_less)} "
            f"{'has' if len(wheel_less) == 1 else 'have'} wheels for Python {asked[0]} (which it asks for and this "
            f"machine lacks) but none for Python {stand_in}, the nearest here; building from source for "
            f"{stand_in} would take minutes and rarely works" + (f":{where}" if where else ""),
            hint=f"install Python {asked[0]} (`uv python install {asked[0]}`) and run again, or loosen the pin to a "
                 f"version with a Python {stand_in} wheel; `--env host` runs the step in amlrun's own interpreter")

    def _uv(self, args: list[str], what: str) -> None:
        if self._run(args) != 0:
            self._fail(what)

    def _run(self, args: list[str], echo: bool = True) -> int:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH")}
        self.log.write(f"$ uv {' '.join(args)}\n")
        self.log.flush()
        self._tail: list[str] = []
        proc = subprocess.Popen([self.uv, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.write(line)
            self._tail.append(line.rstrip())
            if echo and "--offline" not in args and line.strip():
                self.progress("  " + line.rstrip())
        code = proc.wait()
        self.log.write(f"(exit code {code})\n")
        self.log.flush()
        return code

    def _fail(self, what: str) -> None:
        tail = [line for line in self._tail if line.strip()][-12:]
        mentioned = [r for r in self.spec.definition.requirements
                     if r.name and any(re.search(rf"\b{re.escape(r.name)}\b", line, re.IGNORECASE) for line in tail)]
        where = "".join(f"\n  {r.file}:{r.lineno}: {r.line}" for r in mentioned[:5])
        kept = self.spec.root / f"{self.spec.key}.failed.log"
        self.log.close()
        with contextlib.suppress(OSError):
            os.replace(self.log_path, kept)
        asked = self.spec.definition.python
        stand_in = "" if self.spec.exact_python or not asked else (
            f"\nIt asks for Python {asked}, which is not on this machine: Python {self.spec.interpreter.label} "
            "stood in, and a pin made for the older Python may have no build for it.")
        raise EnvironmentError_(
            f"could not build the environment from {self.spec.definition.source}: uv could not {what}"
            + (f"; the lines it names:{where}" if where else "")
            + "\nuv said:\n" + "\n".join(f"  {line}" for line in tail) + stand_in,
            hint=f"fix the definition (a package or version that exists for Python {self.spec.interpreter.label})"
                 + (f", or install Python {asked} (`uv python install {asked}`)" if stand_in else "")
                 + f"; uv's whole log: {kept}; `--env host` runs the step in amlrun's own interpreter instead")


def _machine() -> str:
    import platform  # (not on POSIX, where os.uname says the same without importing platform)

    return platform.machine()
