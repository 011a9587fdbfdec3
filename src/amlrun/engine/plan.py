"""Plans: a job with every binding, path, datastore and environment decided, nothing run yet.

`check`, `--dry-run`, cache keys and `show` read plans; executors carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.locations import Location
from amlrun.envs.resolve import EnvPlan
from amlrun.spec.node import Node

__all__ = ["InputPlan", "OutputPlan", "StepPlan"]


@dataclass
class InputPlan:
    """One input of one step.

    A literal has `value`; an asset has `location` (or `from_step`/`from_output` when it is an
    upstream step's output, whose location is that output's). An optional input with nothing bound
    has neither and renders as absent.
    """

    name: str
    type: str
    mode: str = "ro_mount"
    value: Any = None
    location: Location | None = None
    from_step: str | None = None
    from_output: str | None = None
    optional: bool = False
    type_from_producer: bool = False  # no type declared: it is the type of the upstream output it reads

    @property
    def is_literal(self) -> bool:
        return self.location is None and self.from_step is None

    @property
    def is_unset(self) -> bool:
        return self.is_literal and self.value is None


@dataclass
class OutputPlan:
    name: str
    type: str
    mode: str
    location: Location
    bound_to_parent: str | None = None  # the pipeline output this step output lands in
    artifacts: bool = False  # the step's default output `artifacts`: its ./outputs and ./logs, kept by amlrun


@dataclass
class StepPlan:
    """A command or parallel job (alone or as a pipeline step), ready to execute."""

    name: str
    run_name: str
    kind: str
    node: Node
    run_dir: Path
    code_dir: Path | None
    command: str | None
    environment: EnvPlan
    environment_variables: dict[str, str]
    timeout: int | None
    inputs: dict[str, InputPlan]
    outputs: dict[str, OutputPlan]
    deps: set[str] = field(default_factory=set)
    is_deterministic: bool = True
    parallel: dict[str, Any] | None = None  # the parallel settings, for kind == "parallel"
    default_datastore: str = "workspaceblobstore"
    data_env: dict[str, str] = field(default_factory=dict)  # datastore map for fsspec in the step
    debug: Any = None  # a debug.DebugSession: run this step's Python under debugpy or pdb
    artifacts: Location | None = None  # a command step's artifact folder (what it writes under ./outputs, ./logs)
    distribution: dict[str, Any] | None = None  # `distribution:` of a command job: several processes
    instance_count: int = 1
    tracking_env: dict[str, str] = field(default_factory=dict)  # MLFLOW_* of the step's run, set when it starts
