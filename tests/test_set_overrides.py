"""`--set` through a scalar or a list is refused, as `az ml job create --set` refuses it, by every command."""

from __future__ import annotations

from pathlib import Path

import pytest

JOB = """
    type: pipeline
    inputs:
      raw: {type: uri_folder, path: ./raw}
    jobs:
      prep:
        type: command
        command: echo ${{inputs.epochs}} ${{inputs.src}}
        inputs:
          epochs: 3
          src: ${{parent.inputs.raw}}
        limits:
          timeout: 30
"""


@pytest.mark.parametrize("command", [("run",), ("check",), ("submit",)])
def test_every_command_refuses_a_set_through_a_scalar_the_same_way(amlrun, write, tmp_path: Path,
                                                                   command: tuple[str, ...]) -> None:
    write("job.yml", JOB)
    result = amlrun(*command, "job.yml", "--set", "jobs.prep.limits.timeout.seconds=5", cwd=tmp_path)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    assert result.err.splitlines() == [
        "error: --set jobs.prep.limits.timeout.seconds=5: `jobs.prep.limits.timeout` is 30 (an integer) "
        "at job.yml:12:16, not a mapping, so it has no field 'seconds'",
        "hint: set `jobs.prep.limits.timeout` itself (`--set jobs.prep.limits.timeout=5`) or fix the path "
        "(as with `az ml job create --set`, fields can only be set inside mappings)",
    ]
    assert not (tmp_path / "store" / "runs").exists(), "nothing ran"


def test_a_mode_for_a_short_form_input_says_how_to_write_the_mapping(amlrun, write, tmp_path: Path) -> None:
    write("job.yml", JOB)
    result = amlrun("check", "--no-sdk", "job.yml", "--set", "jobs.prep.inputs.src.mode=download", cwd=tmp_path)
    assert result.code == 2
    assert ("`jobs.prep.inputs.src` is '${{parent.inputs.raw}}' (a string) at job.yml:10:12, not a mapping, "
            "so it has no field 'mode'") in result.err
    assert 'write `src` as a mapping in the file, `src: {path: "${{parent.inputs.raw}}", mode: download}`' \
        in result.err
    literal = amlrun("check", "--no-sdk", "job.yml", "--set", "jobs.prep.inputs.epochs.value=5", cwd=tmp_path)
    assert literal.code == 2 and "`--set jobs.prep.inputs.epochs=5`" in literal.err


def test_a_list_is_not_indexed_and_a_mapping_still_is_reached(amlrun, write, tmp_path: Path) -> None:
    write("job.yml", """
        type: command
        command: echo ${{inputs.data}}
        inputs:
          data: {type: uri_folder, path: ./a}
        tags: {owners: [ann, bob]}
    """)
    (tmp_path / "b").mkdir()
    listed = amlrun("check", "--no-sdk", "job.yml", "--set", "tags.owners.0=cid", cwd=tmp_path)
    assert listed.code == 2
    assert "`tags.owners` is a list (2 items) at job.yml:5:16, not a mapping, so it has no field '0'" in listed.err
    assert "`--set 'tags.owners=[...]'`" in listed.err
    # a typed input mapping keeps its special case: a scalar sets its path
    assert amlrun("check", "--no-sdk", "job.yml", "--set", "inputs.data=./b", cwd=tmp_path).code == 0
    assert amlrun("check", "--no-sdk", "job.yml", "--set", "inputs.data.mode=download", cwd=tmp_path).code == 0


def test_a_set_that_adds_a_near_twin_of_an_existing_field_gets_a_note_and_still_applies(amlrun, write,
                                                                                        tmp_path: Path) -> None:
    write("job.yml", "type: command\ncommand: echo epochs=${{inputs.epochs}}\ninputs:\n  epochs: 3\n")
    typo = amlrun("run", "job.yml", "--set", "inputs.epoch=5", cwd=tmp_path)
    assert typo.code == 0 and typo.out == "epochs=3\n"  # the job read what it always read...
    assert "note: --set inputs.epoch: the file has no `inputs.epoch`, so it is added; did you mean " \
           "`inputs.epochs`?" in typo.err  # ...and the user is told why
    meant = amlrun("run", "job.yml", "--set", "inputs.epochs=5", "--set", "environment_variables.DEBUG=1", cwd=tmp_path)
    assert meant.code == 0 and meant.out == "epochs=5\n" and "note:" not in meant.err
    checked = amlrun("check", "--no-sdk", "job.yml", "--set", "inputs.epoch=5", cwd=tmp_path)
    assert checked.code == 0 and "did you mean `inputs.epochs`?" in checked.err
