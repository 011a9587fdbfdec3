"""Read YAML while remembering where every value came from, so errors can say file:line:col."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from amlrun.errors import Problem, SpecError
from amlrun.spec.yaml_bounds import check_yaml_bounds

__all__ = ["VALUE", "FieldPath", "SourceMap", "SpecSource", "format_path", "read_yaml"]

FieldPath = tuple[str | int, ...]

VALUE = "<value>"
"""Path marker: `(*path, VALUE)` is where the value of `path` starts (not its key)."""


def format_path(path: FieldPath) -> str:
    """`('jobs', 'train', 'inputs', 'x')` -> `jobs.train.inputs.x`; list indexes as `[0]`."""
    out = ""
    for part in path:
        if part == VALUE:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class SourceMap:
    """Line/column (1-based) of every mapping key and value in one YAML file.

    `positions[path]` is where the key of `path` is written (or the item, in a list);
    `positions[(*path, VALUE)]` is where its value starts. `spans` keeps the character range of
    every scalar value so a message can point at one `${{...}}` inside a multi-line command.
    """

    file: str
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    spans: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    text: str = ""

    def locate(self, path: FieldPath) -> tuple[int, int]:
        """Position of the longest prefix of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return (1, 1)

    def locate_text(self, path: FieldPath, needle: str) -> tuple[int, int] | None:
        """Position of `needle` inside the scalar value at `path`, if it is written there verbatim."""
        span = self.spans.get(tuple(path))
        if span is None:
            return None
        index = self.text.find(needle, span[0], span[1])
        if index < 0:
            return None
        line = self.text.count("\n", 0, index) + 1
        col = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return line, col

    def problem(self, path: FieldPath, message: str, hint: str = "", *, at_value: bool = False,
                needle: str | None = None) -> Problem:
        """A Problem at `path`: its key, its value (`at_value`), or `needle` inside its value."""
        found = self.locate_text(path, needle) if needle else None
        if found is None and (at_value or needle):
            value, key = self.positions.get((*path, VALUE)), self.positions.get(tuple(path))
            # a block value (a nested mapping or list) starts on a later line: its key says more
            if value is not None and (key is None or value[0] == key[0]):
                found = value
        line, col = found or self.locate(path)
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
    except (ValueError, OSError):
        return str(path)


def _mark(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Builder:
    """Turns a composed YAML node tree into Python data, filling a SourceMap on the way."""

    def __init__(self, loader: yaml.SafeLoader, smap: SourceMap, duplicates: list[Problem] | None) -> None:
        self.loader = loader
        self.smap = smap
        self.duplicates = duplicates

    def build(self, node: yaml.Node, where: FieldPath) -> Any:
        self.smap.positions.setdefault(where, _mark(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, where)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*where, i)) for i, item in enumerate(node.value)]
        self.smap.spans[where] = (node.start_mark.index, node.end_mark.index)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, where: FieldPath) -> dict[str, Any]:
        self.loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(self.loader.construct_object(key_node, deep=True))
            child = (*where, key)
            if key in result:
                first = self.smap.positions[child]
                problem = Problem(self.smap.file, *_mark(key_node.start_mark), format_path(child),
                                  f"duplicate key {key!r} (first written at line {first[0]})",
                                  "remove one of the two entries; AzureML would silently keep the last")
                if self.duplicates is None:
                    raise SpecError([problem])
                self.duplicates.append(problem)
                result[key] = self.build(value_node, child)  # the later value wins, as in PyYAML
                continue
            self.smap.positions[child] = _mark(key_node.start_mark)
            self.smap.positions[(*child, VALUE)] = _mark(value_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


_KINDS = {"str": "a string", "list": "a list", "int": "a number", "float": "a number", "bool": "true/false",
          "date": "a date", "datetime": "a date", "bytes": "binary data"}
_JOB_TOP = "a job or component file starts with keys like `type:` and `command:`"


def read_yaml(path: str | Path, duplicates: list[Problem] | None = None, *, empty_ok: bool = False,
              top_hint: str = _JOB_TOP) -> SpecSource:
    """Parse one YAML file. Syntax errors become a SpecError with the parser's position.

    Duplicate keys raise too, unless `duplicates` is given: then they are appended there and
    reading goes on, so `amlrun check` can list them with everything else. `empty_ok` reads an
    empty (or comments-only) file as `{}`; `top_hint` says what the file should start with.
    """
    path = Path(path)
    display = _display_name(path)
    smap = SourceMap(display)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(display, 1, 1, "", f"no such file: {path.absolute()}",
                                 "check the spelling and the folder amlrun runs in")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(display, 1, 1, "", "is a folder, not a file",
                                 "pass the job or component YAML file inside it")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(display, 1, 1, "", f"not a UTF-8 text file ({exc.reason} at byte {exc.start})",
                                 "pass a YAML file")]) from None
    except OSError as exc:
        raise SpecError([Problem(display, 1, 1, "", f"cannot read: {exc.strerror or exc}",
                                 "check the file's permissions")]) from None
    smap.text = text
    loader = None
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 4x faster
    check_yaml_bounds(text, display, loader_class)  # an alias bomb is refused before it is built
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
        data = _Builder(loader, smap, duplicates).build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        what = exc.problem or str(exc)
        if exc.context and exc.problem:
            context = exc.context.replace("while parsing", "in")
            started = exc.context_mark
            if started is not None and (started.line, started.column) != (mark.line, mark.column):
                context += f" that starts at line {started.line + 1}, column {started.column + 1}"
            what = f"{exc.problem}, {context}"
        hint = "check indentation, quotes and colons here; tabs are not allowed"
        if "mapping values are not allowed" in what:  # `command: echo "n: $x"`: a `: ` inside a plain value
            hint = ("a value holding `: ` must be quoted whole, or written as a block: `command: >-` with the "
                    "text on the next, indented lines")
        elif "${{" in (text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""):
            hint = "inside { } or [ ], quote a value holding ${{...}}: `{data: \"${{parent.inputs.x}}\"}`"
        raise SpecError([Problem(display, line, col, "", f"invalid YAML: {what}", hint)]) from None
    except yaml.reader.ReaderError as exc:  # control characters: a binary file
        index = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
        raise SpecError([Problem(display, line, col, "", f"invalid YAML: character {exc.character!r} is not allowed",
                                 "pass a YAML text file")]) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError([Problem(display, 1, 1, "", f"invalid YAML: {first}", "pass a YAML text file")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        found = "an empty file" if data is None else _KINDS.get(kind, f"a {kind}")
        raise SpecError([Problem(display, 1, 1, "", f"expected a mapping at the top of the file, found {found}",
                                 top_hint)])
    return SpecSource(path=path, data=data, source_map=smap)
