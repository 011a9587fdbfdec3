"""Helpers for pipeline tests: pipelines to run, and run records read the way `amlrun show` prints them."""

from __future__ import annotations

from pathlib import Path

from amlrun.store.records import RunRecord, RunStore

__all__ = ["LONG_FORM_PIPELINE", "ran_steps", "shown_steps", "step_records", "write_diamond", "write_nested",
           "write_stamp_pipeline"]


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


def shown_steps(show_output: str) -> dict[str, str]:
    """step path -> status, read from the `steps:` table `amlrun show RUN` prints (nesting by indent)."""
    lines = show_output.split("steps:\n", 1)[1].splitlines()
    found: dict[str, str] = {}
    stack: list[str] = []
    for line in lines:
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        name, status = line.split()[:2]
        stack[depth:] = [name]
        found[".".join(stack)] = status
    return found


def write_diamond(write, tmp_path: Path, b_cmd: str = "sleep 1", c_cmd: str = "sleep 1", settings: str = "") -> Path:
    """a -> (b, c) -> d; c also reads the pipeline input `other`. Each step appends its name to ran.txt."""
    log = tmp_path / "ran.txt"
    return write("diamond/pipeline.yml", f"""
        type: pipeline
        inputs:
          seed:
            type: uri_file
            path: ./seed.txt
          other:
            type: uri_file
            path: ./other.txt
        {settings}
        jobs:
          a:
            command: echo a >> {log}; cp ${{{{inputs.seed}}}} ${{{{outputs.out}}}}/seed.txt
            inputs:
              seed: ${{{{parent.inputs.seed}}}}
            outputs:
              out:
          b:
            command: echo b >> {log}; {b_cmd}; cat ${{{{inputs.x}}}}/seed.txt > ${{{{outputs.out}}}}/b.txt
            inputs:
              x: ${{{{parent.jobs.a.outputs.out}}}}
            outputs:
              out:
          c:
            command: echo c >> {log}; {c_cmd}; cat ${{{{inputs.y}}}} > ${{{{outputs.out}}}}/c.txt
            inputs:
              y: ${{{{parent.inputs.other}}}}
              x: ${{{{parent.jobs.a.outputs.out}}}}
            outputs:
              out:
          d:
            command: echo d >> {log}; cat ${{{{inputs.b}}}}/b.txt ${{{{inputs.c}}}}/c.txt
            inputs:
              b: ${{{{parent.jobs.b.outputs.out}}}}
              c: ${{{{parent.jobs.c.outputs.out}}}}
    """)


def write_nested(write) -> Path:
    """make -> quadruple (a nested pipeline component: first -> second, each doubling) -> show.

    Each doubling step logs `doubled to <numbers>`: first `2,4`, second `4,8`.
    """
    write("nested/components/double.yml", """
        type: command
        inputs:
          numbers: {type: uri_folder}
        outputs:
          doubled: {type: uri_folder}
        command: >-
          awk '{print $1*2}' ${{inputs.numbers}}/n.txt > ${{outputs.doubled}}/n.txt &&
          echo "doubled to $(paste -sd, ${{outputs.doubled}}/n.txt)"
    """)
    write("nested/components/twice.yml", """
        type: pipeline
        inputs:
          numbers: {type: uri_folder}
        outputs:
          result: {type: uri_folder}
        jobs:
          first:
            type: command
            component: ./double.yml
            inputs:
              numbers: ${{parent.inputs.numbers}}
          second:
            type: command
            component: ./double.yml
            inputs:
              numbers: ${{parent.jobs.first.outputs.doubled}}
            outputs:
              doubled: ${{parent.outputs.result}}
    """)
    return write("nested/pipeline.yml", """
        type: pipeline
        outputs:
          final: {type: uri_folder}
        jobs:
          make:
            command: printf '1\\n2\\n' > ${{outputs.numbers}}/n.txt
            outputs:
              numbers:
          quadruple:
            type: pipeline
            component: ./components/twice.yml
            inputs:
              numbers: ${{parent.jobs.make.outputs.numbers}}
          show:
            command: cat ${{inputs.result}}/n.txt
            inputs:
              result: ${{parent.jobs.quadruple.outputs.result}}
            outputs:
              copy: ${{parent.outputs.final}}
    """)


def write_stamp_pipeline(write, log: Path) -> Path:
    """A pipeline whose one step comes from an `is_deterministic: false` component appending `stamp` to `log`."""
    write("nd/stamp.yml", f"""
        type: command
        is_deterministic: false
        command: echo stamp >> {log}
    """)
    return write("nd/pipeline.yml", """
        type: pipeline
        jobs:
          stamp:
            type: command
            component: ./stamp.yml
    """)
