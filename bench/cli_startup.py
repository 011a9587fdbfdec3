"""How long does `amlrun --help` take? Prints wall times and the ratio to a bare `python -c pass`.

    python bench/cli_startup.py

Goal (issue 2): `amlrun --help` well under half a second. Also shown: `amlrun check --no-sdk` on the
example job (loads pydantic and the spec models, no azure-ai-ml). Bare and amlrun runs alternate,
so a busy machine slows both alike; each line shows the best and the median of REPEAT runs, after
a warm-up. `amlrun` here is `python -m amlrun` with this checkout's src/ on PYTHONPATH.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 15
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMLRUN_HOME": tempfile.mkdtemp(prefix="amlrun-bench-")}


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def compare(label: str, args: list[str]) -> None:
    baseline = [sys.executable, "-c", "pass"]
    wall(baseline), wall(args)  # warm the OS file cache
    bare, ours = [], []
    for _ in range(REPEAT):
        bare.append(wall(baseline))
        ours.append(wall(args))
    b_best, o_best = min(bare), min(ours)
    b_med, o_med = statistics.median(bare), statistics.median(ours)
    print(f"{label:<34} best {o_best * 1000:6.0f} ms (python -c pass {b_best * 1000:4.0f} ms, "
          f"ratio {o_best / b_best:4.1f})   median {o_med * 1000:6.0f} ms (ratio {o_med / b_med:4.1f})")


def main() -> None:
    amlrun = [sys.executable, "-m", "amlrun"]
    compare("amlrun --help", [*amlrun, "--help"])
    compare("amlrun check --no-sdk hello/job.yml", [*amlrun, "check", "--no-sdk",
                                                     str(ROOT / "examples" / "hello" / "job.yml")])


if __name__ == "__main__":
    main()
