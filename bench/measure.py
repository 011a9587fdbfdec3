"""Shared by the benches: whole processes timed side by side, memory summed over a process tree, goals.

Every figure compares amlrun, run as a user runs it (`python -m amlrun ...` in a fresh process), with the
best hand-written alternative, measured in the same bench run. Runs alternate (ours, theirs, ours, ...)
so a busy machine slows both alike; each figure is shown as the median and the min of its runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "Goal", "Timed", "alternate", "amlrun", "env", "report", "run_tree", "timed"]

ROOT = Path(__file__).resolve().parents[1]
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def env(**extra: str) -> dict[str, str]:
    """This checkout's amlrun on the path, a private AMLRUN_HOME, plain output."""
    home = extra.pop("AMLRUN_HOME", None) or tempfile.mkdtemp(prefix="amlrun-bench-home-")
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMLRUN_HOME": home, "AMLRUN_PLAIN": "1",
            "AMLRUN_NO_PROGRESS": "1", **extra}


def amlrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "amlrun", *args]


@dataclass
class Timed:
    """One whole-process run: wall seconds and the peak of the summed RSS of its process tree."""

    seconds: float
    peak_mb: float
    stdout: str = ""
    cpu: float = 0.0  # user + system seconds of the whole process tree (what a busy machine does not inflate)


def _tree_rss_kb(root_pid: int) -> int:
    """Sum of the resident set sizes of `root_pid` and all its descendants (read from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * PAGE_KB
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def _adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux PR_SET_CHILD_SUBREAPER), so the CPU
    of a process amlrun left to finish on its own (a worker zygote ending after it) is counted too."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_orphans(timeout: float = 10.0) -> None:
    """Wait for the adopted orphans (their CPU then lands in RUSAGE_CHILDREN)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def run_tree(args: Sequence[str], *, cwd: Path | None = None, environ: dict[str, str] | None = None,
             sample_memory: bool = False, check: bool = True) -> Timed:
    """Run a command to its end; with `sample_memory`, sample its process tree's RSS every 20 ms.

    CPU is the user + system time of the whole tree, processes that outlive the command included."""
    _adopt_orphans()
    peak = [0]
    before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(list(args), cwd=cwd, env=environ or env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True) if sample_memory else None
    if sampler:
        sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    if sampler:
        sampler.join()
    _reap_orphans()
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-4000:]}")
    return Timed(seconds, peak[0] / 1024, out, _children_cpu() - before)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(repeat: int, *sides: Callable[[], Any]) -> list[list[Any]]:
    """Call each side in turn `repeat` times (after one warm-up round); their results, side by side."""
    for side in sides:
        side()
    results: list[list[Any]] = [[] for _ in sides]
    for _ in range(repeat):
        for i, side in enumerate(sides):
            results[i].append(side())
    return results


@dataclass
class Goal:
    """A goal of issue 13 and the figure measured for it."""

    name: str
    figure: float  # the median
    best: float  # the min (least disturbed)
    limit: float
    unit: str = "x"
    note: str = ""
    extra: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return self.figure <= self.limit

    def line(self) -> str:
        fmt = (lambda v: f"{v:.2f}x") if self.unit == "x" else (lambda v: f"{v * 1000:.0f} ms") \
            if self.unit == "s" else (lambda v: f"{v:.1f} {self.unit}")
        verdict = "met" if self.met else ("met at best" if self.best <= self.limit else "MISSED")
        return (f"{self.name:<62} median {fmt(self.figure):>9}  min {fmt(self.best):>9}  "
                f"goal <= {fmt(self.limit):>8}  {verdict}" + (f"\n    {self.note}" if self.note else ""))


def report(goals: list[Goal]) -> None:
    print()
    for goal in goals:
        print(goal.line())
        for line in goal.extra:
            print(f"    {line}")


def median_min(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)
