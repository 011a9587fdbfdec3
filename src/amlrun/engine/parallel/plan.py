"""Plan a parallel job or step: the command-like plan plus every PRS setting decided.

Settings come from the YAML fields (`mini_batch_size`, `retry_settings`, ...), then from the PRS flags
users put in `program_arguments` (`--error_threshold 5`, `--allowed_failed_percent 10`, ...), which the
service reads from the same command line. Flags without a local meaning are accepted and stay on the
script's `sys.argv`, as in the service (scripts parse with `parse_known_args`).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext
from amlrun.engine.parallel.partition import parse_mini_batch_size
from amlrun.engine.plan import InputPlan, OutputPlan, StepPlan
from amlrun.engine.planner import plan_command_like
from amlrun.envs.choice import EnvChoice
from amlrun.errors import SpecError
from amlrun.spec.bindings import is_pure_binding
from amlrun.spec.node import Node

__all__ = ["ParallelSettings", "apply_prs_flags", "parse_mini_batch_size", "plan_parallel_step"]



@dataclass
class ParallelSettings:
    """Everything the driver needs besides the step's inputs and outputs (JSON-friendly)."""

    entry_script: str
    program_arguments: str = ""
    input_data: str = ""  # the input's name
    append_row_to: str | None = None  # the output's name; None = summary_only
    mini_batch_size: str | None = None
    partition_keys: list[str] = field(default_factory=list)
    instance_count: int = 1
    max_concurrency_per_instance: int = 1
    mini_batch_error_threshold: int = -1
    error_threshold: int = -1
    allowed_failed_percent: float = 100.0
    max_retries: int = 2
    timeout: float = 60.0
    logging_level: str = "INFO"
    append_row_dataframe_header: bool = False
    append_row_file_name: str = "parallel_run_step.txt"

    @property
    def requested_workers(self) -> int:
        return max(1, self.instance_count) * max(1, self.max_concurrency_per_instance)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParallelSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _flag_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add = parser.add_argument
    add("--error_threshold", type=int)
    add("--allowed_failed_count", type=int)
    add("--allowed_failed_percent", type=float)
    add("--run_invocation_timeout", type=float)
    add("--run_max_try", type=int)
    add("--mini_batch_size")
    add("--logging_level")
    add("--append_row_file_name")
    add("--append_row_dataframe_header", nargs="?", const="true")
    add("--process_count_per_node", type=int)
    add("--node_count", type=int)
    return parser


def apply_prs_flags(settings: ParallelSettings, argv: list[str]) -> list[str]:
    """Read the PRS flags that mean something locally out of `argv` into `settings`.

    Returns notes about values that could not be read. `argv` itself is left alone.
    """
    notes: list[str] = []
    try:
        known, _ = _flag_parser().parse_known_args(argv)
    except SystemExit:
        return ["could not read the PRS flags in program_arguments; using the YAML settings"]
    if known.error_threshold is not None:
        settings.error_threshold = known.error_threshold
    if known.allowed_failed_count is not None:
        settings.mini_batch_error_threshold = known.allowed_failed_count
    if known.allowed_failed_percent is not None:
        if not 0 <= known.allowed_failed_percent <= 100:
            notes.append(f"--allowed_failed_percent {known.allowed_failed_percent:g} is outside [0, 100]; ignored")
        else:
            settings.allowed_failed_percent = known.allowed_failed_percent
    if known.run_invocation_timeout is not None:
        settings.timeout = known.run_invocation_timeout
    if known.run_max_try is not None:
        settings.max_retries = max(0, known.run_max_try - 1)
    if known.mini_batch_size is not None:
        settings.mini_batch_size = known.mini_batch_size
    if known.logging_level:
        settings.logging_level = known.logging_level
    if known.append_row_file_name:
        settings.append_row_file_name = known.append_row_file_name
    if known.append_row_dataframe_header is not None:
        settings.append_row_dataframe_header = str(known.append_row_dataframe_header).lower() in ("true", "1", "yes")
    if known.process_count_per_node:
        settings.max_concurrency_per_instance = known.process_count_per_node
    if known.node_count:
        settings.instance_count = known.node_count
    return notes


def _setting(node: Node, name: str) -> Any:
    value = node.settings.get(name)
    return value if value is not None else getattr(node.definition, name, None)


def settings_from_node(node: Node) -> ParallelSettings:
    """The YAML-level settings of a parallel node (step overrides win over the component)."""
    definition = node.definition
    task = node.settings.get("task") or definition.task
    input_ref = is_pure_binding(_setting(node, "input_data") or "")
    append_ref = is_pure_binding(task.append_row_to) if task and task.append_row_to else None
    retry = _setting(node, "retry_settings")
    resources = _setting(node, "resources")
    settings = ParallelSettings(
        entry_script=(task.entry_script if task else None) or "",
        program_arguments=(task.program_arguments if task else None) or "",
        input_data=input_ref.name if input_ref is not None else "",
        append_row_to=append_ref.name if append_ref is not None else None,
        mini_batch_size=None if _setting(node, "mini_batch_size") is None else str(_setting(node, "mini_batch_size")),
        partition_keys=list(_setting(node, "partition_keys") or []),
        instance_count=(resources.instance_count if resources and resources.instance_count else 1),
        max_concurrency_per_instance=_setting(node, "max_concurrency_per_instance") or 1,
        logging_level=_setting(node, "logging_level") or "INFO",
    )
    for name in ("mini_batch_error_threshold", "error_threshold"):
        value = _setting(node, name)
        if value is not None:
            setattr(settings, name, value)
    if retry is not None:
        if retry.max_retries is not None:
            settings.max_retries = retry.max_retries
        if retry.timeout is not None:
            settings.timeout = retry.timeout
    return settings


def plan_parallel_step(node: Node, data: DataContext, run_name: str, run_dir: Path,
                       parent_inputs: dict[str, InputPlan] | None = None,
                       parent_outputs: dict[str, OutputPlan] | None = None, *, envs: EnvChoice | None = None,
                       step_path: str | None = None) -> StepPlan:
    """Plan a parallel node like a command node; `code_dir` is `task.code`, settings in `plan.parallel`."""
    plan = plan_command_like(node, data, run_name, run_dir, parent_inputs, parent_outputs, envs=envs,
                             step_path=step_path)
    task = node.settings.get("task") or node.definition.task
    if task is not None and task.code:
        code_dir = (node.definition_source.folder / task.code).resolve()
        if not code_dir.is_dir():
            raise SpecError([node.definition_source.source_map.problem(
                ("task", "code"), f"code folder {task.code!r} does not exist (resolved to {code_dir})",
                "`code` is relative to the YAML file that declares it")])
        plan.code_dir = code_dir
    if task is not None and task.environment is not None and node.settings.get("environment") is None:
        from amlrun.envs.resolve import resolve_environment

        plan.environment = resolve_environment(task.environment, node.definition_source.folder, envs, step_path,
                                               plan.code_dir)
    settings = settings_from_node(node)
    plan.kind = "parallel"
    plan.command = None
    plan.parallel = settings.to_dict()
    return plan
