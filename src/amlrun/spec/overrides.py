"""`--set path=value` overrides, applied the way `az ml job create --set` applies them."""

from __future__ import annotations

from typing import Any

import yaml

from amlrun.errors import UsageError
from amlrun.spec.source import SourceMap

__all__ = ["Override", "apply_overrides", "near_misses", "parse_override"]

Override = tuple[str, Any]

MAX_PARTS = 32


def parse_override(text: str) -> Override:
    """`inputs.epochs=3` -> ("inputs.epochs", 3). Values are read as YAML scalars (3, true, 'a b')."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(
            f"--set {text!r} is not of the form path=value",
            hint="write it like `--set inputs.epochs=3` or `--set environment_variables.DEBUG=1`",
        )
    if key.count(".") >= MAX_PARTS:
        raise UsageError(f"--set path {key[:60]}... has {key.count('.') + 1} parts; no job field is nested "
                         f"more than {MAX_PARTS} deep", hint="check the path, e.g. `--set jobs.train.inputs.lr=0.1`")
    return key, _scalar(raw.strip())


def _scalar(raw: str) -> Any:
    """YAML 1.2 core scalars only: `yes`/`on` stay strings (YAML 1.1 would make them booleans)."""
    if raw.startswith(("{", "[")):
        from amlrun.errors import SpecError
        from amlrun.spec.yaml_bounds import check_yaml_bounds

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            check_yaml_bounds(raw, "--set", loader)
        except SpecError as exc:
            raise UsageError(f"--set value {raw[:40]!r}...: {exc.problems[0].message}",
                             hint="give a small mapping or list, e.g. `--set 'tags={a: 1}'`") from None
        try:
            return yaml.load(raw, Loader=loader)
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


def apply_overrides(data: dict[str, Any], overrides: list[Override],
                    source_map: SourceMap | None = None) -> dict[str, Any]:
    """Set each dotted path in a copy of `data`, creating mappings on the way.

    Setting a scalar where the file has a typed input mapping (`inputs.x: {type: ..., path: ...}`)
    replaces its `path` (for assets) or `default`/value, so `--set inputs.data=./other` keeps the
    declared type and mode as the service does. A path that goes *through* a scalar or a list
    (`--set inputs.epochs.value=5` on `epochs: 3`) is refused, as `az ml job create --set` refuses
    it, rather than silently turning that value into a mapping; `source_map` says where it is.
    """
    import copy

    result = copy.deepcopy(data)
    for key, value in overrides:
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is not None and not isinstance(child, dict):
                raise _through_a_value(key, value, parts[:depth + 1], child, source_map)
            if child is None:
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


def _through_a_value(key: str, value: Any, prefix: list[str], found: Any, source_map: SourceMap | None
                     ) -> UsageError:
    """`--set a.b=1` where the file's `a` is a scalar or a list: say what `a` is, where, and what to write."""
    name = ".".join(prefix)
    rest = key[len(name) + 1:]
    where = ""
    if source_map is not None:
        problem = source_map.problem(tuple(prefix), "", at_value=True)
        where = f" at {problem.file}:{problem.line}:{problem.col}"
    what = f"a list ({len(found)} item{'s' if len(found) != 1 else ''})" if isinstance(found, list) else _shown(found)
    example = f"'{name}=[...]'" if isinstance(found, list) else f"{name}={_text(value)}"
    hint = f"set `{name}` itself (`--set {example}`) or fix the path"
    is_port = len(prefix) >= 2 and prefix[-2] in ("inputs", "outputs")
    if is_port and isinstance(found, str) and rest not in ("path", "value", "default"):
        # e.g. a mode for an input written `data: ./data` (or a step's `data: ${{parent...}}`)
        shown = f'"{found}"' if "${{" in found else found  # a binding in a flow mapping needs quotes
        hint = (f"write `{prefix[-1]}` as a mapping in the file, `{prefix[-1]}: {{path: {shown}, {rest}: "
                f"{_text(value)}}}`; then this --set works")
    return UsageError(
        f"--set {key}={_text(value)}: `{name}` is {what}{where}, not a mapping, so it has no field {rest!r}",
        hint=hint + " (as with `az ml job create --set`, fields can only be set inside mappings)")


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _shown(value: Any) -> str:
    """`3 (an integer)`, `'./data' (a string)`; long or multi-line text cut short."""
    text = repr(value) if isinstance(value, str) else _text(value)
    if len(text) > 40 or "\n" in text:
        text = text.splitlines()[0][:37] + "..."
    return f"{text} ({_KINDS.get(type(value), type(value).__name__)})"


def _text(value: Any) -> str:
    """A parsed `--set` value as it would be typed again."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter added, dropped, changed or two swapped: `xx` vs `x`, which ratios miss on short names."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def near_misses(data: Any, overrides: list[Override]) -> list[str]:
    """Notes for overrides that add a field the file lacks while it has one spelled almost the same.

    `az ml job create --set inputs.epoch=5` on a file with `inputs.epochs` adds a new, unused input and
    changes nothing the job reads; adding fields is legitimate, so this is a note, not an error.
    """
    import difflib

    notes = []
    for key, _ in overrides:
        node, walked = data, []
        for part in key.split("."):
            if not isinstance(node, dict):
                break
            if part not in node:
                names = [str(k) for k in node]
                close = difflib.get_close_matches(part, names, n=1, cutoff=0.75) or \
                    [name for name in names if _one_edit_apart(part, name)][:1]
                if close:
                    where = ".".join(walked)
                    notes.append(f"--set {key}: the file has no `{'.'.join([*walked, part])}`, so it is added; "
                                 f"did you mean `{'.'.join([*walked, close[0]])}`?"
                                 + (f" (fields under `{where}`: {', '.join(map(str, node))})" if where else ""))
                break
            node, walked = node[part], [*walked, part]
    return notes
