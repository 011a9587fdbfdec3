"""`amlrun.run(...)` and the pytest plugin's `amlrun_runner` fixture, as a user's test suite uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import amlrun

PIPELINE = """
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
inputs:
  epochs: 2
outputs:
  model: {type: uri_folder}
jobs:
  prep:
    type: command
    command: python -c "import sys, pathlib; pathlib.Path(sys.argv[1], 'rows.txt').write_text('a\\nb\\nc\\n')" ${{outputs.data}}
    outputs:
      data: {type: uri_folder}
  train:
    type: command
    inputs:
      data: ${{parent.jobs.prep.outputs.data}}
      epochs: ${{parent.inputs.epochs}}
    outputs:
      model: ${{parent.outputs.model}}
    command: >-
      python -c "import sys, pathlib; rows = pathlib.Path(sys.argv[1], 'rows.txt').read_text().split();
      epochs = int(sys.argv[2]); print('epochs', epochs);
      assert epochs < 9, 'too many epochs for this data';
      pathlib.Path(sys.argv[3], 'model.pkl').write_text(str(len(rows) * epochs))"
      ${{inputs.data}} ${{inputs.epochs}} ${{outputs.model}}
"""


@pytest.fixture
def pipeline(write) -> Path:
    return write("project/pipeline.yml", PIPELINE)


def test_the_fixture_runs_a_two_step_pipeline_in_its_own_store(amlrun_runner, pipeline: Path, tmp_path: Path) -> None:
    result = amlrun_runner(pipeline, set={"inputs.epochs": 3}, env="host")
    assert result.status == "Completed" and result.ok
    assert (result.outputs["model"] / "model.pkl").read_text() == "9"
    assert result.steps["train"].status == "Completed"
    assert result.steps["prep"].outputs["data"].joinpath("rows.txt").is_file()
    assert "epochs 3" in result.steps["train"].log.read_text()
    assert result.steps["train"].duration is not None and result.steps["train"].duration > 0
    assert result.store == amlrun_runner.store == tmp_path / "amlrun-store"
    assert result.folder == tmp_path / "amlrun-store" / "runs" / result.name
    assert not (pipeline.parent / ".amlrun").exists()  # nothing written beside the user's files
    assert json.loads((result.folder / "record.json").read_text())["extra"]["env_mode"] == "host"
    assert "interpreter" in result.steps["train"].environment

    again = amlrun_runner(pipeline, set={"inputs.epochs": 3}, step="train")
    assert again.steps["train"].reused and again.steps["train"].reused_from == result.steps["train"].run_name
    assert again.steps["train"].duration is None


def test_a_failed_run_raises_one_error_with_the_step_log_tail(amlrun_runner, pipeline: Path) -> None:
    with pytest.raises(amlrun.RunFailed) as caught:
        amlrun_runner(pipeline, set={"inputs.epochs": 10}, quiet=True)
    error = caught.value
    assert error.step is not None and error.step.name == "train"
    assert "AssertionError: too many epochs for this data" in error.log_tail
    assert str(error).startswith(f"run {error.result.name} Failed: step train Failed: command exited with code 1")
    assert "too many epochs" in error.render()

    result = amlrun_runner(pipeline, set={"inputs.epochs": 10}, raise_on_failure=False, quiet=True)
    assert result.status == "Failed" and not result.ok
    assert [s.name for s in result.failed_steps()] == ["train"]
    assert result.steps["prep"].status == "Reused"


def test_library_run_checks_its_arguments(pipeline: Path, tmp_path: Path) -> None:
    from amlrun.errors import SpecError, UsageError

    with pytest.raises(UsageError, match="env='docker' is not an environment mode"):
        amlrun.run(pipeline, store=tmp_path, env="docker")
    with pytest.raises(UsageError, match="max_workers=0 must be a positive integer"):
        amlrun.run(pipeline, store=tmp_path, max_workers=0)
    with pytest.raises(SpecError) as caught:
        amlrun.run(pipeline, store=tmp_path, set={"jobs.train.inputs.data": "${{parent.jobs.nope.outputs.data}}"},
                   quiet=True)
    assert "nope" in caught.value.render()
    with pytest.raises(UsageError, match="has no step 'trian'; did you mean 'train'"):
        amlrun.run(pipeline, store=tmp_path, step="trian", quiet=True)
