"""pytest plugin (entry point `pytest11`): the `amlrun_runner` fixture, for testing jobs in CI.

    def test_training(amlrun_runner):
        result = amlrun_runner("pipeline.yml", set={"inputs.epochs": 1})
        assert result.steps["train"].status == "Completed"
        assert (result.outputs["model"] / "model.pkl").exists()

Each test gets its own run store under `tmp_path` (runs, outputs, step cache), so tests never see
each other's runs or reuse each other's steps. A failed run raises `amlrun.RunFailed` with the
failing step's log tail, unless the test passes `raise_on_failure=False`.

Loading this plugin imports nothing but the standard library: amlrun itself loads when a test
first calls the fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["AmlrunRunner", "amlrun_runner"]


class AmlrunRunner:
    """`amlrun.run` bound to one test's private store; call it like `amlrun.run`."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.results: list[Any] = []

    def __call__(self, job: Any, *, raise_on_failure: bool = True, quiet: bool = False, **options: Any) -> Any:
        from amlrun.api import run

        options.setdefault("store", self.store)
        result = run(job, raise_on_failure=False, quiet=quiet, **options)
        self.results.append(result)
        if raise_on_failure:
            result.raise_for_status()
        return result

    run = __call__


@pytest.fixture
def amlrun_runner(tmp_path: Path) -> AmlrunRunner:
    """Run AzureML jobs locally in a test, each test with its own run store in `tmp_path`."""
    return AmlrunRunner(tmp_path / "amlrun-store")
