"""Does a second `amlrun check` (with azure-ai-ml) of an unchanged file answer in amlrun's own time?

    python bench/check_cache.py [JOB_FILE]

Times, as whole processes: `amlrun check --no-sdk` (the baseline: amlrun's own checks), `amlrun check`
with an empty verdict cache (imports and runs azure-ai-ml), and `amlrun check` again (the verdict
comes from the cache). Prints each and its ratio to the baseline. Goal (issue 10): the cached check
within ~0.5 s and close to 1.0x the baseline. The cache lives in a temporary AMLRUN_CACHE_DIR.
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
REPEAT = 5


def _time(args: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "amlrun", *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"amlrun {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    job = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "pipeline" / "pipeline.yml"
    if not job.is_file():
        job = next((ROOT / "examples").rglob("pipeline*.yml"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMLRUN_CACHE_DIR": tempfile.mkdtemp(prefix="amlrun-vc-")}
    cwd, name = job.parent, job.name
    _time(["check", "--no-sdk", name], env, cwd)  # warm the OS file cache
    baseline = [_time(["check", "--no-sdk", name], env, cwd) for _ in range(REPEAT)]
    cold = _time(["check", name], env, cwd)
    warm = [_time(["check", name], env, cwd) for _ in range(REPEAT)]
    base = statistics.median(baseline)
    print(f"{job}")
    print(f"check --no-sdk (baseline)   median {base:.2f}s")
    print(f"check, SDK, cold cache      {cold:.2f}s  ({cold / base:.1f}x)")
    print(f"check, SDK, cached verdict  median {statistics.median(warm):.2f}s best {min(warm):.2f}s "
          f"({statistics.median(warm) / base:.2f}x)")


if __name__ == "__main__":
    main()
