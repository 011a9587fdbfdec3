"""Helpers for pipeline tests: read run records the way `amlrun show` does, but as data."""

from __future__ import annotations

from pathlib import Path

from amlrun.store.records import RunRecord, RunStore

__all__ = ["LONG_FORM_PIPELINE", "ran_steps", "step_records"]


def step_records(store: Path, run: str) -> dict[str, RunRecord]:
    """step path -> record, for every (nested) step of pipeline run `run`."""
    db = RunStore(store)
    found: dict[str, RunRecord] = {}

    def walk(name: str) -> None:
        for child in db.children(name):
            found[child.extra["step_path"]] = child
            walk(child.name)

    walk(run)
    return found


def ran_steps(log: Path) -> list[str]:
    """Steps that really ran, in order: each test step appends its name to a shared file."""
    return log.read_text().split() if log.exists() else []


# step inputs bound in long form, `{path: ${{...}}, mode: ...}`; `use` is written before `prep`
LONG_FORM_PIPELINE = """
    type: pipeline
    inputs:
      raw: {type: uri_folder, path: ./raw}
    jobs:
      use:
        type: command
        inputs:
          data:
            type: uri_folder
            path: ${{parent.jobs.prep.outputs.out}}
            mode: download
          where:
            path: ${{parent.jobs.prep.outputs.out}}
            mode: direct
        command: cat ${{inputs.data}}/b.txt && echo "where=${{inputs.where}}"
      prep:
        type: command
        inputs:
          src:
            path: ${{parent.inputs.raw}}
            mode: download
        outputs:
          out: {type: uri_folder}
        command: echo edited >> ${{inputs.src}}/a.txt && cp ${{inputs.src}}/a.txt ${{outputs.out}}/b.txt
"""
