"""`amlrun submit --dry-run`: the exact body, the code snapshot, warnings, and no network at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlrun.azureml.submit import SubmitRequest, submit_job
from amlrun.errors import SpecError, UsageError
from amlrun.spec.overrides import parse_override
from submit_fixtures import EXAMPLES_ROOT, QUIET_SDK, block_network, example_jobs

pytestmark = QUIET_SDK


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every dry run in this module runs with sockets refusing to connect, and must not try."""
    attempts = block_network(monkeypatch)
    yield
    assert attempts == [], f"a dry run tried to reach {attempts}"


def dry_run(file: Path, *sets: str, monkeypatch=None, **options):
    out: list[str] = []
    err: list[str] = []
    request = SubmitRequest(file=file, overrides=[parse_override(s) for s in sets], dry_run=True, **options)
    result = submit_job(request, out=out.append, err=err.append)
    return result, "\n".join(out), "\n".join(err)


@pytest.mark.parametrize("job", example_jobs(), ids=lambda p: str(p.relative_to(EXAMPLES_ROOT)))
def test_every_example_dry_runs_clean_without_network(job: Path) -> None:
    result, out, err = dry_run(job)
    assert "warning:" not in err, err
    body = json.loads(out.split("\n", 1)[1].split("\n# code snapshot", 1)[0])
    assert body == result.body
    assert body["properties"]["jobType"] in ("Command", "Pipeline")
    assert "# code snapshot" in out


def test_a_one_file_snapshot_says_one_file() -> None:
    _, out, _ = dry_run(EXAMPLES_ROOT / "hello" / "job.yml")
    assert "/hello/src: 1 file, " in out


def test_examples_exist() -> None:
    assert any(p.name == "job.yml" for p in example_jobs())


def test_body_carries_overrides_bindings_and_parallel_settings(write) -> None:
    write("p/src/train.py", "print('train')\n")
    write("p/src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    job = write("p/pipeline.yml", """
        type: pipeline
        settings: {default_compute: azureml:cpu-cluster}
        inputs:
          raw: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/raw/}
          epochs: 2
        outputs:
          scored: {type: uri_folder}
        jobs:
          train:
            type: command
            code: ./src
            command: python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}} --model ${{outputs.model}}
            environment: azureml:AzureML-sklearn-1.5@latest
            inputs:
              data: ${{parent.inputs.raw}}
              epochs: ${{parent.inputs.epochs}}
            outputs:
              model: {type: uri_folder}
          score:
            type: parallel
            inputs:
              data: ${{parent.jobs.train.outputs.model}}
            outputs:
              rows: ${{parent.outputs.scored}}
            input_data: ${{inputs.data}}
            mini_batch_size: "10"
            max_concurrency_per_instance: 2
            error_threshold: 5
            resources: {instance_count: 2}
            retry_settings: {max_retries: 3, timeout: 30}
            task:
              type: run_function
              code: ./src
              entry_script: score.py
              environment: azureml:AzureML-sklearn-1.5@latest
              append_row_to: ${{outputs.rows}}
    """)
    result, out, _ = dry_run(job, "inputs.epochs=7", "jobs.score.mini_batch_size=25",
                             "jobs.score.resources.instance_count=4", "jobs.train.environment_variables.SEED=1")
    props = result.body["properties"]
    assert props["inputs"]["epochs"]["value"] == "7"
    assert props["inputs"]["raw"]["uri"] == "azureml://datastores/workspaceblobstore/paths/raw/"
    train, score = props["jobs"]["train"], props["jobs"]["score"]
    assert train["inputs"]["data"]["value"] == "${{parent.inputs.raw}}"
    assert train["environment_variables"] == {"SEED": "1"}
    assert score["inputs"]["data"]["value"] == "${{parent.jobs.train.outputs.model}}"
    assert score["outputs"]["rows"]["value"] == "${{parent.outputs.scored}}"
    assert score["mini_batch_size"] == 25
    assert score["resources"]["instance_count"] == 4
    assert score["max_concurrency_per_instance"] == 2 and score["error_threshold"] == 5
    assert score["retry_settings"] == {"max_retries": 3, "timeout": 30}
    assert score["task"]["entry_script"] == "score.py"
    assert out.count("# code snapshot") == 1  # one folder, shared by both steps


def test_standalone_parallel_job_is_sent_as_a_one_step_pipeline(write) -> None:
    write("par/src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    job = write("par/batch-score.yml", """
        type: parallel
        display_name: batch scoring
        experiment_name: scoring
        compute: azureml:cpu-cluster
        inputs:
          files: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/files/, mode: download}
        outputs:
          rows: {type: uri_file}
        input_data: ${{inputs.files}}
        mini_batch_size: "3"
        max_concurrency_per_instance: 4
        mini_batch_error_threshold: 2
        logging_level: DEBUG
        resources: {instance_count: 2}
        task:
          type: run_function
          code: ./src
          entry_script: score.py
          program_arguments: --threshold 0.5
          environment: azureml:AzureML-sklearn-1.5@latest
          append_row_to: ${{outputs.rows}}
    """)
    result, _, err = dry_run(job, "mini_batch_size=5", "inputs.files=azureml://datastores/other/paths/x/")
    props = result.body["properties"]
    assert props["jobType"] == "Pipeline"
    assert props["displayName"] == "batch scoring" and props["experimentName"] == "scoring"
    assert props["settings"]["default_compute"] == "cpu-cluster"
    assert props["inputs"]["files"] == {"uri": "azureml://datastores/other/paths/x/", "mode": "Download",
                                        "jobInputType": "uri_folder"}
    (name, step), = props["jobs"].items()
    assert name == "batch_score"
    assert step["type"] == "parallel"
    assert step["inputs"]["files"]["value"] == "${{parent.inputs.files}}"
    assert step["outputs"]["rows"]["value"] == "${{parent.outputs.rows}}"
    assert step["input_data"] == "${{inputs.files}}"
    assert step["mini_batch_size"] == 5
    assert step["max_concurrency_per_instance"] == 4 and step["mini_batch_error_threshold"] == 2
    assert step["logging_level"] == "DEBUG" and step["resources"]["instance_count"] == 2
    assert step["task"]["program_arguments"] == "--threshold 0.5"
    assert "one-step pipeline" in err


def test_broken_file_is_refused_with_the_line(write) -> None:
    job = write("bad/job.yml", """
        type: command
        command: python x.py --n ${{inputs.n}}
        environment: azureml:env@latest
        compute: azureml:cpu
        distribution:
          type: horovod
    """)
    with pytest.raises(SpecError) as caught:
        dry_run(job)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (2, "command")  # amlrun's own check runs first
    job.write_text(job.read_text().replace(" --n ${{inputs.n}}", ""))
    with pytest.raises(SpecError) as caught:
        dry_run(job)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (6, "distribution.type")
    assert "'horovod' is not one of" in problem.message and "pytorch" in problem.message


@pytest.mark.parametrize("compute", ["", "compute: local"])
def test_no_compute_or_local_compute_needs_a_cluster(write, compute: str) -> None:
    job = write("c/job.yml", f"""
        type: command
        command: echo hi
        environment: azureml:env@latest
        {compute}
    """)
    with pytest.raises(SpecError) as caught:
        dry_run(job)
    assert "--compute" in caught.value.problems[0].hint
    result, _, _ = dry_run(job, compute="azureml:gpu-cluster")
    assert result.body["properties"]["computeId"] == "gpu-cluster"


def test_local_only_settings_stay_behind(write, tmp_path: Path) -> None:
    write("proj/amlrun.yaml", f"""
        datastores:
          raw: {{type: local, path: {tmp_path / 'raw-data'}}}
        data:
          sequences: azureml://datastores/raw/paths/seqs/
    """)
    job = write("proj/job.yml", """
        type: command
        command: python -c 1 ${{inputs.a}} ${{inputs.b}}
        environment: azureml:env@latest
        compute: azureml:cpu
        inputs:
          a: {type: uri_folder, path: azureml://datastores/raw/paths/x/}
          b: {type: uri_folder, path: azureml:sequences:3}
        outputs:
          o: {type: uri_folder, path: azureml://datastores/raw/paths/out/}
    """)
    result, out, err = dry_run(job)
    inputs = result.body["properties"]["inputs"]
    assert inputs["a"]["uri"] == "azureml://datastores/raw/paths/x/"
    assert inputs["b"]["uri"] == "sequences:3"  # the registered asset (the SDK drops `azureml:` here)
    assert str(tmp_path / "raw-data") not in out and "seqs" not in out
    assert err.count("datastore 'raw' is a local folder in amlrun.yaml") == 1  # one note per datastore
    assert ("the workspace's datastore 'raw' is used instead, for azureml://datastores/raw/paths/x/, "
            "azureml://datastores/raw/paths/out/") in err
    assert "data asset azureml:sequences:3 is mapped locally" in err


def test_secrets_are_redacted(write, monkeypatch) -> None:
    monkeypatch.setenv("LAKE_KEY", "c3VwZXItc2VjcmV0LWFjY291bnQta2V5")
    write("sec/amlrun.yaml", """
        datastores:
          lake: {type: azure_blob, account_name: acct, container_name: c, credential: {account_key_env: LAKE_KEY}}
    """)
    job = write("sec/job.yml", """
        type: command
        command: python -c 1 ${{inputs.url}}
        environment: azureml:env@latest
        compute: azureml:cpu
        inputs:
          url: https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig=AbCdEfSaSsIgNaTuRe%3D
        environment_variables:
          DB_PASSWORD: hunter2-hunter2
          STORAGE: DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S3CR3TKEY==;
          COPY_OF_KEY: c3VwZXItc2VjcmV0LWFjY291bnQta2V5
          partition_keys: region
    """)
    _, out, err = dry_run(job)
    for secret in ("hunter2-hunter2", "S3CR3TKEY", "AbCdEfSaSsIgNaTuRe", "c3VwZXItc2VjcmV0LWFjY291bnQta2V5"):
        assert secret not in out + err
    body = json.loads(out.split("\n", 1)[1].split("\n# code snapshot", 1)[0])
    env = body["properties"]["environmentVariables"]
    assert env["DB_PASSWORD"] == env["STORAGE"] == env["COPY_OF_KEY"] == "***"
    assert env["partition_keys"] == "region"
    assert body["properties"]["inputs"]["url"]["value"] == "https://acct.blob.core.windows.net/c/f.csv?***"


def test_snapshot_listing_honours_amlignore_and_warns(write) -> None:
    write("snap/src/train.py", "print(1)\n")
    write("snap/src/.env", "API_KEY=x\n")
    write("snap/src/venv/lib/site.py", "x = 1\n")
    write("snap/src/data/table.csv", "a,b\n1,2\n")
    write("snap/src/secret-notes.txt", "ignored\n")
    write("snap/src/.amlignore", "secret-notes.txt\n")
    write("snap/src/model.bin", "").write_bytes(b"\0" * (11 * 1024 * 1024))
    job = write("snap/job.yml", """
        type: command
        code: ./src
        command: python train.py
        environment: azureml:env@latest
        compute: azureml:cpu
    """)
    _, out, err = dry_run(job)
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert "train.py" in listed and "data/table.csv" in listed and "secret-notes.txt" not in listed
    assert "honouring .amlignore" in out
    assert "environment folder venv/" in err
    assert ".env, which usually holds secrets" in err
    assert "large files: model.bin (11.0 MB)" in err
    assert "data files: data/table.csv" in err


def test_snapshot_file_count_limit(write) -> None:
    folder = Path(write("many/src/train.py", "print(1)\n")).parent
    for i in range(2001):
        (folder / f"f{i:04}.py").write_text("")
    job = write("many/job.yml", """
        type: command
        code: ./src
        command: python train.py
        environment: azureml:env@latest
        compute: azureml:cpu
    """)
    _, out, err = dry_run(job)
    assert "2002 files" in out
    assert "2002 files; AzureML refuses snapshots over 2,000 files" in err


def test_cli_dry_run_and_refusal(amlrun, write) -> None:
    result = amlrun("submit", EXAMPLES_ROOT / "hello" / "job.yml", "--dry-run", "--set", "inputs.top=9")
    assert result.code == 0, result.text
    assert '"value": "9"' in result.out and "# code snapshot" in result.out
    bad = write("cli/job.yml", """
        type: command
        command: echo hi
        environment: azureml:env@latest
        compute: azureml:cpu
        identity: {type: nobody}
    """)
    refused = amlrun("submit", bad, "--dry-run")
    assert refused.code == 2
    assert "job.yml:5:12: identity.type: 'nobody' is not one of" in refused.err
    assert "Traceback" not in refused.err


def test_a_component_file_is_not_a_job(write) -> None:
    write("comp/src/train.py", "print(1)\n")
    component = write("comp/train.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: train
        version: "1"
        code: ./src
        command: python train.py
        environment: azureml:env@latest
    """)
    with pytest.raises(UsageError) as caught:
        dry_run(component)
    assert "component" in caught.value.message and "pipeline" in caught.value.hint


def test_registered_components_are_fine_for_the_service(write) -> None:
    """`amlrun run` cannot load `component: azureml:x:1`; the workspace can, so submit sends it as written."""
    write("reg/src/report.py", "print(1)\n")
    job = write("reg/pipeline.yml", """
        type: pipeline
        settings: {default_compute: azureml:cpu}
        jobs:
          train:
            type: command
            component: azureml:train_linear:1
            inputs: {epochs: 3}
          report:
            type: command
            code: ./src
            command: python report.py
            environment: azureml:env@latest
    """)
    result, out, _ = dry_run(job)
    assert "report.py" in out.split("# code snapshot", 1)[1]
    step = result.body["properties"]["jobs"]["train"]
    assert step["componentId"] == "train_linear:1" and step["inputs"]["epochs"]["value"] == "3"


def test_a_pipeline_with_a_spark_step_is_submitted_with_a_note(write) -> None:
    """A step only AzureML runs is no reason to refuse the file: the service runs it."""
    write("s/data/iris.csv", "sepal_length,species\n5.1,setosa\n")
    write("s/src/add_greeting_column.py", "print('hi')\n")
    job = write("s/pipeline.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
        type: pipeline
        settings: {default_compute: azureml:cpu-cluster}
        inputs:
          iris_data: {type: uri_file, path: ./data/iris.csv, mode: direct}
        jobs:
          add_greeting_columns:
            type: spark
            inputs:
              file_input: ${{parent.inputs.iris_data}}
            code: ./src
            entry:
              file: add_greeting_column.py
            args: --file_input ${{inputs.file_input}}
            resources:
              instance_type: Standard_E8S_V3
              runtime_version: "3.4.0"
            conf:
              spark.driver.cores: 2
              spark.driver.memory: "1g"
              spark.executor.cores: 1
              spark.executor.memory: "1g"
              spark.executor.instances: 1
        """)
    result, _, err = dry_run(job)
    assert "note:" in err and "add_greeting_columns" in err and "runs on AzureML only" in err
    assert result.body["properties"]["jobs"]["add_greeting_columns"]["type"] == "spark"
