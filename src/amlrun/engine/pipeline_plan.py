"""Plan a pipeline: flatten nested pipeline components into one DAG of runnable steps.

Every leaf step (command or parallel) gets a qualified path (`prep`, `train_and_eval.train`), a
step run name, a run folder and a StepPlan. The DAG comes from the bindings alone: an input bound
to `${{parent.jobs.s.outputs.o}}` depends on whichever leaf step really produces `o`, looking
through nested pipelines in both directions (a sub-pipeline's input bound to an upstream output,
a sub-pipeline's output bound by one of its inner steps). Nested pipelines themselves stay as
groups, for records and display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from amlrun.data.locations import DataContext
from amlrun.engine.plan import InputPlan, OutputPlan, StepPlan
from amlrun.engine.planner import plan_command_like, plan_inputs, plan_outputs
from amlrun.envs.choice import EnvChoice
from amlrun.errors import RunError, SpecError
from amlrun.spec.bindings import is_pure_binding
from amlrun.spec.loader import Node
from amlrun.spec.models import DEFAULT_OUTPUTS

__all__ = ["PipelinePlan", "PlannedGroup", "PlannedStep", "plan_pipeline", "step_run_name"]


@dataclass
class PlannedStep:
    """One runnable step. `deps` are qualified paths of the steps whose outputs it reads."""

    path: str
    run_name: str
    plan: StepPlan
    deps: set[str]
    group: str | None
    default_outputs: set[str] = field(default_factory=set)  # outputs at the step's own default location

    @property
    def kind(self) -> str:
        return self.plan.kind


@dataclass
class PlannedGroup:
    """A nested pipeline step: only a record and a folder; its leaves are scheduled like any other."""

    path: str
    run_name: str
    run_dir: Path
    group: str | None
    node: Node


@dataclass
class PipelinePlan:
    root: Node
    run_name: str
    run_dir: Path
    inputs: dict[str, InputPlan]
    outputs: dict[str, OutputPlan]
    steps: dict[str, PlannedStep]  # in a stable topological order
    groups: dict[str, PlannedGroup]
    continue_on_failure: bool
    force_rerun: bool

    def deps(self) -> dict[str, set[str]]:
        return {path: set(step.deps) for path, step in self.steps.items()}


def step_run_name(pipeline_run: str, path: str) -> str:
    """Step runs are named after their pipeline run, so a resumed run finds the same folders."""
    return f"{pipeline_run}_{path.replace('.', '_')}"


def plan_pipeline(root: Node, data: DataContext, run_name: str, run_dir: Path,
                  envs: EnvChoice | None = None) -> PipelinePlan:
    settings = root.definition.settings
    if settings.default_datastore:
        data.default_datastore = settings.default_datastore.removeprefix("azureml:")
    planner = _Planner(root, data, run_name, envs)
    inputs = plan_inputs(root, data)
    outputs = plan_outputs(root, data, run_name)
    planner.scope(root, "", inputs, outputs, None, run_dir)
    _imply_default_outputs(planner.steps)
    _inherit_input_types(planner.steps)
    continue_on_failure = settings.continue_on_step_failure
    return PipelinePlan(
        root=root, run_name=run_name, run_dir=run_dir, inputs=inputs, outputs=outputs,
        steps=_topological(planner.steps), groups=planner.groups,
        continue_on_failure=True if continue_on_failure is None else bool(continue_on_failure),
        force_rerun=bool(settings.force_rerun),
    )


class _Planner:
    def __init__(self, root: Node, data: DataContext, run_name: str, envs: EnvChoice | None) -> None:
        self.root = root
        self.envs = envs
        self.data = data
        self.run_name = run_name
        self.steps: dict[str, PlannedStep] = {}
        self.groups: dict[str, PlannedGroup] = {}

    def scope(self, pipeline: Node, prefix: str, inputs: dict[str, InputPlan], outputs: dict[str, OutputPlan],
              group: str | None, group_dir: Path) -> None:
        for name, child in pipeline.children.items():
            path = prefix + name
            run = step_run_name(self.run_name, path)
            run_dir = group_dir / "steps" / run
            if child.kind == "pipeline":
                sub_inputs = plan_inputs(child, self.data, inputs)
                self._qualify(child, sub_inputs, pipeline, prefix)
                sub_outputs = plan_outputs(child, self.data, run, outputs)
                self.groups[path] = PlannedGroup(path, run, run_dir, group, child)
                self.scope(child, path + ".", sub_inputs, sub_outputs, path, run_dir)
                continue
            plan = self._plan_leaf(child, run, run_dir, inputs, outputs, path)
            plan.name = path
            self._qualify(child, plan.inputs, pipeline, prefix)
            deps = {item.from_step for item in plan.inputs.values() if item.from_step}
            plan.deps = deps
            prefix_uri = f"azureml://datastores/{self.data.default_datastore}/paths/azureml/{run}/"
            defaults = {out_name for out_name, out in plan.outputs.items() if out.artifacts or (
                out.bound_to_parent is None and out.location.uri.startswith(prefix_uri + out_name + "/"))}
            self.steps[path] = PlannedStep(path, run, plan, deps, group, defaults)

    def _plan_leaf(self, node: Node, run: str, run_dir: Path, inputs: dict[str, InputPlan],
                   outputs: dict[str, OutputPlan], path: str) -> StepPlan:
        if node.kind == "parallel":
            try:
                from amlrun.engine.parallel.plan import plan_parallel_step
            except ImportError:
                raise RunError(f"step {node.name!r} is a parallel job, which this build of amlrun cannot run "
                               "inside a pipeline yet",
                               hint="run the other steps with `--step NAME`, or update amlrun") from None
            return plan_parallel_step(node, self.data, run, run_dir, inputs, outputs, envs=self.envs,
                                      step_path=path)
        return plan_command_like(node, self.data, run, run_dir, inputs, outputs, envs=self.envs, step_path=path)

    def _qualify(self, node: Node, plans: dict[str, InputPlan], scope: Node, prefix: str) -> None:
        """Turn `${{parent.jobs.s.outputs.o}}` in `scope` into the leaf step that writes `o`."""
        for name, plan in plans.items():
            spec = node.inputs.get(name)
            ref = is_pure_binding(spec.value) if spec is not None else None
            if ref is not None and ref.kind == "step_output":
                plan.from_step, plan.from_output = self._producer(scope, prefix, ref.step, ref.name)

    def _producer(self, scope: Node, prefix: str, step: str, output: str) -> tuple[str, str]:
        target = scope.children[step]
        if target.kind != "pipeline":
            return prefix + step, output
        for inner_name, inner in target.children.items():
            for out_name, spec in inner.outputs.items():
                ref = is_pure_binding(spec.value) if spec is not None else None
                if ref is not None and ref.kind == "parent_output" and ref.name == output:
                    return self._producer(target, f"{prefix}{step}.", inner_name, out_name)
        raise SpecError([target.source.source_map.problem(
            (*target.path, "outputs"), f"no step inside {step!r} writes its output {output!r}",
            f"bind an inner step's output to ${{{{parent.outputs.{output}}}}}")])


def _imply_default_outputs(steps: dict[str, PlannedStep]) -> None:
    """A command step has its artifacts output (`artifacts`, or `default`) whether it declares it or not,
    as on AzureML: a downstream input bound to it gets the step's artifacts folder."""
    for step in steps.values():
        for item in step.plan.inputs.values():
            producer = steps.get(item.from_step or "")
            name = item.from_output or ""
            if producer is None or producer.kind != "command" or producer.plan.artifacts is None \
                    or name not in DEFAULT_OUTPUTS or name in producer.plan.outputs:
                continue
            producer.plan.outputs[name] = OutputPlan(name, "uri_folder", "upload", producer.plan.artifacts,
                                                     artifacts=True)
            producer.default_outputs.add(name)


def _inherit_input_types(steps: dict[str, PlannedStep]) -> None:
    """An input with no declared type reads its upstream output as that output's type (a uri_file stays a file)."""
    for step in steps.values():
        for item in step.plan.inputs.values():
            producer = steps.get(item.from_step or "")
            if item.type_from_producer and producer is not None and item.from_output in producer.plan.outputs:
                item.type = producer.plan.outputs[item.from_output or ""].type


def _topological(steps: dict[str, PlannedStep]) -> dict[str, PlannedStep]:
    """YAML order, except that a step never comes before a step it depends on."""
    ordered: dict[str, PlannedStep] = {}
    remaining = list(steps)
    while remaining:
        for path in remaining:
            if steps[path].deps <= set(ordered):
                ordered[path] = steps[path]
                remaining.remove(path)
                break
        else:  # a cycle: validation reports these; keep going in YAML order
            for path in remaining:
                ordered[path] = steps[path]
            break
    return ordered
