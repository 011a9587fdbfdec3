"""A command job's ./outputs and ./logs are its artifacts, as on AzureML: they exist before the command
starts, are kept with the run (`show` lists them), and a pipeline step exposes them as `artifacts`."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path("datastores") / "workspaceartifactstore" / "ExperimentRun"


def test_a_step_reads_the_artifacts_of_the_step_before_it(amlrun, write, store: Path) -> None:
    job = write("proj/default_artifacts.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        display_name: default_artifacts
        jobs:
          hello_job:
            command: echo "hello" && echo "world" > ./outputs/world.txt && echo "step 1" > ./logs/progress.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            compute: azureml:cpu-cluster
            outputs:
              artifacts:
          world_job:
            command: cat ${{inputs.world_input}}/outputs/world.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            compute: azureml:cpu-cluster
            inputs:
              world_input: ${{parent.jobs.hello_job.outputs.artifacts}}
    """)
    first = amlrun("run", job, "--name", "art1")
    assert first.code == 0, first.text
    assert "world_job | world" in first.out
    folder = store / ARTIFACTS / "dcid.art1_hello_job"
    assert (folder / "outputs" / "world.txt").read_text() == "world\n"
    assert (folder / "logs" / "progress.txt").read_text() == "step 1\n"
    shown = amlrun("show", "art1", "--step", "hello_job").out
    assert f"artifacts: {folder} (2 files)" in shown
    assert "outputs/world.txt" in shown and "logs/progress.txt" in shown

    again = amlrun("run", job, "--name", "art2")  # reused: the artifacts bound are the first run's
    assert again.code == 0, again.text
    assert "Reused" in again.err
    assert not (store / ARTIFACTS / "dcid.art2_hello_job" / "outputs" / "world.txt").exists()


def test_a_command_job_writes_outputs_and_logs_and_keeps_them_even_when_it_fails(amlrun, write, store: Path) -> None:
    write("proj/src/train.py", """
        import pickle, sys
        with open("outputs/model.pkl", "wb") as f:
            pickle.dump({"weights": [1, 2, 3]}, f)
        open("./logs/metrics.txt", "w").write("loss 0.1\\n")
        sys.exit(int(sys.argv[1]))
    """)
    job = write("proj/train.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        type: command
        code: ./src
        command: python train.py ${{inputs.fail}}
        inputs:
          fail: 0
        environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
    """)
    ok = amlrun("run", job, "--name", "train_ok")
    assert ok.code == 0, ok.text
    model = store / ARTIFACTS / "dcid.train_ok" / "outputs" / "model.pkl"
    assert model.is_file()
    assert "outputs/model.pkl" in amlrun("show", "train_ok").out
    assert not (job.parent / "src" / "outputs").exists()  # the user's code folder is never written

    failed = amlrun("run", job, "--name", "train_bad", "--set", "inputs.fail=3")
    assert failed.code != 0
    assert (store / ARTIFACTS / "dcid.train_bad" / "logs" / "metrics.txt").read_text() == "loss 0.1\n"
    assert "logs/metrics.txt" in amlrun("show", "train_bad").out


def test_the_artifacts_output_binds_whether_the_step_declares_it_or_not(amlrun, write, store: Path) -> None:
    """AzureML gives every command step its artifacts output, as `artifacts` or `default` (azure-ai-ml's
    name), declared or not; azure-ai-ml only needs a type for the input that binds it."""
    write("proj/components/writer.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: writer
        command: echo "from the component" > ./outputs/note.txt
        environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    """)
    write("proj/components/reader.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: reader
        inputs:
          folder: {type: uri_folder}
        command: cat ${{inputs.folder}}/outputs/*.txt
        environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    """)
    job = write("proj/undeclared_artifacts.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        jobs:
          hello_job:
            command: echo "world" > ./outputs/world.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
          component_job:
            component: ./components/writer.yml
          read_component:
            component: ./components/reader.yml
            inputs:
              folder: ${{parent.jobs.component_job.outputs.artifacts}}
          read_default:
            command: cat ${{inputs.world}}/outputs/world.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            inputs:
              world:
                type: uri_folder
                path: ${{parent.jobs.hello_job.outputs.default}}
    """)
    checked = amlrun("check", "--no-sdk", job)
    assert checked.code == 0, checked.text
    result = amlrun("run", job, "--name", "undeclared")
    assert result.code == 0, result.text
    assert "read_component | from the component" in result.out
    assert "read_default | world" in result.out


def test_an_untyped_inline_input_on_an_undeclared_artifacts_output_says_what_to_declare(amlrun, write) -> None:
    job = write("proj/untyped.yml", """
        type: pipeline
        jobs:
          hello_job:
            command: echo "world" > ./outputs/world.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
          world_job:
            command: cat ${{inputs.world_input}}/outputs/world.txt
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            inputs:
              world_input: ${{parent.jobs.hello_job.outputs.artifacts}}
    """)
    result = amlrun("check", "--no-sdk", job)
    assert result.code != 0
    assert "untyped.yml:10:" in result.text
    assert "step 'hello_job' does not declare its default output 'artifacts'" in result.text
    assert "add `outputs:` with an empty `artifacts:` to step 'hello_job'" in result.text
