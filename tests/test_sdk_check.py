"""`amlrun check` runs azure-ai-ml's own validation too: what check accepts, the SDK accepts, and
what the SDK rejects is reported at the real field and line, even where the SDK's message is vague."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from amlrun.azureml.locate import problems_from_findings
from amlrun.azureml.sdk_errors import SdkFinding
from amlrun.azureml.validate import check_files, sdk_problems
from amlrun.spec.check import _looks_like_component, check_file
from amlrun.spec.source import read_yaml
from submit_fixtures import EXAMPLES_ROOT, QUIET_SDK, example_files

pytestmark = QUIET_SDK


def sdk_accepts(path: Path) -> bool:
    """azure-ai-ml alone, as `az ml job create` would load the file (a parallel job inside a pipeline)."""
    import azure.ai.ml as ml

    data = yaml.safe_load(path.read_text())
    try:
        if _looks_like_component(data):
            loaded = ml.load_component(path)
        elif data.get("type") == "parallel":
            body = {k: v for k, v in data.items() if k not in ("$schema", "compute", "inputs", "outputs")}
            body["inputs"] = {n: f"${{{{parent.inputs.{n}}}}}" for n in data.get("inputs") or {}}
            body["outputs"] = {n: f"${{{{parent.outputs.{n}}}}}" for n in data.get("outputs") or {}}
            pipeline = {"type": "pipeline", "settings": {"default_compute": data.get("compute", "cpu")},
                        "inputs": data.get("inputs") or {}, "outputs": data.get("outputs") or {},
                        "jobs": {"step": body}}
            loaded = ml.load_job(io.StringIO(yaml.safe_dump(pipeline)), relative_origin=str(path))
        else:
            loaded = ml.load_job(path)
        result = loaded._validate()
    except Exception:  # noqa: BLE001 - any refusal counts
        return False
    return result is None or result.passed


@pytest.mark.parametrize("file", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES_ROOT)))
def test_examples_pass_check_and_the_sdk(file: Path) -> None:
    assert check_files([file], [])[0] == []
    assert sdk_accepts(file)


# (file text, the field amlrun must name, its line) - each passes amlrun's own checks, the SDK refuses it
BROKEN = {
    "command_distribution": ("""
        type: command
        command: python train.py
        environment: azureml:env@latest
        distribution:
          type: horovod
        """, "distribution.type", 5),
    "command_identity": ("""
        type: command
        command: python train.py
        environment: azureml:env@latest
        identity: {type: nobody}
        """, "identity.type", 4),
    "step_queue_settings": ("""
        type: pipeline
        settings: {default_compute: azureml:cpu}
        jobs:
          train:
            type: command
            command: echo hi
            environment: azureml:env@latest
            queue_settings: {job_tier: platinum}
        """, "jobs.train.queue_settings.job_tier", 8),
    "step_union_branch": ("""
        type: pipeline
        settings: {default_compute: azureml:cpu}
        jobs:
          train:
            type: command
            command: echo hi
            environment: azureml:env@latest
            distribution: {type: mpi, process_count_per_instance: many}
        """, "jobs.train.distribution.process_count_per_instance", 8),
    "step_crashes_the_sdk": ("""
        type: pipeline
        settings: {default_compute: azureml:cpu}
        jobs:
          train:
            type: command
            command: echo hi
            environment: azureml:env@latest
            services:
              notebook: 3
        """, "jobs.train.services.notebook", 9),
    "parallel_logging_level": ("""
        type: parallel
        compute: azureml:cpu
        inputs:
          data: {type: uri_folder, path: ./src}
        input_data: ${{inputs.data}}
        mini_batch_size: "2"
        logging_level: LOUD
        task: {type: run_function, code: ./src, entry_script: score.py, environment: azureml:env@latest}
        """, "logging_level", 7),
    "parallel_vague_step": ("""
        type: parallel
        compute: azureml:cpu
        inputs:
          data: {type: uri_folder, path: ./src}
        input_data: ${{inputs.data}}
        mini_batch_size: "2"
        queue_settings: {job_tier: platinum}
        task: {type: run_function, code: ./src, entry_script: score.py, environment: azureml:env@latest}
        """, "queue_settings", 7),
    "parallel_identity": ("""
        type: parallel
        compute: azureml:cpu
        inputs:
          data: {type: uri_folder, path: ./src}
        input_data: ${{inputs.data}}
        mini_batch_size: "2"
        identity: {type: nobody}
        task: {type: run_function, code: ./src, entry_script: score.py, environment: azureml:env@latest}
        """, "identity", 7),  # the SDK names no field here; amlrun narrows it down
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_sdk_only_errors_name_the_real_field(case: str, write) -> None:
    text, field, line = BROKEN[case]
    write("case/src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    file = write("case/job.yml", text)
    assert check_file(file, []) == []  # amlrun's own checks let it through ...
    assert not sdk_accepts(file)  # ... the SDK does not ...
    problems = check_files([file], [])[0]  # ... so check does not either, and says where
    assert [(p.field, p.line) for p in problems] == [(field, line)], [p.render() for p in problems]
    assert "component" not in problems[0].message or "names only" in problems[0].message


def test_component_file_errors_point_into_the_component(write) -> None:
    write("comp/src/train.py", "print(1)\n")
    write("comp/train.yml", """
        type: command
        name: train
        code: ./src
        command: python train.py
        environment: azureml:env@latest
        distribution: {type: gloo}
    """)
    pipeline = write("comp/pipeline.yml", """
        type: pipeline
        settings: {default_compute: azureml:cpu}
        jobs:
          train:
            type: command
            component: ./train.yml
    """)
    (problem,) = check_files([pipeline], [])[0]
    assert problem.file.endswith("train.yml") and (problem.line, problem.field) == (6, "distribution.type")


def test_vague_step_message_is_replaced_by_the_field_from_reloading_the_step(write) -> None:
    """The SDK's only word on a broken inline step is `jobs.<step>.component`; reloading names the field."""
    file = write("vague/pipeline.yml", """
        type: pipeline
        jobs:
          prep:
            type: command
            command: echo hi
            environment: azureml:env@latest
            tags: [not, a, mapping]
    """)
    vague = [SdkFinding(("jobs", "prep", "component"), "Missing data for required field.")]
    (problem,) = problems_from_findings(vague, read_yaml(file), None, [])
    assert (problem.field, problem.line) == ("jobs.prep.tags", 7)
    assert "mapping" in problem.message
    (direct,) = sdk_problems(file, [])  # the whole SDK path (amlrun's own check would stop earlier)
    assert (direct.field, direct.line) == ("jobs.prep.tags", 7)


def test_overrides_are_checked_too(write) -> None:
    file = write("ov/job.yml", """
        type: command
        command: python train.py
        environment: azureml:env@latest
        distribution: {type: pytorch}
    """)
    assert check_files([file], [])[0] == []
    (problem,) = check_files([file], [("distribution.type", "horovod")])[0]
    assert problem.field == "distribution.type"


def test_cli_check_reports_sdk_findings_and_no_sdk_skips_them(amlrun, write) -> None:
    text, _, _ = BROKEN["step_queue_settings"]
    file = write("cli/pipeline.yml", text)
    result = amlrun("check", file)
    assert result.code == 2
    assert "pipeline.yml:8:22: jobs.train.queue_settings.job_tier: 'platinum' is not one of" in result.out
    assert amlrun("check", "--no-sdk", file).code == 0


def test_long_form_step_bindings_pass_check_and_the_sdk(tmp_path: Path) -> None:
    import textwrap

    from pipeline_fixtures import LONG_FORM_PIPELINE

    data = yaml.safe_load(textwrap.dedent(LONG_FORM_PIPELINE))
    data["settings"] = {"default_compute": "azureml:cpu"}  # what the service needs besides
    for step in data["jobs"].values():
        step["environment"] = "azureml:env@latest"
    file = tmp_path / "pipeline.yml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "raw").mkdir()
    assert data["jobs"]["use"]["inputs"]["data"]["path"] == "${{parent.jobs.prep.outputs.out}}"
    assert check_files([file], [])[0] == []
    assert sdk_accepts(file)
