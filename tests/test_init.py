"""`amlrun init`: the generated project's tests pass and each generated job runs right after init."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from amlrun.projects.workspace import find_uv

JOBS = ("packages/train/aml-job.yaml", "pipelines/prep_train.yaml", "packages/validate/aml-job.yaml")


def _pytest(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                          capture_output=True, text=True, timeout=120)


def test_init_then_tests_and_every_job(amlrun, tmp_path: Path, store: Path) -> None:
    project = tmp_path / "proj"
    created = amlrun("init", project)
    assert created.code == 0, created.text
    tested = _pytest(project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "6 passed" in tested.stdout

    # the lock needs the package index (mlflow-skinny, pandas are the packages' dependencies)
    locked = subprocess.run([find_uv(), "lock", "--quiet"], cwd=project, capture_output=True, text=True)
    if locked.returncode != 0:
        pytest.skip(f"uv could not reach the package index to lock the project: {locked.stderr.strip()[-200:]}")
    for job in JOBS:
        ran = amlrun("run", "--package", job, cwd=project, env={"AMLRUN_ENV": "host"})
        assert ran.code == 0, f"{job}: {ran.text}"
    assert "metric loss=" in "".join(p.read_text() for p in store.rglob("std_log.txt"))
    requirements = "".join(p.read_text() for p in (project / ".amlrun" / "packages").rglob("requirements.txt"))
    assert "mlflow-skinny==" in requirements and "--hash=sha256:" in requirements  # locked, hashes pinned
    assert not any(line.startswith(("shared", "-e", "./", "train")) for line in requirements.splitlines())
    rows = [line for p in store.rglob("results") if p.is_file() for line in p.read_text().splitlines()]
    assert sorted(rows) == ["item_001 ok", "item_002 ok", "item_003 out_of_range", "item_004 ok",
                            "item_005 ok"]

    added = amlrun("init", project, "--experiment", "forecast")
    assert added.code == 0, added.text
    assert (project / "packages" / "forecast" / "aml-job.yaml").is_file()
    again = _pytest(project)
    assert again.returncode == 0 and "8 passed" in again.stdout, again.stdout + again.stderr
    refused = amlrun("init", project, "--experiment", "forecast")
    assert refused.code == 2 and "already exists" in refused.err
