"""The spec layer reads what real AzureML v2 files use into typed models, positions included."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from amlrun.errors import SpecError, UsageError
from amlrun.spec.check import check_file
from amlrun.spec.loader import load_job
from amlrun.spec.overrides import apply_overrides, parse_override
from amlrun.spec.source import read_yaml

FULL_JOB = """
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: full_job
display_name: Full job
experiment_name: exp
description: every field real files use
tags: {team: ml, stage: dev}
compute: azureml:cpu-cluster
code: ./src
command: |
  python train.py
  --data ${{inputs.data}} --lr ${{inputs.lr}}
  $[[--seed ${{inputs.seed}}]]
  --model ${{outputs.model}} --run ${{name}} --ds ${{default_datastore}}
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
  conda_file: ./conda.yml
environment_variables:
  DEBUG: "1"
  RETRIES: 3
inputs:
  data:
    type: uri_folder
    path: ./data
    mode: download
  table: {type: mltable, path: ./data, mode: eval_mount}
  file: {type: uri_file, path: ./data/a.csv, mode: ro_mount}
  model_in: {type: mlflow_model, path: ./data}
  custom: {type: custom_model, path: ./data, mode: direct}
  lr: 0.01
  epochs: 3
  name_s: text
  flag: false
outputs:
  model:
    type: mlflow_model
    mode: upload
  folder:
    type: uri_folder
    mode: rw_mount
    path: azureml://datastores/workspaceblobstore/paths/out/
limits:
  timeout: 3600
resources:
  instance_count: 2
  instance_type: Standard_DS3_v2
  shm_size: 8g
distribution:
  type: pytorch
  process_count_per_instance: 2
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n1\n")
    (tmp_path / "conda.yml").write_text("dependencies: [python=3.11]\n")
    return tmp_path


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_a_job_with_every_field_real_files_use_is_valid(project: Path) -> None:
    job_file = _write(project, "job.yml", FULL_JOB)
    assert check_file(job_file, []) == []
    job = load_job(job_file).job
    assert job.command.startswith("python train.py\n--data ${{inputs.data}}")
    assert job.inputs["data"].mode == "download" and job.inputs["table"].type == "mltable"
    assert job.inputs["lr"].value == 0.01 and job.inputs["flag"].value is False
    assert job.outputs["model"].type == "mlflow_model" and job.outputs["model"].mode == "upload"
    assert job.environment.image.startswith("mcr.") and job.environment.conda_file == "./conda.yml"
    assert job.limits.timeout == 3600 and job.resources.instance_count == 2
    assert job.distribution["type"] == "pytorch" and job.tags == {"team": "ml", "stage": "dev"}


@pytest.mark.parametrize("environment", [
    "azureml:AzureML-sklearn-1.5:3",
    "azureml:AzureML-sklearn-1.5@latest",
    "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
    "{build: {path: ./src}}",
    "{image: python:3.11-slim}",
])
def test_environment_forms(project: Path, environment: str) -> None:
    job_file = _write(project, "env.yml", f"type: command\ncommand: echo\nenvironment: {environment}\n")
    assert check_file(job_file, []) == []


def test_pipeline_with_component_file_inline_steps_and_parallel_loads(project: Path) -> None:
    (project / "src" / "score.py").write_text("def init(): pass\ndef run(b): return b\n")
    _write(project, "components/train.yml", """
        type: command
        name: train
        version: 1
        code: ../src
        command: python train.py --data ${{inputs.data}} --out ${{outputs.model}}
        inputs:
          data: {type: uri_folder}
        outputs:
          model: {type: uri_folder}
    """)
    pipeline = _write(project, "pipeline.yml", """
        type: pipeline
        inputs:
          raw: {type: uri_folder, path: ./data}
        outputs:
          final: {type: uri_folder}
        settings:
          default_compute: azureml:cpu
          continue_on_step_failure: true
        jobs:
          train:
            component: ./components/train.yml
            inputs:
              data: ${{parent.inputs.raw}}
            outputs:
              model: ${{parent.outputs.final}}
          inline:
            component:
              type: command
              command: echo ${{inputs.m}}
              inputs:
                m: {type: uri_folder}
            inputs:
              m: ${{parent.jobs.train.outputs.model}}
          score:
            type: parallel
            inputs:
              data: ${{parent.jobs.train.outputs.model}}
            outputs:
              scores: {type: uri_folder}
            input_data: ${{inputs.data}}
            mini_batch_size: "10kb"
            error_threshold: -1
            retry_settings: {max_retries: 2, timeout: 60}
            task:
              type: run_function
              code: ./src
              entry_script: score.py
              program_arguments: --verbose
              append_row_to: ${{outputs.scores}}
    """)
    assert check_file(pipeline, []) == []
    root = load_job(pipeline)
    assert {name: child.kind for name, child in root.children.items()} == {
        "train": "command", "inline": "command", "score": "parallel"}
    assert root.children["train"].definition_source.path.name == "train.yml"
    assert root.children["inline"].definition_path == ("jobs", "inline", "component")


def test_problems_in_an_inline_component_point_into_it(project: Path) -> None:
    pipeline = _write(project, "p.yml", """
        type: pipeline
        jobs:
          step:
            component:
              type: command
              command: echo ${{inputs.missing}}
    """)
    [problem] = check_file(pipeline, [])
    assert (problem.line, problem.col, problem.field) == (6, 21, "jobs.step.component.command")


def test_a_component_file_alone_is_checked_as_a_component(project: Path) -> None:
    component = _write(project, "c.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        name: Train-Model
        version: 1
        type: command
        command: echo ${{inputs.path}}
        inputs:
          path: {type: uri_folder}
    """)
    problems = {(p.line, p.field): p.message for p in check_file(component, [])}
    assert problems == {
        (2, "name"): "component name 'Train-Model' is not valid in AzureML",
        (7, "inputs.path"): "input name 'path' is reserved by AzureML",
    }


def test_overrides_follow_az_ml_set_syntax() -> None:
    assert parse_override("inputs.epochs=3") == ("inputs.epochs", 3)
    assert parse_override("inputs.lr=0.5") == ("inputs.lr", 0.5)
    assert parse_override("environment_variables.DEBUG=yes") == ("environment_variables.DEBUG", "yes")
    assert parse_override("inputs.flag=true") == ("inputs.flag", True)
    assert parse_override("display_name='a = b'") == ("display_name", "a = b")
    with pytest.raises(UsageError):
        parse_override("inputs.epochs")
    with pytest.raises(UsageError):
        parse_override("inputs..x=1")
    data = {"inputs": {"data": {"type": "uri_folder", "path": "./a"}, "n": {"type": "integer", "default": 1}}}
    out = apply_overrides(data, [parse_override("inputs.data=./b"), parse_override("inputs.n=2"),
                                 parse_override("limits.timeout=60")])
    assert out["inputs"]["data"] == {"type": "uri_folder", "path": "./b"}, "type and mode are kept"
    assert out["inputs"]["n"] == {"type": "integer", "default": 2}
    assert out["limits"] == {"timeout": 60}
    assert data["inputs"]["n"]["default"] == 1, "the original is not modified"


def test_positions_of_keys_values_and_text_inside_block_scalars(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yml", """
        type: command
        command: >-
          python a.py
          --x ${{inputs.x}}
        inputs:
          x:
            type: integer
    """)
    smap = read_yaml(path).source_map
    assert smap.locate(("inputs", "x", "type")) == (7, 5)
    assert smap.problem(("inputs", "x", "type"), "m", at_value=True).col == 11
    assert smap.locate_text(("command",), "${{inputs.x}}") == (4, 7)
    assert smap.problem(("inputs", "x", "nope"), "m").line == 6, "a missing field points at its parent"


def test_strict_loading_raises_every_problem(project: Path) -> None:
    job_file = _write(project, "bad.yml", "type: command\ncommand: echo\nlimits: {timeout: x}\ncolor: 1\n")
    with pytest.raises(SpecError) as caught:
        load_job(job_file)
    assert [p.field for p in caught.value.problems] == ["limits.timeout", "color"]


def test_unknown_field_hints_only_suggest_fields_valid_at_that_place(tmp_path: Path) -> None:
    job_file = _write(tmp_path, "p.yml", """
        type: pipeline
        defaults: {}
        jobs:
          score:
            type: parallel
            task:
              entry_scrip: score.py
            resources:
              gpus: 1
    """)
    hints = {p.field: p.hint for p in check_file(job_file, [])}
    assert not hints["defaults"].startswith("did you mean"), "`default` is an input's field, not a job's"
    assert hints["jobs.score.task.entry_scrip"] == "did you mean 'entry_script'?"
    assert hints["jobs.score.resources.gpus"].startswith("remove it; fields here: instance_count, instance_type")


def test_numeric_ranges_and_remote_code_in_components(tmp_path: Path) -> None:
    _write(tmp_path, "c.yml", """
        type: command
        name: c
        version: 1
        code: azureml:my-code:3
        command: echo ${{inputs.ratio}} ${{inputs.n}}
        inputs:
          ratio: {type: number, min: 0, max: 1}
          n: {type: integer, min: 1}
    """)
    pipeline = _write(tmp_path, "p.yml", """
        type: pipeline
        jobs:
          s:
            component: ./c.yml
            inputs:
              ratio: 1.5
              n: 0
    """)
    problems = [(p.line, p.message, p.hint) for p in check_file(pipeline, [])]
    assert problems == [
        (6, "input 'ratio' is 1.5, outside its declared range", "give a value between 0 and 1"),
        (7, "input 'n' is 0, outside its declared range", "give a value between 1 and inf"),
    ]


@pytest.mark.parametrize(("line", "hint"), [
    ('command: echo "lines: $(cat ${{inputs.n}})"', "a value holding `: ` must be quoted whole, or written as a block"),
    ("inputs: {data: {type: uri_folder, path: ${{parent.inputs.x}}}}", "inside { } or [ ], quote a value holding"),
])
def test_a_yaml_syntax_error_gets_the_hint_for_its_cause(tmp_path: Path, line: str, hint: str) -> None:
    path = tmp_path / "job.yml"
    path.write_text(f"{line}\nenvironment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n")
    with pytest.raises(SpecError) as caught:
        read_yaml(path)
    assert [p.hint for p in caught.value.problems if hint in p.hint], caught.value.problems
