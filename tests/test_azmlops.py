"""azmlops single-file configs: run, check (file:line), convert to v2 that the SDK accepts and runs alike.

The two examples are shaped like azmlops' own (a copy-data job; a two-step copy-data pipeline joined
by pipelinedata), with the script's arguments exactly as azmlops passes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azurite_fixtures import (
    ACCOUNT2,
    KEY2,
    Azurite,
    azurite_server,  # noqa: F401 - the session fixture `azurite`
)

SCRIPT = '''
import argparse, os, shutil, sys
parser = argparse.ArgumentParser("job")
parser.add_argument("--input_path", required=True)
parser.add_argument("--output_path", required=True)
parser.add_argument("--input_file", required=True)
parser.add_argument("--output_file", required=True)
args = parser.parse_args()
print("argv:", " ".join(sys.argv[1:]))
os.makedirs(args.output_path, exist_ok=True)
shutil.copyfile(os.path.join(args.input_path, args.input_file), os.path.join(args.output_path, args.output_file))
'''

PROVIDER = '''
provider:
  azureml:
    workspace:
      subscription_id: 00000000-0000-0000-0000-000000000000
      resource_group: rg
      workspace_name: ws
    compute_name: cluster
'''

JOB = '''
name: Copy_Data_Job
{provider}
job:
  code:
    folder: copy_data_scripts
    main: main.py
  inputs:
  - input_data
  outputs:
  - output_data
  parameters:
    input_file: test.txt
    output_file: test1.txt
  environment:
    name: experiment_env
    dependencies:
    - python=3.11
    - pip:
      - pyyaml
data:
  input_data:
    type: dataset
    parameter_name: input_path
    mount_path: input
    datastore:
      name: input_datastore
  output_data:
    type: datareference
    parameter_name: output_path
    mount_path: output
    datastore:
      name: output_datastore
'''

PIPELINE = '''
name: Copy_Data_Pipeline
{provider}
jobs:
- copy_data1:
    code:
      folder: copy_data_scripts
      main: main.py
    inputs:
    - input_data
    outputs:
    - pipeline_data
    parameters:
      input_file: test.txt
      output_file: test1.txt
    environment: experiment_env
- copy_data2:
    code:
      folder: copy_data_scripts
      main: main.py
    inputs:
    - pipeline_data
    - output_data
    parameters:
      input_file: test1.txt
      output_file: output2.txt
    environment: experiment_env
data:
  input_data:
    type: datareference
    parameter_name: input_path
    mount_path: input
    datastore:
      name: input_datastore
  output_data:
    type: datareference
    parameter_name: output_path
    mount_path: output
    datastore:
      name: output_datastore
  pipeline_data:
    type: pipelinedata
    input_parameter_name: input_path
    output_parameter_name: output_path
    datastore:
      name: output_datastore
environments:
  experiment_env:
    name: experiment_env
    dependencies:
    - python=3.11
'''

KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs9PQ=="


@pytest.fixture
def project(tmp_path: Path, write) -> Path:
    """A project whose amlrun.yaml maps both azmlops datastores to local folders."""
    write("amlrun.yaml", """
        datastores:
          input_datastore: {type: local, path: ./stores/in}
          output_datastore: {type: local, path: ./stores/out}
    """)
    write("stores/in/input/test.txt", "hello from the input datastore\n")
    (tmp_path / "stores" / "out").mkdir(parents=True)
    write("copy_data_scripts/main.py", SCRIPT)
    write("job_config.yml", JOB.format(provider=PROVIDER))
    write("pipeline_config.yml", PIPELINE.format(provider=PROVIDER))
    return tmp_path


def test_copy_data_job_runs_with_azmlops_arguments(amlrun, project: Path, store: Path) -> None:
    result = amlrun("run", "job_config.yml", cwd=project)
    assert result.code == 0, result.text
    copied = project / "stores" / "out" / "output" / "test1.txt"
    assert copied.read_text() == "hello from the input datastore\n"
    log = next(store.rglob("std_log.txt"))
    argv = next(line for line in log.read_text().splitlines() if line.startswith("argv:"))
    assert "--input_file test.txt --output_file test1.txt" in argv
    assert argv.split()[1] == "--input_path" and argv.split()[3] == "--output_path"


def test_copy_data_pipeline_joined_by_pipelinedata(amlrun, project: Path) -> None:
    result = amlrun("run", "pipeline_config.yml", cwd=project)
    assert result.code == 0, result.text
    assert (project / "stores" / "out" / "output" / "output2.txt").read_text() == "hello from the input datastore\n"
    # the intermediate file went through pipelinedata on the output datastore, not into the final folder
    assert not (project / "stores" / "out" / "output" / "test1.txt").exists()
    assert list((project / "stores" / "out" / "azureml").rglob("test1.txt"))
    assert result.text.index("copy_data1") < result.text.index("copy_data2")


def test_check_reports_azmlops_errors_at_their_lines(amlrun, project: Path, write) -> None:
    broken = PIPELINE.format(provider=PROVIDER).replace("    - input_data\n", "    - input_dta\n") \
        .replace("environment: experiment_env\n- copy_data2", "environment: experiment_envs\n- copy_data2") \
        .replace("- copy_data2:\n    code:\n      folder: copy_data_scripts", "- copy_data2:\n    code:\n      folder: copy_scripts")
    lines = write("broken.yml", broken).read_text().splitlines()
    result = amlrun("check", "--no-sdk", "broken.yml", cwd=project)
    assert result.code == 2, result.text
    data_line = lines.index("    - input_dta") + 1
    env_line = next(i for i, line in enumerate(lines) if "experiment_envs" in line) + 1
    assert f"broken.yml:{data_line}:" in result.out and "'input_data'" in result.out
    assert f"broken.yml:{env_line}:" in result.out and "experiment_env" in result.out
    folder_line = lines.index("      folder: copy_scripts") + 1  # found by amlrun's v2 checks, named as written
    assert f"broken.yml:{folder_line}:15: jobs[1].copy_data2.code.folder: code folder 'copy_scripts'" in result.out


def test_convert_output_passes_sdk_check_and_runs_to_the_same_outputs(amlrun, project: Path) -> None:
    """The converted files pass azure-ai-ml's validation (the azmlops files go through it in the submit test)."""
    for name in ("job_config", "pipeline_config"):
        result = amlrun("convert", f"{name}.yml", "-o", f"v2/{name}.yml", cwd=project)
        assert result.code == 0, result.text
    checked = amlrun("check", "v2/job_config.yml", "v2/pipeline_config.yml", cwd=project)
    assert checked.code == 0, checked.text
    for name, produced in (("job_config", "output/test1.txt"), ("pipeline_config", "output/output2.txt")):
        target = project / "stores" / "out" / produced
        target.unlink(missing_ok=True)
        ran = amlrun("run", f"v2/{name}.yml", cwd=project)
        assert ran.code == 0, ran.text
        assert target.read_text() == "hello from the input datastore\n"


def test_inline_account_key_is_used_but_never_written(amlrun, project: Path, write, store: Path) -> None:
    """The key draws a warning naming the variable form and appears in no record, log or converted file."""
    text = JOB.format(provider=PROVIDER).replace(
        "      name: output_datastore\n",
        f"      name: output_datastore\n      account_name: acct\n      container_name: out\n"
        f"      account_key: {KEY}\n")
    write("keyed.yml", text)
    result = amlrun("run", "keyed.yml", cwd=project)  # amlrun.yaml maps output_datastore to a local folder
    assert result.code == 0, result.text
    assert "OUTPUT_DATASTORE_ACCOUNT_KEY" in result.err and "account_key_env" in result.err
    converted = amlrun("convert", "keyed.yml", cwd=project)
    assert converted.code == 0 and "account_key_env: OUTPUT_DATASTORE_ACCOUNT_KEY" in converted.err
    assert KEY not in result.text + converted.text
    for path in [*store.rglob("*"), *project.rglob("*")]:
        if path.is_file() and path.name != "keyed.yml":
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.filterwarnings("ignore")
def test_submit_uses_the_files_workspace_and_never_sends_the_key(project: Path, write) -> None:
    """`submit` takes workspace and compute from `provider.azureml`; the inline key stays home."""
    from amlrun.azureml.submit import SubmitRequest, submit_job
    from submit_fixtures import FakeAzureML, FakeCredential

    provider = PROVIDER.replace("00000000-0000-0000-0000-000000000000", "sub-0000") \
        .replace("resource_group: rg", "resource_group: rg-test").replace("workspace_name: ws", "workspace_name: ws-test")
    text = PIPELINE.format(provider=provider).replace(
        "      name: input_datastore\n",
        f"      name: input_datastore\n      account_name: acct\n      container_name: in\n      account_key: {KEY}\n", 1)
    file = write("submit_me.yml", text)
    fake = FakeAzureML()
    out: list[str] = []
    result = submit_job(SubmitRequest(file=file, overrides=[]), credential=FakeCredential(),
                        transport=fake.transport(), out=out.append, err=lambda _: None)
    assert result.exit_code == 0, out
    put = fake.calls[-1]
    assert put.method == "PUT" and "/subscriptions/sub-0000/resourceGroups/rg-test/" in put.path
    body = put.body["properties"]
    assert body["experimentName"] == "Copy_Data_Pipeline"
    assert body["settings"]["default_compute"].endswith("/computes/cluster")
    assert set(body["jobs"]) == {"copy_data1", "copy_data2"}
    assert KEY not in json.dumps([c.body for c in fake.calls], default=str)


def test_inline_key_reaches_blob_storage_for_the_run_only(amlrun, tmp_path: Path, write, store: Path,
                                                          azurite: Azurite) -> None:
    """Datastores written with account, container and key in the azmlops file: read and written in blob
    storage (a real Azurite server), with the key in no record, log, spec copy or converted file."""
    azurite.fill("azmlopsin", {"input/test.txt": b"hello from blob\n"}, ACCOUNT2, KEY2)
    azurite.fill("azmlopsout", {"keep.txt": b"k"}, ACCOUNT2, KEY2)
    store_block = ("      name: {name}\n      account_name: " + ACCOUNT2 + "\n      container_name: {container}\n"
                   "      account_key: " + KEY2 + "\n      endpoint: " + azurite.endpoint(ACCOUNT2) + "\n")
    text = JOB.format(provider=PROVIDER) \
        .replace("      name: input_datastore\n", store_block.format(name="input_datastore", container="azmlopsin")) \
        .replace("      name: output_datastore\n", store_block.format(name="output_datastore", container="azmlopsout"))
    project = tmp_path / "blobproj"
    write("blobproj/copy_data_scripts/main.py", SCRIPT)
    write("blobproj/job_config.yml", text)
    result = amlrun("run", "job_config.yml", cwd=project)
    assert result.code == 0, result.text
    assert azurite.read("azmlopsout", "output/test1.txt", ACCOUNT2, KEY2) == b"hello from blob\n"
    assert "INPUT_DATASTORE_ACCOUNT_KEY" in result.err and "account_key_env" in result.err
    converted = amlrun("convert", "job_config.yml", "-o", "v2.yml", cwd=project)
    assert converted.code == 0, converted.text
    assert KEY2 not in result.text + converted.text
    for path in [*store.rglob("*"), *project.rglob("*")]:
        if path.is_file() and path.name != "job_config.yml":
            assert KEY2.encode() not in path.read_bytes(), path
