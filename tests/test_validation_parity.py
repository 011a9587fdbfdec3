"""What AzureML accepts, amlrun accepts: steps only the service runs, registered components, and the
fields amlrun used to be stricter on. Job files are shaped like the public azureml-examples ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC

SPARK_PIPELINE = """
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
description: 'a pipeline with a spark step'
inputs:
  iris_data:
    type: uri_file
    path: ./data/iris.csv
    mode: direct
jobs:
  prep:
    type: command
    command: cp ${{inputs.raw}} ${{outputs.clean}}/iris.csv
    inputs:
      raw: ${{parent.inputs.iris_data}}
    outputs:
      clean: {type: uri_folder}
  add_greeting_columns:
    type: spark
    inputs:
      file_input: ${{parent.jobs.prep.outputs.clean}}
    code: ./src
    entry:
      file: add_greeting_column.py
    py_files:
      - utils.zip
    args: >-
      --file_input ${{inputs.file_input}}
    resources:
      instance_type: Standard_E8S_V3
      runtime_version: 3.4.0
    conf:
      spark.driver.cores: 2
      spark.executor.instances: 1
  report:
    type: command
    command: ls ${{inputs.greeted}}
    inputs:
      greeted: ${{parent.jobs.add_greeting_columns.outputs.greeted}}
  count_lines:
    type: command
    command: wc -l ${{inputs.raw}} > ${{outputs.counts}}/n.txt
    inputs:
      raw: ${{parent.inputs.iris_data}}
    outputs:
      counts: {type: uri_folder}
"""

SWEEP_JOB = """
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  command: >-
    python hello-sweep.py --A ${{inputs.A}} --B ${{search_space.B}}
  code: src
  environment: azureml:AzureML-sklearn-1.5@latest
inputs:
  A: 0.5
sampling_algorithm: random
search_space:
  B:
    type: choice
    values: ["hello", "world"]
objective:
  goal: minimize
  primary_metric: random_metric
limits:
  max_total_trials: 4
  max_concurrent_trials: 2
"""

REGISTERED_PIPELINE = """
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: registered_components
inputs:
  max_epocs: 20
outputs:
  trained_model:
    mode: upload
settings:
  default_compute: azureml:cpu-cluster
jobs:
  train_job:
    type: command
    component: azureml:my_train@latest
    inputs:
      training_data:
        type: uri_folder
        path: ./data
      max_epocs: ${{parent.inputs.max_epocs}}
    outputs:
      model_output: ${{parent.outputs.trained_model}}
"""

TRAIN_COMPONENT = """
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: my_train
version: 1
type: command
inputs:
  training_data: {type: uri_folder}
  max_epocs: {type: integer}
outputs:
  model_output: {type: uri_folder}
code: ./train_src
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
command: >-
  ls ${{inputs.training_data}} > ${{outputs.model_output}}/seen.txt &&
  echo epochs=${{inputs.max_epocs}} >> ${{outputs.model_output}}/seen.txt
"""


@pytest.fixture
def spark_pipeline(write, tmp_path: Path) -> Path:
    write("data/iris.csv", "sepal_length,species\n5.1,setosa\n")
    write("src/add_greeting_column.py", "print('hi')\n")
    return write("pipeline.yml", SPARK_PIPELINE)


def test_spark_step_passes_check_with_a_note(amlrun, spark_pipeline: Path) -> None:
    result = amlrun("check", "--no-sdk", spark_pipeline)
    assert result.code == 0, result.text
    (note,) = [line for line in result.err.splitlines() if line.startswith("note:")]
    assert "pipeline.yml:" in note and "add_greeting_columns" in note and "runs on AzureML only" in note
    assert "unknown" not in result.text


def test_run_refuses_cloud_only_steps_up_front_and_step_runs_the_rest(amlrun, spark_pipeline: Path,
                                                                       store: Path) -> None:
    refused = amlrun("run", spark_pipeline)
    assert refused.code == 2, refused.text
    assert "'add_greeting_columns' is a spark step" in refused.err
    assert "--step" in refused.err and "amlrun submit" in refused.err
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())  # nothing started

    rest = amlrun("run", spark_pipeline, "--step", "count_lines")
    assert rest.code == 0, rest.text
    downstream = amlrun("run", spark_pipeline, "--step", "report")
    assert downstream.code == 2
    assert "needs step 'add_greeting_columns'" in downstream.err and "spark" in downstream.err


def test_standalone_sweep_job_checks_with_note_and_run_says_submit(amlrun, write) -> None:
    write("src/hello-sweep.py", "print('trial')\n")
    job = write("hello-sweep.yml", SWEEP_JOB)
    checked = amlrun("check", "--no-sdk", job)
    assert checked.code == 0, checked.text
    assert "a sweep job runs on AzureML only" in checked.err
    refused = amlrun("run", job)
    assert refused.code == 2
    assert "sweep job runs on AzureML only" in refused.err and "amlrun submit" in refused.err


def test_registered_component_passes_check_and_runs_once_mapped(amlrun, write, tmp_path: Path) -> None:
    write("data/a.txt", "a\n")
    pipeline = write("pipeline.yml", REGISTERED_PIPELINE)
    checked = amlrun("check", "--no-sdk", pipeline)
    assert checked.code == 0, checked.text
    assert "registered component 'azureml:my_train@latest'" in checked.err and "components:" in checked.err

    refused = amlrun("run", pipeline)
    assert refused.code == 2
    assert "train_job" in refused.err and "azureml:my_train@latest" in refused.err
    assert "components:" in refused.err and "amlrun.yaml" in refused.err

    write("components/train.yml", TRAIN_COMPONENT)
    write("components/train_src/.keep", "")
    write("amlrun.yaml", "components:\n  azureml:my_train@latest: ./components/train.yml\n")
    ran = amlrun("run", pipeline)
    assert ran.code == 0, ran.text
    (seen,) = (tmp_path / "store").rglob("seen.txt")
    assert seen.read_text() == "a.txt\nepochs=20\n"


def test_prompt_flow_component_gets_one_line(amlrun, write) -> None:
    write("basic/flow.dag.yaml", """
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
        inputs:
          text: {type: string, default: Hello World!}
        outputs:
          output_prompt:
            type: string
            reference: ${hello_prompt.output}
        nodes:
        - name: hello_prompt
          type: prompt
          source: {type: code, path: hello.jinja2}
          inputs:
            text: ${inputs.text}
        """)
    write("data/data.jsonl", '{"text": "hi"}\n')
    pipeline = write("pipeline.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        inputs:
          flow_input: {type: uri_file, path: ./data/data.jsonl}
        jobs:
          flow_node_from_dag:
            type: parallel
            component: ./basic/flow.dag.yaml
            inputs:
              data: ${{parent.inputs.flow_input}}
              text: "${data.text}"
        """)
    checked = amlrun("check", "--no-sdk", pipeline)
    assert checked.code == 0, checked.text
    assert checked.err.count("note:") == 1
    assert "prompt flow component" in checked.err and "command" not in checked.err


def test_fields_the_service_accepts(amlrun, write) -> None:
    """`version: 1` of an inline environment, a hyphenated name of a component used inline."""
    write("src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    write("r_component/component.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: r-iris-example
        display_name: R Iris Example
        inputs:
          iris: {type: uri_file}
        outputs:
          output_folder: {type: uri_folder}
        code: ./src
        environment:
          build: {path: docker-context}
        command: Rscript iris.R --data_file ${{inputs.iris}} --output_folder ${{outputs.output_folder}}
        """)
    write("r_component/src/iris.R", "print(1)\n")
    write("data/iris.csv", "a\n1\n")
    pipeline = write("pipeline.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        inputs:
          input_data: {type: uri_folder, path: ./data}
        jobs:
          r_step:
            type: command
            component: ./r_component/component.yml
            inputs:
              iris: {type: uri_file, path: ./data/iris.csv}
          batch_prediction:
            type: parallel
            compute: azureml:cpu-cluster
            inputs:
              job_data_path: ${{parent.inputs.input_data}}
            outputs:
              job_output_path: {type: uri_file, mode: rw_mount}
            input_data: ${{inputs.job_data_path}}
            mini_batch_size: "10"
            task:
              type: run_function
              code: ./src
              entry_script: score.py
              environment:
                name: "prs-env"
                version: 1
                image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
                conda_file: ./environment_parallel.yml
              append_row_to: ${{outputs.job_output_path}}
        """)
    checked = amlrun("check", "--no-sdk", pipeline)
    assert checked.code == 0, checked.text


def test_stricter_and_right_cases_say_azureml_would_refuse(amlrun, write) -> None:
    write("transform/entry.spec.yaml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: init_image_transformation
        inputs:
          center_crop:
            type: string
            default: "False"
            enum: ['True', 'False']
        outputs:
          output_path: {type: uri_folder}
        command: echo ${{inputs.center_crop}} > ${{outputs.output_path}}/x
        """)
    pipeline = write("pipeline.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        jobs:
          init_transformation:
            type: command
            component: ./transform/entry.spec.yaml
            inputs:
              center_crop: 224
              test_split_ratio: 0.2
        """)
    checked = amlrun("check", "--no-sdk", pipeline)
    assert checked.code == 2
    lines = [line for line in checked.out.splitlines() if "pipeline.yml:" in line]
    assert len(lines) == 2 and all("AzureML would refuse this at run time" in line for line in lines), lines


def test_an_invalid_step_type_lists_no_python_none(amlrun, write) -> None:
    write("c.yml", "type: command\ncommand: echo hi\n")
    pipeline = write("pipeline.yml", """
        type: pipeline
        jobs:
          a:
            type: comand
            component: ./c.yml
        """)
    checked = amlrun("check", "--no-sdk", pipeline)
    assert checked.code == 2
    assert "allowed: command, parallel, pipeline" in checked.out and "None" not in checked.out


def test_missing_azureml_input_names_the_datastore_folder(amlrun, write, store: Path) -> None:
    job = write("hello-iris-datastore-file.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: echo "--iris-csv ${{inputs.iris_csv}}"
        inputs:
          iris_csv:
            type: uri_file
            path: azureml://datastores/workspaceblobstore/paths/example-data/iris.csv
        environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
        """)
    result = amlrun("run", job)
    assert result.code == 1
    assert "is not in datastore 'workspaceblobstore'" in result.err
    assert str(store / "datastores" / "workspaceblobstore") in result.err
    assert "relative to the YAML file" not in result.err


def _check_with_sdk(file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`amlrun check` with the SDK, recording which modules the process imported."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "amlrun", "check", str(file), *extra],
                          cwd=file.parent, env=env, capture_output=True, text=True, timeout=300)


def test_sdk_verdict_is_cached_by_content_overrides_and_component_files(write, tmp_path: Path) -> None:
    pytest.importorskip("azure.ai.ml", reason="azure-ai-ml is not installed")
    component = write("train.yml", TRAIN_COMPONENT.replace("name: my_train", "name: train"))
    write("train_src/.keep", "")
    write("data/a.txt", "a\n")
    pipeline = write("pipeline.yml", REGISTERED_PIPELINE.replace("azureml:my_train@latest", "./train.yml"))

    first = _check_with_sdk(pipeline)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "azure.ai.ml" in first.stderr
    assert list((tmp_path / "user-cache" / "sdk-verdicts").glob("*.json"))

    again = _check_with_sdk(pipeline)
    assert again.returncode == 0 and "ok: 1 file valid" in again.stderr
    assert "azure.ai.ml" not in again.stderr  # answered from the cache

    assert "azure.ai.ml" in _check_with_sdk(pipeline, "--set", "inputs.max_epocs=3").stderr
    component.write_text(component.read_text().replace("echo epochs", "echo epochs:"))
    assert "azure.ai.ml" in _check_with_sdk(pipeline).stderr  # a component file changed


def test_public_blob_input_passes_check_with_a_note_on_running_it_here(amlrun, write) -> None:
    """AzureML reads the examples' public container; only a local run needs it declared."""
    write("src/hello-iris.py", "print('iris')\n")
    job = write("hello-iris-file.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: |
          echo "--iris-csv: ${{inputs.iris_csv}}"
          python hello-iris.py --iris-csv ${{inputs.iris_csv}}
        code: src
        inputs:
          iris_csv:
            type: uri_file
            path: https://azuremlexamples.blob.core.windows.net/datasets/iris.csv
        environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
        """)
    checked = amlrun("check", "--no-sdk", job)
    assert checked.code == 0, checked.text
    (note,) = [line for line in checked.err.splitlines() if line.startswith("note:")]
    assert "hello-iris-file.yml:" in note and "AzureML resolves this" in note and "credential: anonymous" in note


def test_standalone_automl_job_with_a_task_passes_check(amlrun, write) -> None:
    """An automl job's `task: classification` is the service's field, not a parallel task."""
    job = write("hello-automl-job-basic.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/autoMLJob.schema.json
        type: automl
        experiment_name: dpv2-cli-automl-classifier-experiment
        compute: azureml:cpu-cluster
        task: classification
        primary_metric: accuracy
        log_verbosity: debug
        limits:
          timeout_minutes: 90
          max_trials: 5
        target_column_name: "y"
        training_data:
          path: "./training-mltable-folder"
          type: mltable
        featurization:
          mode: "auto"
        """)
    checked = amlrun("check", "--no-sdk", job)
    assert checked.code == 0, checked.text
    assert "an automl job runs on AzureML only" in checked.err
