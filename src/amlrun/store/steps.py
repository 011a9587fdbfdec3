"""Pipeline steps in the run store: find one by the name a user typed: its full path (`outer.inner`) or a unique leaf name.

`run --step`, `logs --step` and `show --step` all name steps the same way, and all answer a miss
with the names that exist and the nearest ones, so a typo costs one look, not a trip to `show`.
"""

from __future__ import annotations

from collections.abc import Sequence

from amlrun.errors import UsageError
from amlrun.store.records import RunRecord, RunStore

__all__ = ["descendants", "resolve_step"]


def resolve_step(wanted: str, paths: Sequence[str], owner: str) -> str:
    """The full path in `paths` that `wanted` names; a UsageError naming `owner` when none or several do."""
    if wanted in paths:
        return wanted
    by_leaf = [path for path in paths if _leaf(path) == wanted]
    if len(by_leaf) == 1:
        return by_leaf[0]
    if by_leaf:
        raise UsageError(f"step name {wanted!r} in {owner} is ambiguous: it names {', '.join(by_leaf)}",
                         hint=f"give the full name, for example `--step {by_leaf[0]}`")
    near = _near(wanted, paths)
    guess = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise UsageError(f"{owner} has no step {wanted!r}{guess}",
                     hint="steps: " + (", ".join(paths) if paths else "none"))


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _near(wanted: str, paths: Sequence[str]) -> list[str]:
    """Full paths close to `wanted`, as a whole or by their leaf name (`secnd` -> `outer.second`)."""
    import difflib  # only when a step name is not found

    close = set(difflib.get_close_matches(wanted, paths, n=3, cutoff=0.6))
    leaves = {_leaf(path) for path in paths}
    for leaf in difflib.get_close_matches(wanted, leaves, n=3, cutoff=0.6):
        close.update(path for path in paths if _leaf(path) == leaf)
    return [path for path in paths if path in close]


def descendants(store: RunStore, name: str) -> list[RunRecord]:
    """Every record under run `name`: its steps, nested pipelines and their steps."""
    found = []
    for child in store.children(name):
        found.append(child)
        found.extend(descendants(store, child.name))
    return found
