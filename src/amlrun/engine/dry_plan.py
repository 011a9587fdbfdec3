"""Plan a job without running anything: what `check` adds to the spec checks so it refuses what `run` refuses.

Planning resolves every URI, datastore, data asset, output destination and environment, and touches
no disk beyond reading amlrun.yaml; a refusal there (a `..` leaving a datastore, a malformed
`azureml://` URI, an unknown asset) becomes a problem at the line that wrote the value.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from amlrun.data.locations import DataContext
from amlrun.errors import AmlrunError, NotHereError, Problem, SpecError
from amlrun.spec.node import Node
from amlrun.store.records import find_store_root

__all__ = ["plan_job", "plan_problems"]


def plan_job(node: Node, file: Path, store_root: Path | None = None) -> Any:
    """The plan `amlrun run` would execute for `node` (loaded from `file`); raises what run would raise."""
    root = store_root or find_store_root(file.parent)
    data = DataContext.for_project(root, file)
    run_dir = root / "runs" / "dry_run"
    if node.kind == "pipeline":
        from amlrun.engine.pipeline_plan import plan_pipeline

        return plan_pipeline(node, data, "dry_run", run_dir)
    if node.kind == "parallel":
        from amlrun.engine.parallel.plan import plan_parallel_step

        return plan_parallel_step(node, data, "dry_run", run_dir)
    from amlrun.engine.planner import plan_command_like

    return plan_command_like(node, data, "dry_run", run_dir)


def plan_problems(node: Node, file: Path, notes: list[Problem] | None = None) -> list[Problem]:
    """What planning refuses, as problems placed where the offending value is written.

    Data only this machine lacks (NotHereError: an undeclared container, an unmapped asset) is fine
    for AzureML: it goes to `notes`, not the problems."""
    try:
        plan_job(node, file)
    except NotHereError as exc:
        placed = _placed(node, exc)
        if notes is not None:
            notes.append(dataclasses.replace(placed, message=f"AzureML resolves this; to run it here: {placed.message}"))
        return []
    except SpecError as exc:
        return exc.problems
    except AmlrunError as exc:
        return [_placed(node, exc)]
    except OSError as exc:  # a path the OS cannot look at (too long, a link loop)
        return [Problem(node.source.source_map.file, 1, 1, "", f"cannot look at {exc.filename}: {exc.strerror or exc}",
                        "fix the path")]
    return []


def _placed(node: Node, exc: AmlrunError) -> Problem:
    """The error at the first place one of the values it quotes is written (else the file's first line)."""
    quoted = re.findall(r"'([^']+)'", exc.message)
    sources = {id(s): s for n in node.walk() for s in (n.source, n.definition_source)}
    for source in sources.values():
        text = source.source_map.text
        for value in quoted:
            index = text.find(value)
            if index >= 0:
                line = text.count("\n", 0, index) + 1
                col = index - (text.rfind("\n", 0, index) + 1) + 1
                return Problem(source.source_map.file, line, col, "", exc.message, exc.hint or "")
    return Problem(node.source.source_map.file, 1, 1, "", exc.message, exc.hint or "")
