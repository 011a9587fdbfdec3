"""Bounds on what one YAML file may cost to load: aliases, expanded size, nesting, bytes.

YAML aliases share one node, but everything that reads the data (the position map, pydantic,
`--set`, the SDK) walks it expanded: nine anchors of nine aliases each are a billion values, and a
chain of `<<:` merges grows quadratically. Before anything is built, one pass over the parser's
events adds up what the document would expand to, and refuses it at the line where a bound is
crossed. Real job files stay far below every bound (a large pipeline is a few thousand values).
"""

from __future__ import annotations

from typing import Any

import yaml

from amlrun.errors import Problem, SpecError

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "check_yaml_bounds"]

MAX_BYTES = 8 * 1024 * 1024
MAX_VALUES = 100_000
MAX_ALIASES = 5_000
MAX_DEPTH = 100

_HINT = "a job or component file needs far less; remove the aliases (*name) or nesting that repeat it"


class _Frame:
    """A mapping or list being read: its anchor, the count before it, its height so far."""

    __slots__ = ("anchor", "start", "height", "is_map", "items", "merge_key", "merges")

    def __init__(self, anchor: str | None, start: int, is_map: bool, merges: bool) -> None:
        self.anchor, self.start, self.height, self.is_map, self.merges = anchor, start, 0, is_map, merges
        self.items = 0
        self.merge_key = False  # the last key read was `<<`

    def merging(self) -> bool:
        """Whether the value read next is merged (`<<: *a`, `<<: [*a, *b]`): flattened, it adds no level."""
        return self.merges or (self.is_map and self.items % 2 == 1 and self.merge_key)


def check_yaml_bounds(text: str, file: str, loader_class: Any) -> None:
    """Raise a SpecError at the first place `text` crosses a bound; YAML syntax errors are left to the reader."""
    if len(text) > MAX_BYTES:
        _refuse(file, None, f"the file is {len(text) / 1024 / 1024:.1f} MB; amlrun reads YAML files up to "
                f"{MAX_BYTES // 1024 // 1024} MB", "a job file is a few KB: keep data in data files, not in YAML")
    loader = loader_class(text)
    total = aliases = 0
    stack: list[_Frame] = []
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values it expands to, its nesting height)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                size, height = 1, 1
                if isinstance(event, yaml.AliasEvent):
                    aliases += 1
                    if aliases > MAX_ALIASES:
                        _refuse(file, event, f"more than {MAX_ALIASES:,} aliases (*name)", _HINT)
                    if any(f.anchor == event.anchor for f in stack):
                        _refuse(file, event, f"alias *{event.anchor} is inside the node it names (&{event.anchor}),"
                                " which would repeat forever", "an anchor cannot hold an alias to itself")
                    size, height = anchors.get(event.anchor, (1, 1))  # an unknown alias: the reader says so
                elif event.anchor:
                    anchors[event.anchor] = (1, 1)
                total += size
                merged = bool(stack) and stack[-1].merging()
                _close(file, event, stack, total, 0 if merged else height)
                if stack:
                    frame = stack[-1]
                    frame.merge_key = frame.is_map and frame.items % 2 == 0 and getattr(event, "value", None) == "<<"
                    frame.items += 1
            elif isinstance(event, yaml.CollectionStartEvent):
                total += 1
                merged = bool(stack) and stack[-1].merging()
                if stack:
                    stack[-1].items += 1
                stack.append(_Frame(event.anchor, total - 1, isinstance(event, yaml.MappingStartEvent), merged))
                _close(file, event, stack, total, 0)
            elif isinstance(event, yaml.CollectionEndEvent):
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (total - frame.start, frame.height + 1)
                if stack and not frame.merges:
                    stack[-1].height = max(stack[-1].height, frame.height + 1)
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _close(file: str, event: Any, stack: list[_Frame], total: int, height: int) -> None:
    """Account for a value of `height` levels just read inside `stack`; refuse it when a bound is crossed."""
    if total > MAX_VALUES:
        _refuse(file, event, f"the YAML expands to more than {MAX_VALUES:,} values (each alias repeats "
                "everything its anchor holds)", _HINT)
    if stack and height:
        stack[-1].height = max(stack[-1].height, height)
    if len(stack) + height > MAX_DEPTH:
        _refuse(file, event, f"the YAML nests more than {MAX_DEPTH} levels deep", _HINT)


def _refuse(file: str, event: Any, message: str, hint: str) -> None:
    mark = getattr(event, "start_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    raise SpecError([Problem(file, line, col, "", message, hint)])
