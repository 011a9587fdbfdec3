"""`amlrun check` as a user meets it: valid files pass, garbage never gives a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLES


def test_valid_example_passes(amlrun) -> None:
    result = amlrun("check", "--no-sdk", EXAMPLES / "hello" / "job.yml")
    assert result.code == 0, result.text
    assert result.out == ""
    assert "ok: 1 file valid" in result.err


GARBAGE = {
    "empty.yml": b"",
    "only_comments.yml": b"# nothing here\n",
    "list.yml": b"- type: command\n- command: echo hi\n",
    "scalar.yml": b"just a sentence\n",
    "binary.yml": bytes(range(0, 40)) * 3,
    "latin1.yml": "type: command\ncommand: echo caf\u00e9\n".encode("latin-1"),
    "tabs.yml": b"type: command\n\tcommand: echo\n",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_files_are_reported_not_crashed_on(amlrun, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(GARBAGE[name])
    result = amlrun("check", "--no-sdk", name, cwd=tmp_path)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    first = result.out.splitlines()[0]
    assert first.startswith(f"{name}:") and first.endswith(")"), first


def test_a_folder_and_a_missing_file(amlrun, tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    result = amlrun("check", "--no-sdk", "jobs", "nope.yml", cwd=tmp_path)
    assert result.code == 2 and "Traceback" not in result.text
    assert "jobs:1:1: is a folder, not a file (pass the job or component YAML file inside it)" in result.out
    assert f"nope.yml:1:1: no such file: {tmp_path / 'nope.yml'} (check the spelling and the folder" in result.out
    assert "2 problems found" in result.err


def test_several_files_each_report_their_own_problems(amlrun, write, tmp_path: Path) -> None:
    write("a.yml", "type: command\ncommand: echo ${{inputs.x}}\n")
    write("b.yml", "type: command\ncommand: echo hi\nlimits: {timeout: soon}\n")
    write("ok.yml", "type: command\ncommand: echo hi\n")
    result = amlrun("check", "--no-sdk", "a.yml", "ok.yml", "b.yml", cwd=tmp_path)
    assert result.code == 2
    assert result.out.splitlines() == [
        "a.yml:2:15: command: ${{inputs.x}} names an input that is not declared "
        "(declare it under `inputs:` or fix the name)",
        "b.yml:3:19: limits.timeout: expected an integer, got 'soon' (write a whole number, e.g. `2`)",
    ]


def test_set_overrides_are_checked_too(amlrun, write, tmp_path: Path) -> None:
    write("job.yml", """
        type: command
        command: echo ${{inputs.epochs}}
        inputs:
          epochs:
            type: integer
            default: 3
    """)
    assert amlrun("check", "--no-sdk", "job.yml", "--set", "inputs.epochs=5", cwd=tmp_path).code == 0
    bad = amlrun("check", "--no-sdk", "job.yml", "--set", "inputs.epochs=many", cwd=tmp_path)
    assert bad.code == 2
    assert ("job.yml:6:14: inputs.epochs.default: default of input 'epochs' is not an integer: 'many' "
            "[from --set inputs.epochs=many]") in bad.out


def test_a_component_used_by_a_pipeline_reports_at_its_own_lines_once(amlrun, write, tmp_path: Path) -> None:
    write("components/train.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: train
        version: 1
        command: python train.py --data ${{inputs.dta}}
        inputs:
          data: {type: uri_folder}
    """)
    write("pipeline.yml", """
        type: pipeline
        inputs:
          raw: {type: uri_folder, path: ./components}
        jobs:
          first:
            component: ./components/train.yml
            inputs:
              data: ${{parent.inputs.raw}}
          second:
            component: ./components/train.yml
            inputs:
              data: ${{parent.inputs.raw}}
    """)
    result = amlrun("check", "--no-sdk", "pipeline.yml", "components/train.yml", cwd=tmp_path)
    assert result.code == 2
    assert result.out.splitlines() == [
        "components/train.yml:5:33: command: ${{inputs.dta}} names an input that is not declared "
        "(did you mean 'data'?)",
    ]


def test_a_required_component_input_left_unwired(amlrun, write, tmp_path: Path) -> None:
    write("c.yml", """
        type: command
        version: 1
        command: echo ${{inputs.n}}
        inputs:
          n: {type: integer}
    """)
    write("p.yml", """
        type: pipeline
        jobs:
          s:
            component: ./c.yml
    """)
    result = amlrun("check", "--no-sdk", "p.yml", cwd=tmp_path)
    assert result.code == 2
    assert result.out.startswith("p.yml:3:3: jobs.s.inputs: required input 'n' of the component is not given")


def test_run_refuses_an_invalid_job_with_every_problem_check_lists(amlrun, write, tmp_path: Path) -> None:
    write("bad.yml", """
        type: command
        command: echo ${{inputs.x}}
        limits:
          timeout: soon
    """)
    checked = amlrun("check", "--no-sdk", "bad.yml", cwd=tmp_path)
    ran = amlrun("run", "bad.yml", cwd=tmp_path)
    assert ran.code == 2 and "Traceback" not in ran.text
    assert ran.err.strip().splitlines() == checked.out.strip().splitlines()
    assert len(checked.out.strip().splitlines()) == 2
    assert not (tmp_path / "store" / "runs").exists(), "nothing ran"


def test_an_unknown_field_made_by_set_is_blamed_on_it(amlrun, write, tmp_path: Path) -> None:
    write("job.yml", "type: command\ncommand: echo\n")
    result = amlrun("check", "--no-sdk", "job.yml", "--set", "limitz.timeout=5", cwd=tmp_path)
    assert result.code == 2
    assert "limitz: unknown field 'limitz' [from --set limitz.timeout=5] (did you mean 'limits'?)" in result.out


def test_typos_in_long_form_step_bindings_are_reported_at_their_path(amlrun, write, tmp_path: Path) -> None:
    from pipeline_fixtures import LONG_FORM_PIPELINE

    text = LONG_FORM_PIPELINE.replace("prep.outputs.out}}", "prepp.outputs.out}}", 1)
    text = text.replace("prep.outputs.out}}", "prep.outputs.outt}}").replace("inputs.raw}}", "inputs.rawr}}")
    write("pipeline.yml", text)
    result = amlrun("check", "pipeline.yml", cwd=tmp_path)
    assert result.code == 2
    assert result.out.splitlines() == [
        "pipeline.yml:10:15: jobs.use.inputs.data.path: ${{parent.jobs.prepp.outputs.out}}: "
        "there is no step 'prepp' in this pipeline (did you mean 'prep'?)",
        "pipeline.yml:13:15: jobs.use.inputs.where.path: ${{parent.jobs.prep.outputs.outt}}: "
        "step 'prep' has no output 'outt' (did you mean 'out'?)",
        "pipeline.yml:20:15: jobs.prep.inputs.src.path: ${{parent.inputs.rawr}}: "
        "the pipeline has no input 'rawr' (did you mean 'raw'?)",
    ]
