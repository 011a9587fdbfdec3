"""Build plans from loaded specs: decide every input, output, path and environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amlrun.data.artifacts import artifacts_location
from amlrun.data.locations import DataContext
from amlrun.engine.plan import InputPlan, OutputPlan, StepPlan
from amlrun.envs.choice import EnvChoice
from amlrun.envs.resolve import resolve_environment
from amlrun.errors import SpecError
from amlrun.spec.bindings import is_pure_binding
from amlrun.spec.node import Node
from amlrun.spec.vocabulary import ASSET_TYPES, DEFAULT_OUTPUTS

__all__ = ["coerce_literal", "env_choice", "plan_command_like", "plan_inputs", "plan_outputs"]

_DEFAULT_INPUT_MODE = "ro_mount"
_DEFAULT_OUTPUT_MODE = "rw_mount"


def env_choice(data: DataContext, mode: str | None, strict_python: bool = False) -> EnvChoice:
    """How a run decides environments: the command line's mode over amlrun.yaml `environments:`."""
    return EnvChoice.from_project(data.config.environments, data.config.folder, mode, strict_python)


def coerce_literal(value: Any, type_: str | None) -> Any:
    """Convert a literal to its declared type (`--set` and YAML may give strings)."""
    if value is None or type_ is None:
        return value
    try:
        if type_ == "integer" and not isinstance(value, bool):
            return int(value)
        if type_ == "number" and not isinstance(value, bool | int):
            return float(value)  # an int stays one: AzureML renders the literal as written ("1", not "1.0")
        if type_ == "boolean" and isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        if type_ == "string":
            return str(value)
    except (TypeError, ValueError):
        return value
    return value


def plan_inputs(node: Node, data: DataContext, parent_inputs: dict[str, InputPlan] | None = None
                ) -> dict[str, InputPlan]:
    """Every input the definition declares (plus any a standalone job gives), decided.

    Bindings to `${{parent.inputs.x}}` take the parent's plan; `${{parent.jobs.s.outputs.o}}` is
    recorded as `from_step`/`from_output` for the pipeline planner to connect.
    """
    declared: dict[str, Any] = dict(node.definition.inputs)
    given: dict[str, Any] = dict(node.inputs)
    names = list(dict.fromkeys([*declared, *given]))
    plans: dict[str, InputPlan] = {}
    base_dir = node.source.folder
    for name in names:
        decl = declared.get(name)
        spec = given.get(name, decl)
        type_ = (decl.type if decl is not None and decl.type else None) or (spec.type if spec else None)
        mode = (spec.mode if spec is not None and spec.mode else None) or (
            decl.mode if decl is not None and decl.mode else None) or _DEFAULT_INPUT_MODE
        optional = bool(decl.optional) if decl is not None else False
        plan = InputPlan(name=name, type=type_ or "", mode=mode, optional=optional)
        value = spec.value if spec is not None else None
        ref = is_pure_binding(value)
        if ref is not None and ref.kind == "parent_input" and parent_inputs is not None:
            upstream = parent_inputs.get(ref.name)
            if upstream is not None:
                plan.type = plan.type or upstream.type
                plan.value, plan.location = upstream.value, upstream.location
                plan.from_step, plan.from_output = upstream.from_step, upstream.from_output
                plan.type_from_producer = upstream.type_from_producer and not (decl is not None and decl.type)
                if spec is not None and spec.mode is None and upstream.mode:
                    plan.mode = mode if decl is not None and decl.mode else upstream.mode
        elif ref is not None and ref.kind == "step_output":
            plan.from_step, plan.from_output = ref.step, ref.name
            plan.type_from_producer = not plan.type  # the pipeline planner gives it the upstream output's type
            plan.type = plan.type or "uri_folder"
        elif spec is not None and spec.path is not None:
            plan.type = plan.type or "uri_folder"
            plan.location = data.resolve(str(spec.path), base_dir)
        elif value is not None:
            if plan.type in ASSET_TYPES:
                plan.location = data.resolve(str(value), base_dir)
            else:
                plan.value = coerce_literal(value, plan.type)
                plan.type = plan.type or _literal_type(plan.value)
        elif decl is not None and decl.default is not None:
            if decl.type in ASSET_TYPES:
                plan.location = data.resolve(str(decl.default), node.definition_source.folder)
            else:
                plan.value = coerce_literal(decl.default, decl.type)
        elif decl is not None and decl.path is not None:
            plan.location = data.resolve(str(decl.path), node.definition_source.folder)
        plans[name] = plan
    return plans


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def plan_outputs(node: Node, data: DataContext, run_name: str,
                 parent_outputs: dict[str, OutputPlan] | None = None) -> dict[str, OutputPlan]:
    """Every declared output with its destination: explicit `path`, the parent output it is bound to,
    or AzureML's default `azureml/<run>/<output>/` under the default datastore."""
    declared: dict[str, Any] = dict(node.definition.outputs)
    given: dict[str, Any] = dict(node.outputs)
    plans: dict[str, OutputPlan] = {}
    for name in dict.fromkeys([*declared, *given]):
        decl = declared.get(name)
        spec = given.get(name, decl)
        type_ = (decl.type if decl and decl.type else None) or (spec.type if spec else None)
        mode = (spec.mode if spec and spec.mode else None) or (decl.mode if decl and decl.mode else None)
        ref = is_pure_binding(spec.value) if spec is not None else None
        bound = None
        if ref is not None and ref.kind == "parent_output" and parent_outputs and ref.name in parent_outputs:
            parent = parent_outputs[ref.name]
            location = parent.location
            bound = ref.name
            # an undeclared type or mode is the pipeline output's, as in AzureML (a uri_file stays a file)
            type_, mode = type_ or parent.type, mode or parent.mode
        elif spec is not None and spec.path:
            location = data.resolve(str(spec.path), node.source.folder, run_name=run_name, output_name=name)
        elif name in DEFAULT_OUTPUTS and node.kind == "command":
            plans[name] = OutputPlan(name, "uri_folder", "upload", artifacts_location(data, run_name), artifacts=True)
            continue
        else:
            location = data.default_output(run_name, name)
        type_, mode = type_ or "uri_folder", mode or _DEFAULT_OUTPUT_MODE
        if type_ == "uri_file" and location.uri.endswith("/"):
            location = location.child(name)
        plans[name] = OutputPlan(name, type_, mode, location, bound_to_parent=bound)
    return plans


def plan_command_like(node: Node, data: DataContext, run_name: str, run_dir: Path,
                      parent_inputs: dict[str, InputPlan] | None = None,
                      parent_outputs: dict[str, OutputPlan] | None = None, *, envs: EnvChoice | None = None,
                      step_path: str | None = None) -> StepPlan:
    """Plan a command node (standalone job or pipeline step); `envs` decides environments (default: auto)."""
    definition = node.definition
    settings = node.settings
    base = node.definition_source.folder
    code = getattr(definition, "code", None)
    code_dir = (base / code).resolve() if code else None
    if code_dir is not None and not code_dir.is_dir():
        raise SpecError([node.definition_source.source_map.problem(
            ("code",) if node.definition_source is not node.source else (*node.path, "code"),
            f"code folder {code!r} does not exist (resolved to {code_dir})",
            "`code` is relative to the YAML file that declares it")])
    env_spec = settings.get("environment") or getattr(definition, "environment", None) or getattr(
        settings.get("task") or getattr(definition, "task", None), "environment", None)  # a parallel job's
    env_vars = {**(getattr(definition, "environment_variables", None) or {}),
                **(settings.get("environment_variables") or {})}
    limits = settings.get("limits") or getattr(definition, "limits", None)
    resources = settings.get("resources") or getattr(definition, "resources", None)
    return StepPlan(
        name=node.name,
        run_name=run_name,
        kind=node.kind,
        node=node,
        run_dir=run_dir,
        code_dir=code_dir,
        command=getattr(definition, "command", None),
        environment=resolve_environment(env_spec, base, envs, step_path, code_dir),
        environment_variables={str(k): _env_str(v) for k, v in env_vars.items()},
        timeout=limits.timeout if limits is not None else None,
        inputs=plan_inputs(node, data, parent_inputs),
        outputs=plan_outputs(node, data, run_name, parent_outputs),
        is_deterministic=node.is_deterministic,
        default_datastore=data.default_datastore,
        data_env=data.step_env(),
        artifacts=artifacts_location(data, run_name) if node.kind == "command" else None,
        distribution=(settings.get("distribution") or getattr(definition, "distribution", None))
        if node.kind == "command" else None,
        instance_count=max(1, getattr(resources, "instance_count", None) or 1),
    )


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


