"""Seeded fuzzing of job files through `check` (spec checks and run planning): exit 0 or 2, never a traceback,
no write outside the test's folder, bounded time and memory. AMLRUN_FUZZ_SEED / AMLRUN_FUZZ_SECONDS change
the seed and the budget (the summary line printed says what was tried)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SRC

DRIVER = Path(__file__).with_name("fuzz_jobs.py")


def _listing(folder: Path) -> set[tuple[str, int]]:
    try:
        return {(entry.name, entry.stat(follow_symlinks=False).st_mtime_ns) for entry in os.scandir(folder)}
    except OSError:
        return set()


def test_mutated_job_files_give_exit_0_or_2_and_no_traceback(tmp_path: Path) -> None:
    seed = int(os.environ.get("AMLRUN_FUZZ_SEED", "20261201"))
    seconds = float(os.environ.get("AMLRUN_FUZZ_SECONDS", "40"))
    work = tmp_path / "work"
    work.mkdir()
    watched = [Path.home(), Path(sys.prefix), SRC.parent, SRC.parent / "tests", SRC / "amlrun", tmp_path.parent]
    before = {folder: _listing(folder) for folder in watched}
    env = {**os.environ, "PYTHONPATH": str(SRC), "AMLRUN_HOME": str(tmp_path / "store"), "HOME": str(tmp_path / "home"),
           "AMLRUN_USER_CONFIG": str(tmp_path / "no-user-config.yaml"), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, str(DRIVER), str(work), str(seed), str(seconds)], env=env,
                          capture_output=True, text=True, timeout=seconds + 120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nfuzz: seed {seed}, {summary['cases']} cases, exits {summary['exit']}, "
          f"{len(summary['failures'])} failures, slowest {summary['slowest']} s, max RSS {summary['max_rss_mb']} MB")
    assert summary["cases"] >= 50
    assert not summary["failures"], json.dumps(summary["failures"][:3], indent=1)
    assert summary["max_rss_mb"] < 600, summary
    changed = {str(folder): sorted(_listing(folder) ^ before[folder]) for folder in watched
               if folder != tmp_path.parent and _listing(folder) != before[folder]}
    assert not any(changed.values()), f"written outside the test's folder: {changed}"
    assert {name for name, _ in _listing(tmp_path.parent)} - {name for name, _ in before[tmp_path.parent]} == set()
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("runs/*/code")), "check ran a job"
