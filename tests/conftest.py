"""Shared fixtures: run the real `amlrun` CLI in a subprocess against a private store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracking_fixtures import tracked_pipeline  # noqa: F401 - one MLflow-logging pipeline for the session

SRC = Path(__file__).resolve().parents[1] / "src"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """User-level folders (the SDK verdict cache, the index of run names) live under tmp_path."""
    monkeypatch.setenv("AMLRUN_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("AMLRUN_STATE_DIR", str(tmp_path / "user-state"))


@pytest.fixture(scope="session", autouse=True)
def _private_user_caches(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Step venvs and uv's cache live under the session's temp folder, never in the user's home."""
    os.environ.setdefault("AMLRUN_ENV_CACHE", str(tmp_path_factory.mktemp("amlrun-envs")))
    os.environ.setdefault("UV_CACHE_DIR", str(tmp_path_factory.mktemp("uv-cache")))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def amlrun(store: Path, tmp_path: Path):
    """Call `amlrun ARGS...` as a user would; returns exit code, stdout and stderr."""

    def call(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 120) -> Result:
        full_env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC), "NO_COLOR": "1",
                    **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "amlrun", *map(str, args)], cwd=cwd or tmp_path,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return call


@pytest.fixture
def write(tmp_path: Path):
    """Write a dedented text file under tmp_path and return its path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write
