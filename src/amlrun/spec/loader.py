"""Load a job file (and every component it names) into typed models with their sources.

The result is a tree of `Node`s: one per job or pipeline step, each pairing the *definition*
(the component, or the inline job itself) with the step's *wiring* (what it binds to its inputs
and outputs) and the run settings the step overrides. Everything downstream (validation,
planning, submission) reads this tree; nothing here touches data or runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from amlrun.errors import Problem, SpecError
from amlrun.spec.models import (
    CommandComponent,
    CommandJob,
    ComponentRefStep,
    ParallelComponent,
    ParallelJob,
    PipelineComponent,
    PipelineJob,
)
from amlrun.spec.overrides import Override, apply_overrides
from amlrun.spec.source import FieldPath, SourceMap, SpecSource, read_yaml

__all__ = ["Node", "NodeKind", "load_component", "load_job"]

NodeKind = Literal["command", "parallel", "pipeline"]

_STEP_TAGS = {"command", "parallel", "component_ref"}
_RUN_SETTINGS = (
    "environment_variables", "resources", "distribution", "limits", "environment", "mini_batch_size",
    "partition_keys", "max_concurrency_per_instance", "mini_batch_error_threshold", "error_threshold",
    "retry_settings", "logging_level", "input_data", "compute", "display_name", "settings",
)


@dataclass
class Node:
    """A job or a pipeline step with its definition resolved.

    `definition` is a CommandComponent/ParallelComponent/PipelineComponent-shaped model (an inline
    job is its own definition). Relative paths in it (`code`, `conda_file`, ...) are relative to
    `definition_source.folder`. `inputs`/`outputs` are the step's bindings, written in the parent's
    scope; `settings` are run settings the step overrides on its component.
    """

    name: str
    kind: NodeKind
    definition: Any
    definition_source: SpecSource
    source: SpecSource
    path: FieldPath
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    job: Any = None  # the top-level job model, for the root node only

    @property
    def is_deterministic(self) -> bool:
        return bool(getattr(self.definition, "is_deterministic", True))

    def walk(self):
        """This node and every descendant, parents first."""
        yield self
        for child in self.children.values():
            yield from child.walk()


def _problems_from_validation(exc: ValidationError, smap: SourceMap, base: FieldPath,
                              data: Any) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        # drop the tags pydantic adds for the discriminated step union (jobs.<name>.<tag>)
        cleaned: list[str | int] = []
        for i, part in enumerate(loc):
            if i >= 2 and cleaned[-2:-1] == ["jobs"] and part in _STEP_TAGS and len(cleaned) == i:
                continue
            cleaned.append(part)
        # drop pseudo fields of our own models
        cleaned = [p for p in cleaned if p not in ("value", "reference")] or cleaned
        path = (*base, *cleaned)
        message = err["msg"]
        hint = ""
        if err["type"] == "extra_forbidden":
            message = f"unknown field {cleaned[-1]!r}"
            hint = _did_you_mean(str(cleaned[-1]), err, data, cleaned)
        elif err["type"] == "missing":
            message = f"required field {cleaned[-1]!r} is missing"
            hint = "add it"
        elif err["type"] == "literal_error":
            hint = "use one of the allowed values"
        else:
            hint = "fix the value"
        problems.append(smap.problem(path, message, hint))
    return problems


def _did_you_mean(name: str, err: dict[str, Any], data: Any, loc: list[Any]) -> str:
    import difflib

    known = ["type", "command", "code", "environment", "environment_variables", "inputs", "outputs", "limits", "compute", "resources", "distribution", "display_name", "experiment_name", "description", "tags", "name", "settings", "jobs", "component", "task", "entry_script", "program_arguments", "append_row_to", "input_data", "mini_batch_size", "partition_keys", "max_concurrency_per_instance", "mini_batch_error_threshold", "error_threshold", "retry_settings", "logging_level", "mode", "path", "default", "optional", "timeout", "max_retries", "instance_count", "is_deterministic", "version", "image", "conda_file", "build", "continue_on_step_failure", "force_rerun", "default_datastore", "default_compute"]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    if close:
        return f"did you mean {close[0]!r}?"
    return "remove it or check the AzureML v2 schema for this job type"


def _validate(model: type[BaseModel], data: dict[str, Any], source: SpecSource, base: FieldPath = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_problems_from_validation(exc, source.source_map, base, data)) from None


_JOB_MODELS: dict[str, type[BaseModel]] = {
    "command": CommandJob, "parallel": ParallelJob, "pipeline": PipelineJob,
}
_COMPONENT_MODELS: dict[str, type[BaseModel]] = {
    "command": CommandComponent, "parallel": ParallelComponent, "pipeline": PipelineComponent,
}


def _check_type(source: SpecSource, models: dict[str, type[BaseModel]], what: str) -> str:
    kind = source.data.get("type", "command")
    if kind not in models:
        raise SpecError([source.source_map.problem(
            ("type",), f"unknown {what} type {kind!r}",
            f"use one of: {', '.join(models)}")])
    return str(kind)


def load_job(path: str | Path, overrides: list[Override] | None = None) -> Node:
    """Load a job file into a Node tree. Raises SpecError listing every problem found."""
    source = read_yaml(path)
    if overrides:
        source = SpecSource(source.path, apply_overrides(source.data, overrides), source.source_map)
    kind = _check_type(source, _JOB_MODELS, "job")
    job = _validate(_JOB_MODELS[kind], source.data, source)
    name = job.name or source.path.stem
    node = Node(name=name, kind=kind, definition=job, definition_source=source, source=source, path=(),
                inputs=dict(job.inputs), outputs=dict(job.outputs), job=job)
    if kind == "pipeline":
        node.children = _load_steps(job, source, (), set())
    return node


def load_component(path: str | Path, seen: set[Path] | None = None,
                   referenced_from: tuple[SourceMap, FieldPath] | None = None) -> tuple[Any, SpecSource]:
    """Load a component file; returns (model, source)."""
    source = read_yaml(path)
    kind = _check_type(source, _COMPONENT_MODELS, "component")
    return _validate(_COMPONENT_MODELS[kind], source.data, source), source


def _load_steps(pipeline: Any, source: SpecSource, base: FieldPath, seen: set[Path]) -> dict[str, Node]:
    problems: list[Problem] = []
    children: dict[str, Node] = {}
    for step_name, step in pipeline.jobs.items():
        path = (*base, "jobs", step_name)
        if not step_name.isidentifier():
            problems.append(source.source_map.problem(
                path, f"step name {step_name!r} is not a valid identifier",
                "use letters, digits and underscores, not starting with a digit"))
            continue
        try:
            children[step_name] = _load_step(step_name, step, source, path, seen)
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return children


def _load_step(step_name: str, step: Any, source: SpecSource, path: FieldPath, seen: set[Path]) -> Node:
    if isinstance(step, ComponentRefStep):
        definition, def_source = _resolve_component(step.component, source, path, seen)
        kind = definition.type
        if step.type and step.type != kind:
            raise SpecError([source.source_map.problem(
                (*path, "type"), f"step type {step.type!r} does not match its component's type {kind!r}",
                f"set `type: {kind}` or remove the line")])
        settings = {k: getattr(step, k) for k in _RUN_SETTINGS
                    if k in step.model_fields_set and getattr(step, k) is not None}
        node = Node(step_name, kind, definition, def_source, source, path,
                    inputs=dict(step.inputs), outputs=dict(step.outputs), settings=settings)
        if kind == "pipeline":
            node.children = _load_steps(definition, def_source, (), seen | {def_source.path.resolve()})
        return node
    # an inline command or parallel job is its own definition
    return Node(step_name, step.type, step, source, source, path,
                inputs=dict(step.inputs), outputs=dict(step.outputs))


def _resolve_component(ref: Any, source: SpecSource, path: FieldPath, seen: set[Path]) -> tuple[Any, SpecSource]:
    smap = source.source_map
    where = (*path, "component")
    if isinstance(ref, dict):
        kind = ref.get("type", "command")
        if kind not in _COMPONENT_MODELS:
            raise SpecError([smap.problem((*where, "type"), f"unknown component type {kind!r}",
                                          f"use one of: {', '.join(_COMPONENT_MODELS)}")])
        return _validate(_COMPONENT_MODELS[kind], ref, source, where), source
    text = str(ref)
    if text.startswith("file:"):
        text = text[len("file:"):]
    if text.startswith("azureml:"):
        raise SpecError([smap.problem(
            where, f"registered component {text!r} cannot be loaded locally",
            "point `component:` at the component's YAML file (e.g. ./components/train.yml)")])
    file = (source.folder / text).resolve()
    if file in seen:
        raise SpecError([smap.problem(where, f"component {text!r} includes itself",
                                      "a pipeline component cannot contain itself")])
    if not file.is_file():
        raise SpecError([smap.problem(where, f"component file {text!r} not found (looked in {source.folder})",
                                      "paths in `component:` are relative to the file that names them")])
    return load_component(file, seen)
