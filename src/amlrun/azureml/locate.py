"""Place azure-ai-ml's findings in the user's files: the right file, line, column and field.

Three SDK habits need undoing:

- a wrapped parallel job's fields live under `jobs.<step>.` in the pipeline amlrun built, but at
  the top of the user's file;
- any error inside an inline pipeline step is also reported as `Missing data for required field`
  at `jobs.<step>.component`; when that is all the SDK says about a step, the step is reloaded
  alone as a command job (which names the real field), else its fields are removed one at a time
  until the complaint goes away;
- some errors carry no path at all (or crash the SDK); the same removal search finds the field.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from amlrun.azureml.sdk_errors import SdkFinding, crash_finding, findings_from_result, findings_from_text
from amlrun.errors import Problem, SpecError
from amlrun.spec.overrides import Override, apply_overrides
from amlrun.spec.source import FieldPath, SourceMap, SpecSource, read_yaml

__all__ = ["problems_from_findings"]

Retry = Callable[[dict[str, Any]], list[SdkFinding]]

_HINT = "azure-ai-ml's schema rejects this, so the service would too"
_VAGUE = "Missing data for required field"


def _is_vague(finding: SdkFinding) -> bool:
    path = finding.path
    return (len(path) == 3 and path[0] == "jobs" and path[2] == "component"
            and finding.message.startswith(_VAGUE))


def _step_data(source: SpecSource, overrides: list[Override], step: str) -> dict[str, Any] | None:
    data = apply_overrides(source.data, overrides) if overrides else source.data
    value = (data.get("jobs") or {}).get(step)
    return value if isinstance(value, dict) else None


def _reload_step_alone(source: SpecSource, overrides: list[Override], step: str) -> list[SdkFinding]:
    """What azure-ai-ml says about an inline command step loaded as a standalone command job."""
    data = _step_data(source, overrides, step)
    if data is None or "component" in data or data.get("type", "command") != "command":
        return []
    from marshmallow import ValidationError as SchemaError

    from amlrun.azureml.sdk import azure_ml

    ml = azure_ml()
    text = yaml.safe_dump({**data, "type": "command"}, sort_keys=False)
    try:
        job = ml.load_job(io.StringIO(text), relative_origin=str(source.path))
    except (SchemaError, ml.exceptions.ValidationException) as exc:
        found = findings_from_text(str(exc))
    except Exception as exc:  # noqa: BLE001 - see compile._load
        found = [crash_finding(exc)]
    else:
        result = job._validate()
        found = [] if result.passed else findings_from_result(dict(result.error_messages))
    return [SdkFinding(("jobs", step, *f.path), f.message) for f in found]


def _bisect_step(source: SpecSource, overrides: list[Override], step: str, wrapped: bool,
                 retry: Retry) -> list[SdkFinding]:
    """The step field whose removal makes azure-ai-ml's complaint about the step go away."""
    data = apply_overrides(source.data, overrides) if overrides else copy.deepcopy(source.data)
    fields = data if wrapped else (data.get("jobs") or {}).get(step)
    if not isinstance(fields, dict):
        return []
    culprits = []
    for key in list(fields):
        if key in ("type", "component", "$schema"):
            continue
        trial = copy.deepcopy(data)
        del (trial if wrapped else trial["jobs"][step])[key]
        if not any(f.path[:2] == ("jobs", step) for f in retry(trial)):
            culprits.append(SdkFinding(("jobs", step, key), "azure-ai-ml rejects this field (its own message "
                                                            "names only the step: `Missing data for required "
                                                            "field ... component`)"))
    return culprits


def _narrow(finding: SdkFinding, source: SpecSource, overrides: list[Override], retry: Retry) -> SdkFinding:
    """Give a finding without a field path one: descend into the keys whose removal makes it go away."""
    data = apply_overrides(source.data, overrides) if overrides else copy.deepcopy(source.data)
    path: tuple[str, ...] = ()
    node: Any = data
    while isinstance(node, dict):
        for key in [k for k in node if k not in ("type", "$schema")]:  # those change the schema itself
            trial = copy.deepcopy(data)
            parent = trial
            for part in path:
                parent = parent[part]
            del parent[key]
            if not any(f.message == finding.message for f in retry(trial)):
                path, node = (*path, key), node[key]
                break
        else:
            break
    return SdkFinding(path, finding.message) if path else finding


def _resolve_vague(findings: list[SdkFinding], source: SpecSource, overrides: list[Override],
                   wrapped_step: str | None, retry: Retry | None) -> list[SdkFinding]:
    result: list[SdkFinding] = []
    for finding in findings:
        if not finding.path and retry is not None:
            result.append(_narrow(finding, source, overrides, retry))
            continue
        if not _is_vague(finding):
            result.append(finding)
            continue
        step = str(finding.path[1])
        others = [f for f in findings if f.path[:2] == ("jobs", step) and not _is_vague(f)]
        if others:
            continue  # the real error for this step is already listed
        real = [] if wrapped_step else _reload_step_alone(source, overrides, step)
        if not real and retry is not None:
            real = _bisect_step(source, overrides, step, wrapped_step == step, retry)
        result.extend(real or [SdkFinding(("jobs", step),
                                          "azure-ai-ml rejects this step without naming the field")])
    return list(dict.fromkeys(result))


def _where(path: FieldPath, source: SpecSource, wrapped_step: str | None) -> tuple[SourceMap, FieldPath]:
    """The file and field path in it where a finding about `path` (in the loaded job) is written."""
    if wrapped_step is not None:
        if path[:2] == ("jobs", wrapped_step):
            return source.source_map, path[2:]
        if path[:2] == ("settings", "default_compute"):
            return source.source_map, ("compute",)
        return source.source_map, path
    if len(path) > 3 and path[0] == "jobs" and path[2] == "component":
        step = (source.data.get("jobs") or {}).get(path[1])
        ref = step.get("component") if isinstance(step, dict) else None
        if isinstance(ref, str) and not ref.startswith("azureml:"):
            file = source.folder / ref.removeprefix("file:")
            try:
                return read_yaml(Path(file)).source_map, path[3:]
            except SpecError:
                pass
    return source.source_map, path


def problems_from_findings(findings: list[SdkFinding], source: SpecSource, wrapped_step: str | None,
                           overrides: list[Override], retry: Retry | None = None) -> list[Problem]:
    """Problems at file:line:col for what azure-ai-ml found.

    `retry(data)` re-checks a modified document the same way (used to find a field the SDK will not
    name); without it a step-level complaint stays at the step.
    """
    problems: list[Problem] = []
    for finding in _resolve_vague(findings, source, overrides, wrapped_step, retry):
        smap, path = _where(finding.path, source, wrapped_step)
        problems.append(smap.problem(path, finding.message, _HINT))
    return list(dict.fromkeys(problems))
