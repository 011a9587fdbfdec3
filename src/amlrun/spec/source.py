"""Read YAML while remembering where every value came from, so errors can say file:line:col."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from amlrun.errors import Problem, SpecError

__all__ = ["FieldPath", "SourceMap", "SpecSource", "format_path", "read_yaml"]

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """`('jobs', 'train', 'inputs', 'x')` -> `jobs.train.inputs.x`; list indexes as `[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class SourceMap:
    """Line/column (1-based) of every mapping key and value in one YAML file."""

    file: str
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: FieldPath) -> tuple[int, int]:
        """Position of the longest prefix of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return (1, 1)

    def problem(self, path: FieldPath, message: str, hint: str = "") -> Problem:
        line, col = self.locate(path)
        return Problem(self.file, line, col, format_path(path), message, hint)


@dataclass
class SpecSource:
    """A YAML document as plain Python data plus where each piece came from."""

    path: Path
    data: Any
    source_map: SourceMap

    @property
    def folder(self) -> Path:
        return self.path.parent


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _to_python(node: yaml.Node, loader: yaml.SafeLoader, where: FieldPath, smap: SourceMap) -> Any:
    smap.positions.setdefault(where, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key)
            child = (*where, key)
            smap.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                line = key_node.start_mark.line + 1
                raise SpecError(
                    [Problem(smap.file, line, key_node.start_mark.column + 1, format_path(child),
                             "duplicate key", "remove one of the two entries")]
                )
            result[key] = _to_python(value_node, loader, child, smap)
            # keep the value position too, under a marker, for messages about the value itself
            smap.positions[(*child, "<value>")] = (
                value_node.start_mark.line + 1, value_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, loader, (*where, i), smap) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_yaml(path: str | Path) -> SpecSource:
    """Parse one YAML file; syntax errors become a SpecError with the parser's position."""
    path = Path(path)
    display = _display_name(path)
    smap = SourceMap(display)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(display, 1, 1, "", "file not found", "check the path")]) from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(display, 1, 1, "", f"cannot read: {exc}", "pass a YAML file")]) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml when present: 4x faster
    try:
        node = loader.get_single_node()
        data = _to_python(node, loader, (), smap) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError(
            [Problem(display, line, col, "", f"invalid YAML: {exc.problem or exc}",
                     "fix the YAML syntax (indentation, quotes, colons)")]
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError([Problem(display, 1, 1, "", "expected a mapping at the top of the file",
                                 "a job or component file starts with keys like `type:` and `command:`")])
    return SpecSource(path=path, data=data, source_map=smap)
