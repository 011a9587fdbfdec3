"""A plain command job loaded without pydantic: the start-up of `amlrun run job.yml` (issue 13).

Importing pydantic and building the job models' validators costs several tenths of a second, most of a
command job's start-up. Here a command job written with the common fields, each of exactly the type the
model declares, becomes the same Node the full loader (spec.loader) builds, its definition a light
stand-in with the model's fields and defaults. Anything else (another job type, a field or a value this
module does not take as is, duplicate keys, an azmlops file) returns None, and the full loader, with its
messages, decides: a file is never refused here. tests/test_spec_lean.py checks both loaders agree.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from amlrun.errors import SpecError
from amlrun.spec.node import Findings, Node
from amlrun.spec.overrides import Override, apply_overrides
from amlrun.spec.source import SpecSource, read_yaml
from amlrun.spec.vocabulary import ASSET_TYPES, INPUT_MODES, LITERAL_TYPES, OUTPUT_MODES

__all__ = ["LeanCommandJob", "LeanEnvironment", "LeanInput", "LeanLimits", "LeanOutput", "load_lean_command_job"]


class _Unsure(Exception):
    """This data is not for the lean loader: let the full loader judge it."""


class _Lean:
    """Just enough of a pydantic model's face for the engine: fields with the model's defaults (a
    callable default is a factory), `model_fields_set`, `model_dump`, `model_copy`."""

    FIELDS: dict[str, Any] = {}
    ALIASES: dict[str, str] = {}

    def __init__(self, values: dict[str, Any]) -> None:
        for name, default in self.FIELDS.items():
            setattr(self, name, values[name] if name in values else default() if callable(default) else default)
        self.model_fields_set = set(values)

    def model_dump(self, *, mode: str = "python", by_alias: bool = False, exclude_none: bool = False,
                   exclude_defaults: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, default in self.FIELDS.items():
            value = getattr(self, name)
            if (exclude_none and value is None) or \
                    (exclude_defaults and value == (default() if callable(default) else default)):
                continue
            if isinstance(value, _Lean):
                value = value.model_dump(mode=mode, by_alias=by_alias, exclude_none=exclude_none,
                                         exclude_defaults=exclude_defaults)
            elif isinstance(value, dict):
                value = {k: v.model_dump(mode=mode, by_alias=by_alias, exclude_none=exclude_none,
                                         exclude_defaults=exclude_defaults) if isinstance(v, _Lean) else v
                         for k, v in value.items()}
            out[self.ALIASES.get(name, name) if by_alias else name] = value
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        copied = copy.deepcopy(self) if deep else copy.copy(self)
        for name, value in (update or {}).items():
            setattr(copied, name, value)
        return copied

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.FIELDS if n in self.model_fields_set)
        return f"{type(self).__name__}({shown})"


class LeanInput(_Lean):
    """spec.models.InputSpec's fields."""

    FIELDS = {"type": None, "path": None, "mode": None, "value": None, "default": None, "optional": False,
              "description": None, "min": None, "max": None, "enum": None, "datastore": None,
              "path_on_compute": None}

    @property
    def is_literal_type(self) -> bool:
        return self.type in LITERAL_TYPES


class LeanOutput(_Lean):
    """spec.models.OutputSpec's fields."""

    FIELDS = {"type": None, "mode": None, "path": None, "value": None, "description": None, "name": None,
              "version": None, "is_control": None, "early_available": None, "datastore": None}


class LeanEnvironment(_Lean):
    """spec.models.EnvironmentSpec's fields."""

    FIELDS = {"reference": None, "name": None, "version": None, "description": None, "image": None,
              "conda_file": None, "build": None, "os_type": None, "inference_config": None, "tags": None,
              "properties": None, "schema_": None}
    ALIASES = {"schema_": "$schema"}


class LeanLimits(_Lean):
    """spec.models.Limits's fields."""

    FIELDS = {"timeout": None}


class LeanCommandJob(_Lean):
    """spec.models.CommandJob's fields, in the model's order."""

    FIELDS = {"command": None, "code": None, "environment": None, "environment_variables": dict,
              "resources": None, "distribution": None, "limits": None, "schema_": None, "name": None,
              "display_name": None, "description": None, "tags": None, "properties": None, "inputs": dict,
              "outputs": dict, "experiment_name": None, "compute": None, "identity": None, "services": None,
              "queue_settings": None, "status": None, "creation_context": None, "id": None,
              "parent_job_name": None, "studio_url": None, "type": "command", "component": None}
    ALIASES = {"schema_": "$schema"}


def load_lean_command_job(path: Path, overrides: list[Override] | None) -> tuple[Node, Findings] | None:
    """(node, findings) as spec.loader.load_job_collecting gives them for a plain command job, else None."""
    from amlrun.spec.azmlops import is_azmlops

    duplicates: list[Any] = []
    try:
        source = read_yaml(path, duplicates=duplicates)
    except SpecError:
        return None
    if duplicates or is_azmlops(source.data):
        return None
    if overrides:
        source = SpecSource(source.path, apply_overrides(source.data, overrides, source.source_map),
                            source.source_map)
    if source.data.get("type", "command") != "command":
        return None
    try:
        job = LeanCommandJob(_fields(source.data, _JOB_FIELDS))
    except _Unsure:
        return None
    node = Node(name=job.name or source.path.stem, kind="command", definition=job, definition_source=source,
                source=source, path=(), inputs=dict(job.inputs), outputs=dict(job.outputs), job=job)
    return node, Findings()


def _fields(data: Any, rules: dict[str, Any]) -> dict[str, Any]:
    """`data`'s fields, each checked (and converted as the model converts it) by its rule; _Unsure
    when a key has no rule (a field the model may refuse, or this module does not take as is)."""
    if not isinstance(data, dict):
        raise _Unsure
    values = {}
    for key, value in data.items():
        rule = rules.get(key)
        if rule is None:
            raise _Unsure
        name, check = rule
        values[name] = check(value)
    return values


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Unsure


def _flag(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Unsure


def _optional_flag(value: Any) -> bool | None:
    return None if value is None else _flag(value)


def _mapping(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if type(value) is dict:
        return dict(value)
    raise _Unsure


def _mapping_or_empty(value: Any) -> dict[str, Any]:
    return _mapping(value) or {}


def _scalar(value: Any) -> Any:
    if value is None or type(value) in (str, bool, int, float):
        return value
    raise _Unsure


def _one_of(allowed: tuple[str, ...]):
    def check(value: Any) -> str | None:
        if value is None or (type(value) is str and value in allowed):
            return value
        raise _Unsure

    return check


def _input(value: Any) -> LeanInput:
    if not isinstance(value, dict):
        return LeanInput({"value": _scalar(value)})
    return LeanInput(_fields(value, _INPUT_FIELDS))


def _output(value: Any) -> LeanOutput:
    if not isinstance(value, dict):
        return LeanOutput({"value": _text(value)})
    return LeanOutput(_fields(value, _OUTPUT_FIELDS))


def _ports(make):
    def check(value: Any) -> dict[str, Any]:
        ports = _mapping_or_empty(value)
        return {name: make(spec) for name, spec in ports.items()}

    return check


def _version(value: Any) -> str | None:
    """`version: 1` means "1", as EnvironmentSpec reads it."""
    if type(value) in (int, float):
        return str(value)
    return _text(value)


def _environment(value: Any) -> LeanEnvironment | None:
    if value is None:
        return None
    if type(value) is str:
        return LeanEnvironment({"reference": value})
    return LeanEnvironment(_fields(value, _ENVIRONMENT_FIELDS))


def _conda_file(value: Any) -> Any:
    return value if type(value) is dict else _text(value)


def _limits(value: Any) -> LeanLimits | None:
    if value is None:
        return None
    return LeanLimits(_fields(value, {"timeout": ("timeout", _whole_number)}))


def _whole_number(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _Unsure


def _command_type(value: Any) -> str:
    if value == "command" and type(value) is str:
        return value
    raise _Unsure


_TEXT_FIELDS = ("name", "display_name", "description", "experiment_name", "compute", "command", "code")
_JOB_FIELDS: dict[str, Any] = {
    **{name: (name, _text) for name in _TEXT_FIELDS},
    "$schema": ("schema_", _text),
    "type": ("type", _command_type),
    "tags": ("tags", _mapping),
    "properties": ("properties", _mapping),
    "environment_variables": ("environment_variables", _mapping_or_empty),
    "inputs": ("inputs", _ports(_input)),
    "outputs": ("outputs", _ports(_output)),
    "environment": ("environment", _environment),
    "limits": ("limits", _limits),
}
_INPUT_FIELDS: dict[str, Any] = {
    "type": ("type", _one_of(LITERAL_TYPES + ASSET_TYPES)),
    "mode": ("mode", _one_of(INPUT_MODES)),
    "value": ("value", _scalar),
    "default": ("default", _scalar),
    "optional": ("optional", _flag),
    **{name: (name, _text) for name in ("path", "description", "datastore", "path_on_compute")},
}
_OUTPUT_FIELDS: dict[str, Any] = {
    "type": ("type", _one_of(ASSET_TYPES)),
    "mode": ("mode", _one_of(OUTPUT_MODES)),
    "is_control": ("is_control", _optional_flag),
    "early_available": ("early_available", _optional_flag),
    **{name: (name, _text) for name in ("path", "value", "description", "name", "version", "datastore")},
}
_ENVIRONMENT_FIELDS: dict[str, Any] = {
    **{name: (name, _text) for name in ("reference", "name", "description", "image", "os_type")},
    "$schema": ("schema_", _text),
    "version": ("version", _version),
    "conda_file": ("conda_file", _conda_file),
    "inference_config": ("inference_config", _mapping),
    "tags": ("tags", _mapping),
    "properties": ("properties", _mapping),
}
