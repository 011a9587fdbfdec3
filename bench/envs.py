"""What does running a step in its own (cached) venv cost over running it in amlrun's interpreter?

    python bench/envs.py

The same trivial command job (`python -c pass`, an environment with a conda file listing one small
local wheel) runs as a user runs it, `amlrun run job.yml`, once with `--env auto` (a venv already in the
cache: no uv process) and once with `--env host`, alternating, REPEAT pairs. Whole processes are timed.
Goal: the median overhead of `--env auto` over `--env host` stays under 0.3 s.
A third line times the first build of that venv (uv's cache warm, the venv cache empty).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from env_fixtures import write_wheel  # noqa: E402

REPEAT = 9


def run(job: Path, mode: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "amlrun", "run", str(job), "--env", mode], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=job.parent)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wheels = root / "wheels"
        wheels.mkdir()
        write_wheel(wheels, "amlrun-benchpkg", "1.0", {"benchpkg/__init__.py": b"VERSION = '1.0'\n"})
        (root / "job").mkdir()
        (root / "job" / "conda.yml").write_text("dependencies:\n  - pip\n  - pip:\n    - amlrun-benchpkg==1.0\n")
        job = root / "job" / "job.yml"
        job.write_text("command: python -c pass\nenvironment: {conda_file: conda.yml}\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMLRUN_HOME": str(root / "store"),
               "AMLRUN_ENV_CACHE": str(root / "envs"), "UV_CACHE_DIR": str(root / "uv-cache"),
               "UV_FIND_LINKS": str(wheels), "UV_OFFLINE": "1", "NO_COLOR": "1"}
        build = run(job, "auto", env)  # first build, uv's cache cold
        shutil.rmtree(root / "envs")
        rebuild = run(job, "auto", env)  # the venv cache empty, uv's cache warm
        run(job, "host", env)
        auto_times, host_times = [], []
        for _ in range(REPEAT):
            auto_times.append(run(job, "auto", env))
            host_times.append(run(job, "host", env))
        overheads = [a - h for a, h in zip(auto_times, host_times, strict=True)]
        print(f"--env host, cached:  median {statistics.median(host_times):.3f} s  best {min(host_times):.3f} s")
        print(f"--env auto, cached:  median {statistics.median(auto_times):.3f} s  best {min(auto_times):.3f} s")
        print(f"overhead auto-host:  median {statistics.median(overheads):+.3f} s  (pairs of {REPEAT}; goal < 0.3 s)"
              f"  ratio {statistics.median(auto_times) / statistics.median(host_times):.2f}")
        print(f"first build: {build:.2f} s (uv cache cold); rebuild with uv's cache warm: {rebuild:.2f} s")


if __name__ == "__main__":
    main()
