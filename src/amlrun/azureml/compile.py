"""Build the azure-ai-ml job for a file: the same file, the same overrides, checked before it leaves.

`load_job(file, params_override=[...])` is what `az ml job create --set` does. Two translations
keep `amlrun run` and `amlrun submit` reading one job:

- a scalar `--set inputs.x=./other` on an input declared as a mapping sets its `path` (or
  `default`), as amlrun's runner does, instead of turning a `uri_folder` into a string literal;
- a standalone parallel job, which the service runs only inside a pipeline, becomes a one-step
  pipeline: the job's inputs/outputs become the pipeline's, the step binds them, and run-level
  fields (display name, experiment, tags, compute) move to the pipeline.

Nothing from `amlrun.yaml` goes into the job: local datastores and data-asset mappings are local.
"""

from __future__ import annotations

import copy
import io
import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from amlrun.azureml.locate import problems_from_findings
from amlrun.azureml.sdk import azure_ml
from amlrun.azureml.sdk_errors import SdkFinding, crash_finding, findings_from_result, findings_from_text
from amlrun.errors import Problem, SpecError, UsageError
from amlrun.spec.azmlops import job_source
from amlrun.spec.check import _looks_like_component, check_file_with_notes
from amlrun.spec.overrides import Override
from amlrun.spec.source import SpecSource, read_yaml

__all__ = ["CompiledJob", "compile_job", "load_sdk_job", "request_body", "sdk_params_override",
           "sdk_problems_for", "validation_findings"]

_PIPELINE_LEVEL = ("name", "display_name", "description", "tags", "experiment_name", "properties")
_DROPPED_FROM_STEP = ("$schema", *_PIPELINE_LEVEL, "compute", "inputs", "outputs")


@dataclass
class CompiledJob:
    """An azure-ai-ml Job built from a file, with where it came from."""

    job: Any
    file: Path
    source: SpecSource
    kind: str  # the type written in the file: command, pipeline or parallel
    wrapped_step: str | None = None  # the step name when a parallel job was wrapped in a pipeline


def _port_leaf(current: Any, value: Any) -> str | None:
    """Which field a scalar `--set` on a declared input/output mapping sets (as amlrun's runner does)."""
    if not isinstance(current, dict) or isinstance(value, dict):
        return None
    if "path" in current or current.get("type") not in (None, "string", "number", "integer", "boolean"):
        return "path"
    if "default" in current:
        return "default"
    return None


def sdk_params_override(data: dict[str, Any], overrides: list[Override]) -> list[dict[str, Any]]:
    """amlrun `--set` pairs as azure-ai-ml `params_override` entries."""
    result: list[dict[str, Any]] = []
    for key, value in overrides:
        parts = key.split(".")
        node: Any = data
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        in_ports = len(parts) >= 2 and parts[-2] in ("inputs", "outputs")
        leaf = _port_leaf(node, value) if in_ports else None
        result.append({f"{key}.{leaf}" if leaf else key: _as_cli_text(value)})
    return result


def _as_cli_text(value: Any) -> Any:
    """Scalars as the text `az ml job create --set` passes (`--set mini_batch_size=10` is "10")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def step_name_for(path: Path, data: dict[str, Any]) -> str:
    """A valid pipeline step name for a wrapped parallel job."""
    name = re.sub(r"\W", "_", str(data.get("name") or path.stem)) or "parallel_step"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"step_{name}"
    return name


def _wrap_parallel(data: dict[str, Any], step: str) -> dict[str, Any]:
    body = {k: copy.deepcopy(v) for k, v in data.items() if k not in _DROPPED_FROM_STEP}
    body["inputs"] = {name: f"${{{{parent.inputs.{name}}}}}" for name in (data.get("inputs") or {})}
    body["outputs"] = {name: f"${{{{parent.outputs.{name}}}}}" for name in (data.get("outputs") or {})}
    wrapper: dict[str, Any] = {"type": "pipeline"}
    for key in _PIPELINE_LEVEL:
        if data.get(key) is not None:
            wrapper[key] = copy.deepcopy(data[key])
    if data.get("compute") is not None:
        wrapper["settings"] = {"default_compute": data["compute"]}
    wrapper["inputs"] = copy.deepcopy(data.get("inputs") or {})
    wrapper["outputs"] = copy.deepcopy(data.get("outputs") or {})
    wrapper["jobs"] = {step: body}
    return wrapper


def _wrapped_key(key: str, step: str) -> str:
    head = key.split(".", 1)[0]
    if head in (*_PIPELINE_LEVEL, "inputs", "outputs"):
        return key
    if head == "compute":
        return "settings.default_compute"
    return f"jobs.{step}.{key}"


def _load(source: Any, relative_origin: Path, params: list[dict[str, Any]]) -> Any:
    ml = azure_ml()
    from marshmallow import ValidationError as SchemaError

    try:
        return ml.load_job(source, relative_origin=str(relative_origin), params_override=params)
    except SchemaError as exc:
        raise _SdkRejected(findings_from_text(str(exc))) from None
    except ml.exceptions.ValidationException as exc:
        raise _SdkRejected(findings_from_text(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - the SDK also fails with AttributeError etc. on odd input
        raise _SdkRejected([crash_finding(exc)]) from None


class _SdkRejected(Exception):
    def __init__(self, findings: list) -> None:
        super().__init__("azure-ai-ml rejected the file")
        self.findings = findings


def validation_findings(loaded: Any) -> list[SdkFinding]:
    """azure-ai-ml's offline `_validate()` as findings (it can also raise while serializing)."""
    from marshmallow import ValidationError as SchemaError

    if not hasattr(loaded, "_validate"):
        return []  # sweep, automl, fine-tuning jobs: loading them is all azure-ai-ml checks offline
    try:
        result = loaded._validate()
    except SchemaError as exc:
        field = getattr(exc, "field_name", None)
        path = (field,) if isinstance(field, str) and field != "_schema" else ()
        messages = exc.messages if isinstance(exc.messages, list) else [str(exc)]
        return [SdkFinding(path, str(messages[-1]))]
    except Exception as exc:  # noqa: BLE001 - see _load
        return [crash_finding(exc)]
    if result is None or result.passed:
        return []
    return findings_from_result(dict(result.error_messages))


def _findings_for_data(data: dict[str, Any], path: Path, wrapped_step: str | None) -> list[SdkFinding]:
    """What azure-ai-ml says about a (modified) job document: used to find a field it will not name."""
    document = _wrap_parallel(data, wrapped_step) if wrapped_step else data
    try:
        job = _load(io.StringIO(yaml.safe_dump(document, sort_keys=False)), path, [])
    except _SdkRejected as exc:
        return exc.findings
    return validation_findings(job)


def _locate(findings: list[SdkFinding], source: SpecSource, step: str | None,
            overrides: list[Override]) -> list[Problem]:
    return problems_from_findings(findings, source, step, overrides,
                                  retry=lambda data: _findings_for_data(data, source.path, step))


def load_sdk_job(path: Path, overrides: list[Override]) -> CompiledJob:
    """Load a job file with azure-ai-ml (no amlrun checks, no network). SpecError on schema errors."""
    written = read_yaml(path)
    source = job_source(written)  # an azmlops file: the v2 job it means, problems at its own lines
    kind = str(source.data.get("type", "command"))
    step = step_name_for(path, source.data) if kind == "parallel" else None
    params = sdk_params_override(source.data, overrides)
    try:
        if step is not None:
            params = [{_wrapped_key(k, step): v for k, v in p.items()} for p in params]
            text = yaml.safe_dump(_wrap_parallel(source.data, step), sort_keys=False)
            job = _load(io.StringIO(text), path, params)
        elif source is not written:
            job = _load(io.StringIO(yaml.safe_dump(source.data, sort_keys=False)), path, params)
        else:
            job = _load(path, path, params)
    except _SdkRejected as exc:
        raise SpecError(_locate(exc.findings, source, step, overrides)) from None
    # a command job file loads as a Command node: what `_validate()` and jobs.create_or_update take
    return CompiledJob(job=job, file=path, source=source, kind=kind, wrapped_step=step)


def sdk_problems_for(compiled: CompiledJob, overrides: list[Override]) -> list[Problem]:
    """What azure-ai-ml's own validation (`job._validate()`, offline) reports for a loaded job."""
    return _locate(validation_findings(compiled.job), compiled.source, compiled.wrapped_step, overrides)


def _compute_problems(compiled: CompiledJob) -> list[Problem]:
    """A job the service can run names a compute target; `local` is amlrun's, not the service's."""
    smap = compiled.source.source_map
    job = compiled.job
    hint = "pass --compute <cluster> or set `compute: azureml:<cluster>` in the file"
    local = "`compute: local` runs only with `amlrun run`"
    if compiled.wrapped_step is not None or compiled.kind != "pipeline":
        compute = job.settings.default_compute if compiled.wrapped_step else job.compute
        if not compute:
            return [smap.problem(("type",), "the job names no compute to run on", hint)]
        return [smap.problem(("compute",), local, hint)] if _is_local(compute) else []
    default = job.settings.default_compute or job.compute
    default_at = ("settings", "default_compute") if job.settings.default_compute else ("compute",)
    problems = []
    for name, node in job.jobs.items():
        if type(node).__name__ == "Pipeline":
            continue
        own = getattr(node, "compute", None)
        if not (own or default):
            problems.append(smap.problem(("jobs", name), f"step {name!r} has no compute to run on", hint))
        elif _is_local(own or default):
            problems.append(smap.problem(("jobs", name, "compute") if own else default_at, local, hint))
    return list(dict.fromkeys(problems))


def _is_local(compute: str) -> bool:
    return str(compute).removeprefix("azureml:").strip().lower() == "local"


def precheck_job(path: Path, overrides: list[Override]) -> list[Problem]:
    """amlrun's own checks of a job to submit (no azure-ai-ml import): SpecError/UsageError when it fails.

    Returns the notes worth a line (steps that run on AzureML only, registered components)."""
    own, notes, _ = check_file_with_notes(path, overrides)
    if own:
        raise SpecError(own)
    if _looks_like_component(read_yaml(path).data):
        raise UsageError(f"{path} is a component, not a job",
                         hint="submit a pipeline job that uses it (`component: ./...yml` in a step)")
    return notes


def compile_job(path: Path, overrides: list[Override], *, name: str | None = None,
                experiment: str | None = None, compute: str | None = None, prechecked: bool = False,
                job: Any = None) -> CompiledJob:
    """Check a job file (amlrun's checks, then azure-ai-ml's) and build the job to submit.

    `job`: an azure-ai-ml object of which `path` is the dump; without overrides it is sent as it is,
    so the request body is the one `MLClient.jobs.create_or_update(job)` sends.
    Raises SpecError before anything is sent when either check fails or no compute is named.
    """
    if not prechecked:
        precheck_job(path, overrides)
    if job is not None and not overrides:
        source = read_yaml(path)
        compiled = CompiledJob(job=job, file=path, source=source, kind=str(source.data.get("type", "command")))
    else:
        compiled = load_sdk_job(path, overrides)
    job = compiled.job
    if name:
        job.name = name
    if experiment:
        job.experiment_name = experiment
    if compute:
        compute = compute.removeprefix("azureml:")  # as the YAML loader does with `compute: azureml:x`
        if compiled.kind == "pipeline" or compiled.wrapped_step:
            job.settings.default_compute = compute
        else:
            job.compute = compute
    problems = sdk_problems_for(compiled, overrides) + _compute_problems(compiled)
    if problems:
        raise SpecError(problems)
    return compiled


def request_body(job: Any) -> dict[str, Any]:
    """The request body azure-ai-ml sends for `job` (before code/asset ids are resolved), as plain data."""
    azure_ml()
    from azure.ai.ml.entities._job.to_rest_functions import to_rest_job_object

    return _plain(to_rest_job_object(job).as_dict())


def _plain(value: Any) -> Any:
    """JSON-ready data: SDK entities embedded in the body (an unregistered component) as their dicts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    to_dict = getattr(value, "_to_dict", None)
    if callable(to_dict):
        return _plain(to_dict())
    return str(value)
