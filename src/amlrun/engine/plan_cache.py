"""The plan cache: a pipeline's plan, remembered by the state of every file it was built from.

Loading, validating and planning a 200-step pipeline costs a second or more; a run where every
step is reused should cost little more than reading its plan. While a run plans, `PlanWatch`
notes every file the planning opens and every folder it lists (Python's audit events) and every
path it only probes (`os.stat`/`os.lstat`: the amlrun.yaml looked for in each parent folder, an
interpreter looked for on PATH). A run that ends with every step Completed or Reused then keeps
what `pipeline_reused` needs (each step's static key digest, input references, outputs, records)
in `<store>/cache/plans/<job file digest>.json`, keyed by everything else a plan depends on: the job file,
overrides, options, the store, the working folder, the interpreter, the environment variables
and amlrun's own code.

A later run with the same key uses the entry only if every noted file still has its size, mtime,
ctime and inode, every listed folder its mtime, every probed path its kind (and a link its target).
Anything else is a miss: the run loads and plans the job as always. Content is not the plan's
business: code folders and input data are hashed into each step's cache key on every run, so an
edited script or data file is always seen. Files changed within `_RACY_NS` of being read could
change again without moving their stats (coarse file system clocks): such an entry is not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ENTRY_FORMAT", "PlanWatch", "enabled", "entry_key", "entry_path", "load_entry", "save_entry"]

ENTRY_FORMAT = 1
SENTINEL = "@@amlrun-run@@"  # stands for the run's name in a kept entry
_RACY_NS = 2_000_000_000
_DISABLE = "AMLRUN_NO_PLAN_CACHE"  # set (to anything) to plan every run
# variables of a shell or terminal that say nothing about a job
_VOLATILE = {"_", "PWD", "OLDPWD", "SHLVL", "COLUMNS", "LINES", "TERM", "COLORTERM", "WINDOWID", "DISPLAY",
             "XAUTHORITY", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "GPG_TTY",
             "STY", "TMUX", "TMUX_PANE", "LS_COLORS", "LESSOPEN", "LESSCLOSE", "MAIL", "HISTFILE"}
_VOLATILE_PREFIXES = ("TERM_", "VSCODE_", "ITERM_", "KITTY_", "WT_", "LC_TERMINAL")


def enabled() -> bool:
    return not os.environ.get(_DISABLE)


# -- watching a plan being built ----------------------------------------------------------------

_recording: list[PlanWatch] = []
_hooked = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording:
        return
    if event == "open":
        path, mode = args[0], args[1]
        if isinstance(path, str | bytes | os.PathLike) and (mode is None or not set(str(mode)) & set("wax+")):
            _recording[-1].opened.add(_absolute(path))
    elif event in ("os.listdir", "os.scandir"):
        path = args[0] if args else None
        if path is None or isinstance(path, str | bytes | os.PathLike):
            _recording[-1].listed.add(_absolute(path if path is not None else "."))


def _absolute(path: Any) -> str:
    return os.path.abspath(os.fsdecode(path))


class PlanWatch:
    """Notes what building a plan reads, from `start()` to `stop()` (one thread plans meanwhile)."""

    def __init__(self, key: str) -> None:
        self.key = key  # entry_key of the run, taken before it plans
        self.opened: set[str] = set()
        self.listed: set[str] = set()
        self.probed: set[str] = set()
        self.started_ns = 0
        self.files: list[list[Any]] = []  # [path, state] once stopped
        self._saved: tuple[Any, Any] | None = None

    def start(self) -> PlanWatch:
        global _hooked
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True
        self.started_ns = time.time_ns()
        real_stat, real_lstat = os.stat, os.lstat
        probed = self.probed

        def stat_(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            if isinstance(path, str | bytes | os.PathLike):
                probed.add(_absolute(path))
            return real_stat(path, *args, **kwargs)

        def lstat_(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            if isinstance(path, str | bytes | os.PathLike):
                probed.add(_absolute(path))
            return real_lstat(path, *args, **kwargs)

        self._saved = (real_stat, real_lstat)
        os.stat, os.lstat = stat_, lstat_  # type: ignore[assignment]
        _recording.append(self)
        return self

    def stop(self, keep: bool = True) -> PlanWatch:
        """Stop noting; with `keep`, take the state of everything noted now (right after planning)."""
        if self._saved is None:
            return self
        os.stat, os.lstat = self._saved  # type: ignore[assignment]
        self._saved = None
        with contextlib.suppress(ValueError):
            _recording.remove(self)
        if not keep:
            return self
        ignored = _ignored_roots()
        opened = {p for p in self.opened if not p.startswith(ignored)}
        imports = {os.path.abspath(p or ".") for p in sys.path}  # listed by the import system, not the plan
        listed = {p for p in self.listed if not p.startswith(ignored) and p not in imports} - opened
        probed = {p for p in self.probed if not p.startswith(ignored)} - opened - listed
        self.files = [[p, _state(p, "F")] for p in sorted(opened)] + [[p, _state(p, "D")] for p in sorted(listed)] \
            + [[p, _state(p, "")] for p in sorted(probed)]
        return self

    def racy(self) -> bool:
        """A file or folder changed so shortly before it was read that its stats may not show the next change."""
        limit = self.started_ns - _RACY_NS
        return any(state[0] in ("F", "D", "lF", "lD") and max(state[2:4]) >= limit for _, state in self.files)


def _ignored_roots() -> tuple[str, ...]:
    """The interpreter's own files (imports while planning) and amlrun's (in the key as `_code_fingerprint`)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(Path(__file__).parents[1])}
    return tuple(os.path.join(r, "") for r in roots) + ("/proc/", "/dev/", "/sys/")


def _state(path: str, kind: str) -> list[Any]:
    """What must not change: a read file's stats, a listed folder's, or just the kind of a probed path."""
    try:
        st = os.lstat(path)
    except OSError:
        return ["-"]
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
            st = os.stat(path)
        except OSError:
            return ["l", "?"]
        if not kind:
            return ["l", target]
        return ["l" + kind, target, st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]
    if kind and (stat.S_ISDIR(st.st_mode) if kind == "D" else stat.S_ISREG(st.st_mode)):
        return [kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    return ["d" if stat.S_ISDIR(st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "o"]


def _unchanged(files: list[list[Any]]) -> bool:
    for path, state in files:
        kind = state[0]
        if _state(path, kind[-1] if kind in ("F", "D", "lF", "lD") else "") != state:
            return False
    return True


# -- the key ------------------------------------------------------------------------------------

def entry_key(request: Any, store_root: Path) -> str:
    """Everything besides the watched files that decides a plan."""
    from amlrun import __version__

    env = {k: v for k, v in os.environ.items() if k not in _VOLATILE and not k.startswith(_VOLATILE_PREFIXES)}
    material = {
        "format": ENTRY_FORMAT, "version": __version__, "code": _code_fingerprint(),
        "file": os.path.abspath(request.file), "origin": str(request.origin) if request.origin else None,
        "overrides": [list(o) for o in request.overrides], "env_mode": request.env,
        "strict_python": request.strict_python, "store": str(store_root), "cwd": os.getcwd(),
        "python": sys.executable, "environ": sorted(env.items()),
    }
    return hashlib.sha256(json.dumps(material, default=str).encode()).hexdigest()[:40]


_fingerprint: list[str] = []


def _code_fingerprint() -> str:
    """amlrun's own modules (name, size, mtime): a changed amlrun never trusts plans an older one kept."""
    if not _fingerprint:
        digest = hashlib.sha256()
        todo = [str(Path(__file__).parents[1])]
        while todo:
            folder = todo.pop()
            with os.scandir(folder) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                        todo.append(entry.path)
                    elif entry.name.endswith(".py"):
                        st = entry.stat()
                        digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        _fingerprint.append(digest.hexdigest())
    return _fingerprint[0]


# -- entries ------------------------------------------------------------------------------------

def entry_path(store_root: Path, job_file: Path) -> Path:
    """Where the plan of `job_file` is kept (one entry per job file: the latest plan)."""
    slot = hashlib.sha256(os.path.abspath(job_file).encode()).hexdigest()[:32]
    return store_root / "cache" / "plans" / f"{slot}.json"


def save_entry(path: Path, watch: PlanWatch, run_name: str, body: dict[str, Any]) -> bool:
    """Keep `body` (which names the run `run_name`) for later runs with the watch's key; False when it
    cannot be trusted."""
    if watch.racy():
        return False
    text = json.dumps({"format": ENTRY_FORMAT, "key": watch.key, "files": watch.files, "body": body}, default=str)
    text = text.replace(run_name, SENTINEL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def load_entry(path: Path, key: str, run_name: str) -> dict[str, Any] | None:
    """The body kept at `path` for `key`, naming the run `run_name`, if every watched file is as it was."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        entry = json.loads(text.replace(SENTINEL, run_name))
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT or entry.get("key") != key \
            or not _unchanged(entry.get("files", [])):
        return None
    return entry["body"]
