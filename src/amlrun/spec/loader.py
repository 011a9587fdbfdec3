"""Load a job file (and every component it names) into typed models with their sources.

The result is a tree of `Node`s: one per job or pipeline step, each pairing the *definition*
(the component, or the inline job itself) with the step's *wiring* (what it binds to its inputs
and outputs) and the run settings the step overrides. Everything downstream (validation,
planning, submission) reads this tree; nothing here touches data or runs anything.

Loading never stops at the first problem: a field that fails the schema is reported, dropped, and
loading goes on, so `amlrun check` lists every problem of a file at once (`Findings`). `load_job`
raises them all together; `load_job_collecting` returns what could be loaded plus the findings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from amlrun.errors import SpecError
from amlrun.spec.azmlops import read_job_yaml
from amlrun.spec.bindings import BINDING_RE
from amlrun.spec.models import (
    CLOUD_ONLY_TYPES,
    CommandComponent,
    CommandJob,
    ComponentRefStep,
    InputSpec,
    ParallelComponent,
    ParallelJob,
    PipelineComponent,
    PipelineJob,
    RemoteStep,
)
from amlrun.spec.node import Findings, Node, NodeKind
from amlrun.spec.overrides import Override, apply_overrides
from amlrun.spec.schema_messages import describe_validation_errors
from amlrun.spec.source import FieldPath, SourceMap, SpecSource, format_path, read_yaml

__all__ = [
    "Findings",
    "Node",
    "NodeKind",
    "load_component",
    "load_component_collecting",
    "load_job",
    "load_job_collecting",
]

_RUN_SETTINGS = (
    "environment_variables", "resources", "distribution", "limits", "environment", "mini_batch_size",
    "partition_keys", "max_concurrency_per_instance", "mini_batch_error_threshold", "error_threshold",
    "retry_settings", "logging_level", "input_data", "compute", "display_name", "settings",
)
_MAX_REPAIRS = 10


_STEP_TAGS = {"command", "parallel", "component_ref", "remote"}


def _clean_loc(loc: tuple[Any, ...], data: Any) -> list[str | int]:
    """A pydantic error location as a path into the YAML data.

    Pydantic adds the step union's tag after a step's name (`jobs.train.command.inputs`), union
    member names (`conda_file.str`) and our pseudo fields (`value`, `reference`, for a scalar
    written where a mapping may be); keep only what names the data.
    """
    parts = [p for i, p in enumerate(loc) if not (i >= 2 and loc[i - 2] == "jobs" and p in _STEP_TAGS)]
    cleaned: list[str | int] = []
    node = data
    for part in parts:
        if isinstance(node, dict):
            cleaned.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            cleaned.append(part)
            node = node[part] if part < len(node) else None
        elif node is None:
            cleaned.append(part)
        # else: a scalar; the rest (pseudo field or union member) stands for the scalar itself
    return cleaned


def _drop(data: Any, path: list[str | int]) -> bool:
    """Remove `path` from `data` in place; False when there is nothing to remove."""
    if not path:
        return False
    node = data
    for part in path[:-1]:
        if not _has(node, part):
            return False
        node = node[part]
    if not _has(node, path[-1]):
        return False
    del node[path[-1]]
    return True


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _validate(model: type[BaseModel], data: dict[str, Any], source: SpecSource, base: FieldPath,
              findings: Findings) -> Any:
    """Validate `data`; on errors report each, drop the offending fields and try again.

    Returns the model, or None when the data cannot be repaired (findings hold why).
    """
    work = copy.deepcopy(data)
    for _ in range(_MAX_REPAIRS):
        try:
            return model.model_validate(work)
        except ValidationError as exc:
            repaired = False
            grouped: dict[tuple[str | int, ...], list[dict[str, Any]]] = {}
            for err in exc.errors():
                grouped.setdefault(tuple(_clean_loc(tuple(err["loc"]), work)), []).append(err)
            paths = []
            for path, errs in grouped.items():
                said = describe_validation_errors(errs, list(path), model, work)
                findings.add(source.source_map.problem((*base, *path, *said.suffix), said.message, said.hint,
                                                       at_value=said.at_value))
                paths.append(list(path[:-1]) if errs[0]["type"] == "missing" else list(path))
            # drop deepest and last first so list indexes stay valid
            for path in sorted(paths, key=lambda p: (len(p), p and str(p[-1])), reverse=True):
                if _drop(work, path):
                    findings.dropped.add((source.source_map.file, format_path((*base, *path))))
                    repaired = True
            if not repaired:
                return None
    return None


_JOB_MODELS: dict[str, type[BaseModel]] = {
    "command": CommandJob, "parallel": ParallelJob, "pipeline": PipelineJob,
}
_COMPONENT_MODELS: dict[str, type[BaseModel]] = {
    "command": CommandComponent, "parallel": ParallelComponent, "pipeline": PipelineComponent,
}
REMOTE_NOTE = "runs on AzureML only"


def _kind(data: dict[str, Any], smap: SourceMap, base: FieldPath, models: dict[str, type[BaseModel]],
          what: str, findings: Findings) -> str | None:
    """The job/component type, "remote" for one only AzureML runs, None (reported) when unknown."""
    if what == "component" and is_flow(data, smap.file):
        return "remote"
    kind = data.get("type", "command")
    if not isinstance(kind, str):  # `type: {a: 1}` or a list: not a name to look up
        kind = repr(kind)
    if kind in models:
        return str(kind)
    if kind in CLOUD_ONLY_TYPES:
        return "remote"
    import difflib

    known = [*models, *CLOUD_ONLY_TYPES]
    close = difflib.get_close_matches(str(kind), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(known)}"
    findings.add(smap.problem((*base, "type"), f"unknown {what} type {kind!r}", hint, at_value=True))
    return None


def is_flow(data: dict[str, Any], file: str) -> bool:
    """A prompt flow (`flow.dag.yaml`, or a promptflow `Run`/`Flow` file) used as a component."""
    schema = str(data.get("$schema", "")).lower()
    return "promptflow" in schema or Path(file).name.startswith("flow.dag.") or \
        ("flow" in data and "type" not in data and "command" not in data)


def _remote_kind(data: dict[str, Any], file: str) -> str:
    return "prompt flow" if is_flow(data, file) else str(data.get("type"))


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _remote_definition(data: Any) -> RemoteStep:
    """A cloud-only job/step/component, loosely typed: its ports when they parse, nothing else checked."""
    raw = data if isinstance(data, dict) else {}
    try:
        return RemoteStep.model_validate({**raw, "type": str(raw.get("type") or "flow")})
    except ValidationError:
        return RemoteStep(type=str(raw.get("type") or "flow"))


def _remote_inputs(inputs: dict[str, Any]) -> dict[str, InputSpec]:
    """A cloud-only step's inputs that amlrun can read (bindings, paths); the rest are the service's."""
    parsed = {}
    for name, value in inputs.items():
        try:
            parsed[str(name)] = InputSpec.model_validate(value)
        except ValidationError:
            continue
    return _step_inputs(parsed)


def load_job(path: str | Path, overrides: list[Override] | None = None) -> Node:
    """Load a job file into a Node tree. Raises SpecError listing every problem found."""
    node, findings = load_job_collecting(path, overrides)
    if findings.problems or node is None:
        raise SpecError(findings.problems)
    return node


def load_job_collecting(path: str | Path, overrides: list[Override] | None = None
                        ) -> tuple[Node | None, Findings]:
    """Load as much of a job file as possible; the problems found are in the returned Findings."""
    findings = Findings()
    try:
        source = read_job_yaml(path, duplicates=findings.problems)  # an azmlops file reads as its v2 job
    except SpecError as exc:
        findings.extend(exc.problems)
        return None, findings
    if overrides:
        source = SpecSource(source.path, apply_overrides(source.data, overrides, source.source_map),
                            source.source_map)
    kind = _kind(source.data, source.source_map, (), _JOB_MODELS, "job", findings)
    if kind is None:
        return None, findings
    if kind == "remote":
        what = f"{_a(str(source.data.get('type')))} job"
        findings.note(source.source_map.problem(
            ("type",), f"{what} {REMOTE_NOTE}", "submit it with `amlrun submit`; `amlrun run` cannot run it here",
            at_value=True))
        definition = _remote_definition(source.data)
        return Node(name=source.data.get("name") or source.path.stem, kind="remote", definition=definition,
                    definition_source=source, source=source, path=(), job=definition, remote=what), findings
    job = _validate(_JOB_MODELS[kind], source.data, source, (), findings)
    if job is None:
        return None, findings
    name = job.name or source.path.stem
    node = Node(name=name, kind=kind, definition=job, definition_source=source, source=source, path=(),
                inputs=dict(job.inputs), outputs=dict(job.outputs), job=job)
    if kind == "pipeline":
        _load_children(node, source.data, source, (), {source.path.resolve()}, findings)
    return node, findings


def load_component(path: str | Path, seen: set[Path] | None = None,
                   referenced_from: tuple[SourceMap, FieldPath] | None = None) -> tuple[Any, SpecSource]:
    """Load a component file; returns (model, source). Raises SpecError listing every problem."""
    findings = Findings()
    loaded = _load_component_file(Path(path), findings)
    if loaded is None or findings.problems:
        raise SpecError(findings.problems)
    return loaded


def load_component_collecting(path: str | Path) -> tuple[Node | None, Findings]:
    """A component file on its own (for `amlrun check`), as a Node whose definition is the component."""
    findings = Findings()
    loaded = _load_component_file(Path(path), findings)
    if loaded is None:
        return None, findings
    definition, source = loaded
    kind = "remote" if isinstance(definition, RemoteStep) else definition.type
    node = Node(name=getattr(definition, "name", None) or source.path.stem, kind=kind,
                definition=definition, definition_source=source, source=source, path=(), definition_path=())
    if kind == "remote":
        node.remote = f"{_a(_remote_kind(source.data, str(source.path)))} component"
        findings.note(source.source_map.problem(
            ("type",) if "type" in source.data else (), f"{node.remote} {REMOTE_NOTE}",
            "use it in a pipeline you submit with `amlrun submit`", at_value="type" in source.data))
    if node.kind == "pipeline":
        _load_children(node, source.data, source, (), {source.path.resolve()}, findings)
    return node, findings


def _load_component_file(path: Path, findings: Findings) -> tuple[Any, SpecSource] | None:
    try:
        source = read_yaml(path, duplicates=findings.problems)
    except SpecError as exc:
        findings.extend(exc.problems)
        return None
    kind = _kind(source.data, source.source_map, (), _COMPONENT_MODELS, "component", findings)
    if kind is None:
        return None
    if kind == "remote":
        return _remote_definition(source.data), source
    model = _validate(_COMPONENT_MODELS[kind], source.data, source, (), findings)
    return (model, source) if model is not None else None


def _load_children(node: Node, raw: dict[str, Any], source: SpecSource, base: FieldPath, seen: set[Path],
                   findings: Findings) -> None:
    """Load the steps of a pipeline node; steps that fail to load are named in `node.broken`."""
    raw_jobs = raw.get("jobs") if isinstance(raw, dict) else None
    node.broken = {str(k) for k in raw_jobs} if isinstance(raw_jobs, dict) else set()
    for step_name, step in node.definition.jobs.items():
        path = (*base, "jobs", step_name)
        if not step_name.isidentifier():
            findings.add(source.source_map.problem(
                path, f"step name {step_name!r} is not a valid identifier",
                "use letters, digits and underscores, not starting with a digit, "
                f"e.g. {_identifier(step_name)!r}"))
            continue
        child = _load_step(step_name, step, source, path, seen, findings)
        if child is not None:
            node.children[step_name] = child
    node.broken -= set(node.children)


def _identifier(name: str) -> str:
    import re

    fixed = re.sub(r"\W", "_", name)
    return fixed if not fixed[:1].isdigit() else "_" + fixed


def _load_step(step_name: str, step: Any, source: SpecSource, path: FieldPath, seen: set[Path],
               findings: Findings) -> Node | None:
    if isinstance(step, RemoteStep):
        return _remote_step(step_name, step, step, source, source, path, path,
                            f"is {_a(step.type)} step", (*path, "type"), findings)
    if not isinstance(step, ComponentRefStep):
        # an inline command or parallel job is its own definition
        return Node(step_name, step.type, step, source, source, path,
                    inputs=_step_inputs(step.inputs), outputs=dict(step.outputs))
    resolved = _resolve_component(step.component, source, path, seen, findings)
    if resolved is None:
        return None
    definition, def_source, def_path = resolved
    if isinstance(definition, RemoteStep):
        what = (f"uses registered component {str(step.component)!r}" if def_source is source
                else f"uses {_a(_remote_kind(def_source.data, str(def_source.path)))} component")
        return _remote_step(step_name, step, definition, source, def_source, path, def_path, what,
                            (*path, "component"), findings)
    kind = definition.type
    if step.type and step.type != kind:
        findings.add(source.source_map.problem(
            (*path, "type"), f"step type {step.type!r} does not match its component's type {kind!r}",
            f"set `type: {kind}` or remove the line", at_value=True))
    settings = {k: getattr(step, k) for k in _RUN_SETTINGS
                if k in step.model_fields_set and getattr(step, k) is not None}
    node = Node(step_name, kind, definition, def_source, source, path, inputs=_step_inputs(step.inputs),
                outputs=dict(step.outputs), settings=settings, definition_path=def_path)
    if kind == "pipeline":
        raw = _raw_at(def_source.data, def_path)
        _load_children(node, raw, def_source, def_path, seen | {def_source.path.resolve()}, findings)
    return node


def _remote_step(step_name: str, step: Any, definition: RemoteStep, source: SpecSource, def_source: SpecSource,
                 path: FieldPath, def_path: FieldPath, what: str, at: FieldPath, findings: Findings) -> Node:
    """A step only AzureML runs: a note for `check`, a Node `run` refuses (its bindings still checked).

    `what` completes "step 'x' ..." ("is a spark step", "uses registered component 'azureml:t@latest'")."""
    registered = "registered component" in what
    hint = ("to run it here, map it to a local YAML file under `components:` in amlrun.yaml" if registered
            else "`amlrun run --step <other step>` runs the rest of the pipeline here")
    findings.note(source.source_map.problem(at, f"step {step_name!r} {what}: it {REMOTE_NOTE}", hint,
                                            at_value=True))
    raw_inputs = step.inputs if isinstance(step, RemoteStep) else {
        name: spec.model_dump(exclude_none=True, exclude_defaults=True) if spec is not None else None
        for name, spec in step.inputs.items()}
    outputs = {name: spec for name, spec in step.outputs.items()} if not isinstance(step, RemoteStep) else {}
    return Node(step_name, "remote", definition, def_source, source, path, inputs=_remote_inputs(raw_inputs),
                outputs=outputs, definition_path=def_path, remote=what)


def _step_inputs(inputs: dict[str, InputSpec]) -> dict[str, InputSpec]:
    """A step's inputs, with the long form `{path: ${{...}}, mode: m}` read as the binding itself.

    AzureML accepts a binding inside `path:` of a step input mapping (optionally with `mode:`);
    it means exactly `name: ${{...}}` with that mode, so everything downstream (validation, the
    DAG, planning) sees one form.
    """
    result = {}
    for name, spec in inputs.items():
        if spec is not None and spec.value is None and isinstance(spec.path, str) and BINDING_RE.search(spec.path):
            spec = spec.model_copy(update={"value": spec.path, "path": None})
        result[name] = spec
    return result


def _mapped_component(reference: str, source: SpecSource, where: FieldPath, findings: Findings) -> Path | None:
    """The local YAML file amlrun.yaml's `components:` maps a registered component to, or None."""
    from amlrun.spec.project import load_project_config

    try:
        config = load_project_config(source.path)
    except SpecError as exc:
        findings.extend(exc.problems)
        return None
    target = config.component_file(reference)
    if target is not None and not target.is_file():
        findings.add(source.source_map.problem(
            where, f"amlrun.yaml maps {reference!r} to {target}, which does not exist",
            "fix the path under `components:` (relative to the amlrun.yaml that lists it)", at_value=True))
        return None
    return target


def _raw_at(data: Any, path: FieldPath) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _resolve_component(ref: Any, source: SpecSource, path: FieldPath, seen: set[Path], findings: Findings
                       ) -> tuple[Any, SpecSource, FieldPath] | None:
    smap = source.source_map
    where = (*path, "component")
    if isinstance(ref, dict):
        kind = _kind(ref, smap, where, _COMPONENT_MODELS, "component", findings)
        if kind is None:
            return None
        if kind == "remote":
            return _remote_definition(ref), source, where
        model = _validate(_COMPONENT_MODELS[kind], ref, source, where, findings)
        return (model, source, where) if model is not None else None
    text = str(ref)
    if text.startswith("file:"):
        text = text[len("file:"):]
    if text.startswith("azureml:"):
        mapped = _mapped_component(text, source, where, findings)
        if mapped is None:
            return RemoteStep(type="registered"), source, where
        file = mapped
    else:
        file = (source.folder / text).resolve()
    if file in seen:
        findings.add(smap.problem(where, f"component {text!r} includes itself",
                                  "a pipeline component cannot contain itself", at_value=True))
        return None
    if not file.is_file():
        findings.add(smap.problem(
            where, f"component file {text!r} not found (looked for {file})",
            f"paths in `component:` are relative to the file that names them ({source.path.name})",
            at_value=True))
        return None
    loaded = _load_component_file(file, findings)
    if loaded is None:
        return None
    return loaded[0], loaded[1], ()
