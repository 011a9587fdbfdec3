"""Turn pydantic's validation errors into messages about YAML: what is wrong, and how to fix it.

Pydantic speaks of "Input should be a valid integer, unable to parse string as an integer";
a user wants "expected an integer, got 'soon'" and a hint. Messages from our own validators may
carry their hint after `HINT_SEP`.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Discriminator, Tag

from amlrun.spec import models
from amlrun.spec.models import HINT_SEP

__all__ = ["Described", "describe_validation_errors", "fields_at", "known_field_names"]

_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping (`key: value` lines)",
    "model": "a mapping (`key: value` lines)",
    "list": "a list",
}
_EXAMPLES = {
    "int": "write a whole number, e.g. `2`",
    "float": "write a number, e.g. `0.5`",
    "bool": "write `true` or `false`",
    "string": "quote the value",
    "dict": "indent the fields under this key",
    "model": "indent the fields under this key",
    "list": "write a list, e.g. `[a, b]`",
}


# accepted (the service writes them into files it returns) but not worth suggesting
_NOT_LISTED = {"$schema", "status", "creation_context", "id", "parent_job_name", "studio_url", "properties",
               "services", "queue_settings", "identity", "component"}


@dataclass(frozen=True)
class Described:
    message: str
    hint: str
    at_value: bool
    suffix: tuple[str, ...] = ()  # where to point, below the error's own path


def known_field_names() -> list[str]:
    """Every field name any amlrun model accepts (for "did you mean")."""
    names: set[str] = set()
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            for name, info in value.model_fields.items():
                names.add(info.alias or name)
    names.discard("value")
    names.discard("reference")
    return sorted(names)


def _unwrap(annotation: Any, data: Any) -> Any:
    """The model (or dict/list type) an annotation means for this piece of data."""
    for _ in range(10):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            inner, *meta = typing.get_args(annotation)
            tagged = [m for m in meta if isinstance(m, Discriminator)]
            annotation = _pick_tagged(inner, data) if tagged else inner
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            wanted = [a for a in members if (isinstance(a, type) and issubclass(a, BaseModel))
                      or typing.get_origin(a) in (dict, list, typing.Annotated)]
            annotation = wanted[0] if wanted else members[0]
        else:
            return annotation
    return annotation


def _pick_tagged(union: Any, data: Any) -> Any:
    tag = models._step_tag(data)
    for member in typing.get_args(union):
        for meta in typing.get_args(member)[1:]:
            if isinstance(meta, Tag) and meta.tag == tag:
                return typing.get_args(member)[0]
    return typing.get_args(typing.get_args(union)[0])[0]


def fields_at(model: type[BaseModel], path: list[str | int], data: Any) -> list[str] | None:
    """The field names the schema accepts at `path` (a mapping in `data`), or None if unknown."""
    annotation: Any = model
    node = data
    for part in path:
        annotation = _unwrap(annotation, node)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for name, f in annotation.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return None
        node = node[part] if isinstance(node, dict | list) and _contains(node, part) else None
    annotation = _unwrap(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        names = [f.alias or name for name, f in annotation.model_fields.items()]
        return [n for n in names if n not in ("value", "reference")]
    return None


def _contains(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _family(error_type: str) -> str | None:
    head = error_type.split("_", 1)[0]
    if head in _EXPECTED:
        return head
    if error_type.startswith("model_attributes"):
        return "model"
    return None


def describe_validation_errors(errors: list[dict[str, Any]], path: list[str | int],
                               model: type[BaseModel] | None = None, data: Any = None) -> Described:
    """One message for the pydantic errors at one place (several when a union failed).

    With the `model` and the `data` it validated, an unknown field's hint suggests only fields
    that are valid at that place.
    """
    name = str(path[-1]) if path else "document"
    first = errors[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        here = fields_at(model, path[:-1], data) if model is not None else None
        close = difflib.get_close_matches(name, here or known_field_names(), n=1, cutoff=0.7)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif here:
            hint = "remove it; fields here: " + ", ".join(f for f in here if f not in _NOT_LISTED)
        else:
            hint = "remove it; the AzureML v2 schema has no such field here"
        return Described(f"unknown field {name!r}", hint, at_value=False)
    if kind == "missing":
        return Described(f"required field {name!r} is missing", f"add `{name}: ...`", at_value=False)
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        allowed = [part.strip(" '") for part in expected.replace(" or ", ", ").split(",")
                   if part.strip() and part.strip() != "None"]  # an optional field: None is "leave it out"
        close = difflib.get_close_matches(str(first["input"]), allowed, n=1, cutoff=0.6)
        hint = (f"did you mean {close[0]!r}? " if close else "") + f"allowed: {', '.join(allowed)}"
        return Described(f"{_shown(first['input'])} is not a valid {name}", hint, at_value=True)
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag")
        return Described(f"unknown step type {tag!r}",
                         "a step is `type: command` or `type: parallel`, names a `component:` file, or is one "
                         "only AzureML runs (spark, sweep, automl, data_transfer, import)",
                         at_value=True, suffix=("type",))
    if kind == "value_error":
        text = str(first.get("ctx", {}).get("error", first["msg"]))
        message, _, hint = text.partition(HINT_SEP)
        return Described(message, hint or "fix the value", at_value=True)
    families = [f for f in (_family(e["type"]) for e in errors) if f]
    if families:
        wanted = " or ".join(dict.fromkeys(_EXPECTED[f] for f in families))
        hint = _EXAMPLES[families[0]]
        if families[0] == "string" and isinstance(first["input"], dict | list):
            hint = "write a single value here, not a nested block"
        return Described(f"expected {wanted}, got {_shown(first['input'])}", hint, at_value=True)
    return Described(first["msg"], "fix the value", at_value=True)
