"""Typed models of AzureML v2 job and component YAML.

They mirror the service's schema closely enough that an unknown field is an error here as it is
in azure-ai-ml, while everything real files use is accepted. Models hold data only: resolving
bindings, paths and components is the loader's and the planner's job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from amlrun.spec.vocabulary import (
    ASSET_TYPES,
    CLOUD_ONLY_TYPES,
    DEFAULT_OUTPUTS,
    HINT_SEP,
    INPUT_MODES,
    LITERAL_TYPES,
    OUTPUT_MODES,
)

__all__ = [
    "CLOUD_ONLY_TYPES",
    "DEFAULT_OUTPUTS",
    "HINT_SEP",
    "ASSET_TYPES",
    "LITERAL_TYPES",
    "CommandComponent",
    "CommandJob",
    "ComponentRefStep",
    "EnvironmentSpec",
    "InputSpec",
    "JobSpec",
    "OutputSpec",
    "ParallelComponent",
    "ParallelJob",
    "ParallelTask",
    "PipelineComponent",
    "PipelineJob",
    "PipelineSettings",
    "RetrySettings",
    "RemoteStep",
    "Step",
]

Scalar = str | bool | int | float


def _unknown(what: str, value: str, allowed: tuple[str, ...]) -> ValueError:
    import difflib

    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    hint = (f"did you mean {close[0]!r}? " if close else "") + f"allowed: {', '.join(allowed)}"
    return ValueError(f"unknown {what} {value!r}{HINT_SEP}{hint}")


def check_mini_batch_size(value: str | int | None) -> str | int | None:
    """A file count (`10`) or an approximate size (`10kb`, `1mb`), as the service accepts."""
    import re

    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+([kKmMgG][bB])*", value.strip()):
        return value
    raise ValueError(f"mini_batch_size {value!r} is neither a file count nor a size{HINT_SEP}"
                     "write a file count like `10` or a size like `100kb` or `10mb`, without spaces")


class Model(BaseModel):
    # defer_build: a model's validator is built on first use, so a command job never pays for pipelines'.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=(), defer_build=True)


class InputSpec(Model):
    """An input: a literal value, a binding, or a typed asset with a path.

    Jobs write `epochs: 3` or `data: ${{parent.inputs.x}}`; those arrive here as `value`.
    Components declare `type`, `default`, `optional`, ... .
    """

    type: str | None = None
    path: str | None = None
    mode: Literal[INPUT_MODES] | None = None  # type: ignore[valid-type]
    value: Scalar | None = None
    default: Scalar | None = None
    optional: bool = False
    description: str | None = None
    min: float | None = None
    max: float | None = None
    enum: list[Scalar] | None = None
    datastore: str | None = None
    path_on_compute: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar_to_value(cls, data: Any) -> Any:
        if data is None or isinstance(data, str | bool | int | float):
            return {"value": data}
        return data

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is None or value in LITERAL_TYPES or value in ASSET_TYPES:
            return value
        raise _unknown("input type", value, LITERAL_TYPES + ASSET_TYPES)

    @property
    def is_literal_type(self) -> bool:
        return self.type in LITERAL_TYPES


class OutputSpec(Model):
    type: str | None = None
    mode: Literal[OUTPUT_MODES] | None = None  # type: ignore[valid-type]
    path: str | None = None
    value: str | None = None  # a binding such as ${{parent.outputs.x}}
    description: str | None = None
    name: str | None = None
    version: str | None = None
    is_control: bool | None = None
    early_available: bool | None = None
    datastore: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar_to_value(cls, data: Any) -> Any:
        if data is None or isinstance(data, str):
            return {"value": data}
        return data

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is None or value in ASSET_TYPES:
            return value
        raise _unknown("output type", value, ASSET_TYPES)


class BuildContext(Model):
    path: str
    dockerfile_path: str | None = None


class EnvironmentSpec(Model):
    """An inline environment, or a reference kept as `reference` (e.g. `azureml:name:version`)."""

    reference: str | None = None
    name: str | None = None
    version: str | None = None
    description: str | None = None
    image: str | None = None
    conda_file: str | dict[str, Any] | None = None
    build: BuildContext | None = None
    os_type: str | None = None
    inference_config: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None
    properties: dict[str, Any] | None = Field(default=None, alias="properties")
    schema_: str | None = Field(default=None, alias="$schema")

    @model_validator(mode="before")
    @classmethod
    def _reference(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"reference": data}
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        """`version: 1` is what the service accepts (and real files write); it means "1"."""
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Limits(Model):
    timeout: int | None = None


class Resources(Model):
    instance_count: int | None = None
    instance_type: str | None = None
    shm_size: str | None = None
    docker_args: str | None = None
    properties: dict[str, Any] | None = None
    locations: list[str] | None = None


class RetrySettings(Model):
    max_retries: int | None = None
    timeout: int | None = None


class ParallelTask(Model):
    type: Literal["run_function"] = "run_function"
    code: str | None = None
    entry_script: str | None = None
    environment: EnvironmentSpec | None = None
    program_arguments: str | None = None
    append_row_to: str | None = None
    model: str | None = None


class PipelineSettings(Model):
    model_config = ConfigDict(extra="allow")
    default_compute: str | None = None
    default_datastore: str | None = None
    continue_on_step_failure: bool | None = None
    force_rerun: bool | None = None
    on_init: str | None = None
    on_finalize: str | None = None


class _Common(Model):
    schema_: str | None = Field(default=None, alias="$schema")
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)

    @field_validator("inputs", "outputs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class _JobCommon(_Common):
    experiment_name: str | None = None
    compute: str | None = None
    identity: dict[str, Any] | None = None
    services: dict[str, Any] | None = None
    queue_settings: dict[str, Any] | None = None
    status: str | None = None
    creation_context: dict[str, Any] | None = None
    id: str | None = None
    parent_job_name: str | None = None
    studio_url: str | None = None


class _CommandFields(Model):
    """What a command job and a command component both define."""

    command: str | None = None
    code: str | None = None
    environment: EnvironmentSpec | None = None
    environment_variables: dict[str, Any] = Field(default_factory=dict)
    resources: Resources | None = None
    distribution: dict[str, Any] | None = None
    limits: Limits | None = None

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_none(cls, value: Any) -> Any:
        return {} if value is None else value


class _ParallelFields(Model):
    """What a parallel job and a parallel component both define."""

    input_data: str | None = None
    mini_batch_size: str | int | None = None
    partition_keys: list[str] | None = None
    resources: Resources | None = None
    max_concurrency_per_instance: int | None = None
    mini_batch_error_threshold: int | None = None
    error_threshold: int | None = None
    retry_settings: RetrySettings | None = None
    logging_level: str | None = None
    environment_variables: dict[str, Any] = Field(default_factory=dict)
    task: ParallelTask | None = None

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_none(cls, value: Any) -> Any:
        return {} if value is None else value

    _mini_batch_size = field_validator("mini_batch_size")(check_mini_batch_size)


class CommandJob(_JobCommon, _CommandFields):
    type: Literal["command"] = "command"
    component: str | dict[str, Any] | None = None  # only inside pipelines


class ParallelJob(_JobCommon, _ParallelFields):
    type: Literal["parallel"] = "parallel"
    component: str | dict[str, Any] | None = None  # only inside pipelines


class ComponentRefStep(_JobCommon):
    """A pipeline step that names a component (`component: ./train.yml`) and wires its ports.

    Run settings that a step may override on its component are accepted here.
    """

    type: Literal["command", "parallel", "pipeline", None] = None
    component: str | dict[str, Any]
    environment_variables: dict[str, Any] = Field(default_factory=dict)
    resources: Resources | None = None
    distribution: dict[str, Any] | None = None
    limits: Limits | None = None
    environment: EnvironmentSpec | None = None
    # parallel overrides
    mini_batch_size: str | int | None = None
    partition_keys: list[str] | None = None
    max_concurrency_per_instance: int | None = None
    mini_batch_error_threshold: int | None = None
    error_threshold: int | None = None
    retry_settings: RetrySettings | None = None
    logging_level: str | None = None
    input_data: str | None = None
    task: ParallelTask | None = None
    settings: PipelineSettings | None = None

    _mini_batch_size = field_validator("mini_batch_size")(check_mini_batch_size)

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_none(cls, value: Any) -> Any:
        return {} if value is None else value


class PipelineJob(_JobCommon):
    type: Literal["pipeline"] = "pipeline"
    settings: PipelineSettings = Field(default_factory=PipelineSettings)
    jobs: dict[str, Step] = Field(default_factory=dict)

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_none(cls, value: Any) -> Any:
        return {} if value is None else value


class _ComponentCommon(_Common):
    version: str | int | None = None
    is_deterministic: bool = True
    additional_includes: list[str] | None = None
    creation_context: dict[str, Any] | None = None
    id: str | None = None

    @property
    def is_component(self) -> bool:
        """A component, not a job (Node.from_component asks; a job has no such attribute)."""
        return True


class CommandComponent(_ComponentCommon, _CommandFields):
    type: Literal["command"] = "command"


class ParallelComponent(_ComponentCommon, _ParallelFields):
    type: Literal["parallel"] = "parallel"


class PipelineComponent(_ComponentCommon):
    type: Literal["pipeline"] = "pipeline"
    jobs: dict[str, Step] = Field(default_factory=dict)


class RemoteStep(Model):
    """A step (or job) of a type only AzureML runs: kept loosely, so its bindings can be checked and
    the file submitted, while `run` names it and refuses up front."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())
    type: str
    name: str | None = None
    component: Any = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("inputs", "outputs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}


def _step_tag(data: Any) -> str:
    if isinstance(data, dict):
        if data.get("type") in CLOUD_ONLY_TYPES:
            return "remote"
        if "component" in data:
            return "component_ref"
        return str(data.get("type") or "command")
    return "command"


from pydantic import Discriminator, Tag  # noqa: E402

Step = Annotated[
    Annotated[CommandJob, Tag("command")]
    | Annotated[ParallelJob, Tag("parallel")]
    | Annotated[ComponentRefStep, Tag("component_ref")]
    | Annotated[RemoteStep, Tag("remote")],
    Discriminator(_step_tag),
]

JobSpec = CommandJob | ParallelJob | PipelineJob
ComponentSpec = CommandComponent | ParallelComponent | PipelineComponent

