"""`--set path=value` overrides, applied the way `az ml job create --set` applies them."""

from __future__ import annotations

from typing import Any

import yaml

from amlrun.errors import UsageError

__all__ = ["Override", "apply_overrides", "parse_override"]

Override = tuple[str, Any]


def parse_override(text: str) -> Override:
    """`inputs.epochs=3` -> ("inputs.epochs", 3). Values are read as YAML scalars (3, true, 'a b')."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(
            f"--set {text!r} is not of the form path=value",
            hint="write it like `--set inputs.epochs=3` or `--set environment_variables.DEBUG=1`",
        )
    return key, _scalar(raw.strip())


def _scalar(raw: str) -> Any:
    """YAML 1.2 core scalars only: `yes`/`on` stay strings (YAML 1.1 would make them booleans)."""
    if raw.startswith(("{", "[")):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


def apply_overrides(data: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """Set each dotted path in a copy of `data`, creating mappings on the way.

    Setting a scalar where the file has a typed input mapping (`inputs.x: {type: ..., path: ...}`)
    replaces its `path` (for assets) or `default`/value, so `--set inputs.data=./other` keeps the
    declared type and mode as the service does.
    """
    import copy

    result = copy.deepcopy(data)
    for key, value in overrides:
        parts = key.split(".")
        node: Any = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        leaf = parts[-1]
        current = node.get(leaf)
        in_ports = len(parts) >= 2 and parts[-2] in ("inputs", "outputs")
        if in_ports and isinstance(current, dict) and not isinstance(value, dict):
            if "path" in current or current.get("type") not in (None, "string", "number", "integer", "boolean"):
                current["path"] = value
            elif "default" in current:
                current["default"] = value
            else:
                current["value"] = value
        else:
            node[leaf] = value
    return result
