"""`amlrun check`: amlrun's own checks first, then azure-ai-ml's schema validation when installed,
so that what passes `check` is what the service accepts.

The SDK side loads a file exactly as `amlrun submit` does (same overrides, same parallel-job
wrapping: `compile.load_sdk_job`) and runs the SDK's offline `_validate()`.
"""

from __future__ import annotations

from pathlib import Path

from amlrun.errors import Problem, SpecError
from amlrun.spec.check import check_file_with_notes
from amlrun.spec.overrides import Override

__all__ = ["check_files", "sdk_problems"]


def sdk_problems(path: Path, overrides: list[Override]) -> list[Problem]:
    """Problems azure-ai-ml reports for a file amlrun accepted; [] when azure-ai-ml is not installed."""
    from amlrun.azureml.sdk import sdk_available

    if not sdk_available():
        return []
    from amlrun.spec.source import read_yaml

    source = read_yaml(path)
    try:
        if _is_component(source.data):
            return _component_problems(path)
        from amlrun.azureml.compile import load_sdk_job, sdk_problems_for

        return sdk_problems_for(load_sdk_job(path, overrides), overrides)
    except SpecError as exc:
        return exc.problems


def _is_component(data: dict) -> bool:
    from amlrun.spec.check import _looks_like_component

    return _looks_like_component(data)


def _component_problems(path: Path) -> list[Problem]:
    from marshmallow import ValidationError as SchemaError

    from amlrun.azureml.locate import problems_from_findings
    from amlrun.azureml.sdk import azure_ml
    from amlrun.azureml.sdk_errors import crash_finding, findings_from_text
    from amlrun.spec.source import read_yaml

    ml = azure_ml()
    source = read_yaml(path)
    try:
        component = ml.load_component(path)
    except (SchemaError, ml.exceptions.ValidationException) as exc:
        return problems_from_findings(findings_from_text(str(exc)), source, None, [])
    except Exception as exc:  # noqa: BLE001 - see compile._load
        return problems_from_findings([crash_finding(exc)], source, None, [])
    from amlrun.azureml.compile import validation_findings

    return problems_from_findings(validation_findings(component), source, None, [])


def _planning_problems(path: Path, overrides: list[Override], notes: list[Problem]) -> list[Problem]:
    """A job file is planned as `run` would plan it: a URI or datastore run would refuse fails `check` too."""
    from amlrun.spec.azmlops import is_azmlops
    from amlrun.spec.check import load_checked_job, looks_like_component
    from amlrun.spec.source import read_yaml

    data = read_yaml(path).data
    if looks_like_component(data) and not is_azmlops(data):
        return []
    from amlrun.engine.dry_plan import plan_problems

    try:
        node = load_checked_job(path, overrides)
    except SpecError as exc:
        return exc.problems
    return plan_problems(node, path, notes)


def check_files(paths: list[Path], overrides: list[Override], use_sdk: bool = True
                ) -> tuple[list[Problem], list[Problem]]:
    """(problems, notes) for every file: amlrun's checks, then azure-ai-ml's verdict (cached) on what passed."""
    from amlrun.azureml.verdicts import cached_sdk_problems

    problems: list[Problem] = []
    notes: list[Problem] = []
    for path in paths:
        found, said, files = check_file_with_notes(path, overrides)
        if not found and not said:  # (a step that runs on AzureML only is not planned here)
            found = _planning_problems(path, overrides, said)
        if not found and use_sdk:
            found = cached_sdk_problems(files, overrides, lambda path=path: sdk_problems(path, overrides))
        problems.extend(found)
        notes.extend(said)
    return problems, list(dict.fromkeys(notes))
