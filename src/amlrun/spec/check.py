"""amlrun's own checks of job and component files: fast, no azure-ai-ml import."""

from __future__ import annotations

from pathlib import Path

from amlrun.errors import Problem, SpecError
from amlrun.spec.loader import load_component, load_job
from amlrun.spec.overrides import Override
from amlrun.spec.source import read_yaml
from amlrun.spec.validate import collect_problems

__all__ = ["check_file"]


def check_file(path: Path, overrides: list[Override]) -> list[Problem]:
    """Problems amlrun itself finds in one job or component file (no azure-ai-ml import)."""
    try:
        source = read_yaml(path)
        if _looks_like_component(source.data):
            load_component(path)
            return []
        node = load_job(path, overrides)
        return collect_problems(node)
    except SpecError as exc:
        return exc.problems


def _looks_like_component(data: dict) -> bool:
    schema = str(data.get("$schema", ""))
    return "Component" in schema or ("version" in data and "jobs" not in data and "experiment_name" not in data
                                     and "compute" not in data and data.get("type") != "pipeline")
