"""Steps only AzureML runs (spark, sweep, automl, flows, unmapped registered components).

`check` and `submit` accept them with a note; `run` refuses up front, naming each one, unless
`--step` picks a step that needs none of them: then those steps (and whatever reads their
outputs) are left out of the local run.
"""

from __future__ import annotations

import dataclasses

from amlrun.errors import UsageError
from amlrun.spec.node import Node
from amlrun.spec.validate import step_dependencies

__all__ = ["runnable_tree"]


def runnable_tree(root: Node, step: str | None, file: str) -> Node:
    """`root` itself when everything runs here; without cloud-only steps when `--step` avoids them.

    Raises UsageError naming every cloud-only step, and what to do, when the run would need one.
    """
    if root.kind == "remote":
        raise UsageError(f"{file}: {root.remote} runs on AzureML only; amlrun cannot run it locally",
                         hint=f"submit it with `amlrun submit {file}` (check it with `amlrun check {file}`)")
    remote = {path: n for path, n in _leaves(root) if n.kind == "remote"}
    if not remote:
        return root
    pruned, needs = _prune(root, "")
    if step is None:
        lines = "\n".join(f"  - step {path!r} {n.remote}" for path, n in remote.items())
        runnable = [path for path, n in _leaves(pruned) if n.kind != "pipeline"]
        fixes = [f"run the rest with `amlrun run {file} --step {runnable[-1]}` (it and what it needs)"] \
            if runnable else []
        if any("registered component" in (n.remote or "") for n in remote.values()):
            fixes.append("map each registered component to its local YAML file under `components:` in "
                         "amlrun.yaml (e.g. `azureml:train@latest: ./components/train.yml`)")
        fixes.append(f"`amlrun submit {file}` runs the whole pipeline on AzureML")
        raise UsageError(f"{file} cannot run here as a whole: these steps run on AzureML only:\n{lines}",
                         hint="; or ".join(fixes))
    for path, blocked_by in needs.items():
        if step in (path, path.rsplit(".", 1)[-1]):
            raise UsageError(f"step {path!r} needs {blocked_by}, which runs on AzureML only",
                             hint="pick a step that does not read its outputs, or `amlrun submit` the pipeline")
    return pruned


def _leaves(node: Node, prefix: str = ""):
    for name, child in node.children.items():
        yield prefix + name, child
        if child.kind == "pipeline":
            yield from _leaves(child, f"{prefix}{name}.")


def _prune(pipeline: Node, prefix: str) -> tuple[Node, dict[str, str]]:
    """A copy of `pipeline` without cloud-only steps nor steps that read them, and why each left:
    {qualified step: "step 'x' (a spark step)"}."""
    deps = step_dependencies(pipeline)
    children: dict[str, Node] = {}
    gone: dict[str, str] = {}
    for name in _ordered(pipeline, deps):
        child = pipeline.children[name]
        path = prefix + name
        if child.kind == "remote":
            gone[path] = f"step {path!r} (it {child.remote})"
            continue
        upstream = next((gone[prefix + d] for d in sorted(deps[name]) if prefix + d in gone), None)
        if upstream is not None:
            gone[path] = upstream
            continue
        if child.kind == "pipeline":
            inner, inner_gone = _prune(child, path + ".")
            gone.update(inner_gone)
            if inner_gone:
                gone[path] = next(iter(inner_gone.values()))
                continue
            child = inner
        children[name] = child
    return dataclasses.replace(pipeline, children=children), gone


def _ordered(pipeline: Node, deps: dict[str, set[str]]) -> list[str]:
    """Steps so that each comes after the steps it reads (the file is acyclic: `check` said so)."""
    import graphlib

    return list(graphlib.TopologicalSorter({k: v & set(deps) for k, v in deps.items()}).static_order())
