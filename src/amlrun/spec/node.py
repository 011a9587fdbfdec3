"""The loaded form of a job file: a tree of `Node`s, and the `Findings` loading collected.

Kept apart from the loader (and pydantic) so the engine can read a loaded job without importing what
loads one: a plain command job is loaded by `spec.lean` without pydantic at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from amlrun.errors import Problem
from amlrun.spec.source import FieldPath, SpecSource

__all__ = ["Findings", "Node", "NodeKind"]

NodeKind = Literal["command", "parallel", "pipeline", "remote"]


@dataclass
class Node:
    """A job or a pipeline step with its definition resolved.

    `definition` is a CommandComponent/ParallelComponent/PipelineComponent-shaped model (an inline
    job is its own definition). It is written in `definition_source` at `definition_path`; relative
    paths in it (`code`, `conda_file`, ...) are relative to `definition_source.folder`.
    `inputs`/`outputs` are the step's bindings, written in the parent's scope at `path` in `source`
    (a binding written as `{path: ${{...}}, mode: ...}` is in `value`, as if written bare);
    `settings` are run settings the step overrides on its component. `broken` names steps that
    could not be loaded (their problems are already reported). A `remote` node is one only AzureML
    runs (a spark/sweep/automl step, a flow, an unmapped registered component): `remote` says what
    it is, for `check`'s note and `run`'s refusal.
    """

    name: str
    kind: NodeKind
    definition: Any
    definition_source: SpecSource
    source: SpecSource
    path: FieldPath
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    job: Any = None  # the top-level job model, for the root node only
    definition_path: FieldPath | None = None
    broken: set[str] = field(default_factory=set)
    remote: str | None = None

    def __post_init__(self) -> None:
        if self.definition_path is None:
            self.definition_path = self.path if self.definition_source is self.source else ()

    @property
    def is_deterministic(self) -> bool:
        return bool(getattr(self.definition, "is_deterministic", True))

    @property
    def from_component(self) -> bool:
        """True when the definition is a component (file or inline), not the job itself."""
        return bool(getattr(self.definition, "is_component", False))

    def walk(self):
        """This node and every descendant, parents first."""
        yield self
        for child in self.children.values():
            yield from child.walk()


@dataclass
class Findings:
    """Problems found while loading, and the fields dropped to keep going.

    A later check must not report a second, confusing problem about a field that was dropped
    (e.g. "needs a command" after "command must be a string"): `covers` tells it.
    """

    problems: list[Problem] = field(default_factory=list)
    dropped: set[tuple[str, str]] = field(default_factory=set)
    notes: list[Problem] = field(default_factory=list)  # fine for AzureML, worth a line (runs there only)

    def add(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def note(self, note: Problem) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def extend(self, problems: list[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def covers(self, problem: Problem) -> bool:
        for file, prefix in self.dropped:
            if problem.file != file:
                continue
            if not prefix or problem.field == prefix or problem.field.startswith((prefix + ".", prefix + "[")):
                return True
        return False
