"""`amlrun run` and `amlrun submit --dry-run` read the same file into the same job.

amlrun's spec tree (what the local runner plans from) is compared with the request body
azure-ai-ml builds: same steps, inputs, outputs, commands and settings, after the same overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amlrun.azureml.submit import SubmitRequest, submit_job
from amlrun.spec.loader import Node, load_job
from amlrun.spec.overrides import parse_override
from submit_fixtures import EXAMPLES_ROOT, QUIET_SDK, example_jobs

pytestmark = QUIET_SDK

_PARALLEL = ("mini_batch_size", "max_concurrency_per_instance", "error_threshold", "mini_batch_error_threshold",
             "logging_level", "input_data")


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    return None if value is None else str(value)


def _amlrun_inputs(node: Node) -> dict[str, Any]:
    return {name: _text(spec.path if spec is not None and spec.path is not None else
                        (spec.value if spec is not None else None)) for name, spec in node.inputs.items()}


def _sdk_inputs(section: dict[str, Any]) -> dict[str, Any]:
    return {name: _text(port.get("uri", port.get("path", port.get("value")))) for name, port in section.items()}


def _amlrun_types(node: Node) -> dict[str, str]:
    literal = ("string", "number", "integer", "boolean", None)
    return {name: "literal" if spec is None or spec.type in literal else spec.type
            for name, spec in node.inputs.items()}


def _sdk_types(section: dict[str, Any]) -> dict[str, str]:
    return {name: port.get("jobInputType", port.get("job_input_type")) for name, port in section.items()}


def _amlrun_setting(node: Node, key: str) -> Any:
    value = node.settings.get(key)
    return value if value is not None else getattr(node.definition, key, None)


def _sdk_setting(step: dict[str, Any], key: str) -> Any:
    component = step.get("componentId") if isinstance(step.get("componentId"), dict) else {}
    return step.get(key, component.get(key))


def _compare_step(node: Node, step: dict[str, Any], *, inputs_in: dict[str, Any] | None = None) -> None:
    section = inputs_in if inputs_in is not None else step.get("inputs") or {}
    assert _amlrun_inputs(node) == _sdk_inputs(section), node.name
    if node.path == ():  # a job's own inputs carry their types (a step's are bindings)
        assert _amlrun_types(node) == _sdk_types(section), node.name
    outputs = step.get("outputs") or {}
    assert sorted(node.outputs) == sorted(outputs), node.name
    component = step.get("componentId") if isinstance(step.get("componentId"), dict) else {}
    if node.kind == "command":
        assert node.definition.command == step.get("command", component.get("command")), node.name
        env = {**(node.definition.environment_variables or {}), **(node.settings.get("environment_variables") or {})}
        sdk_env = step.get("environmentVariables", step.get("environment_variables")) or {}
        assert {k: _text(v) for k, v in env.items()} == sdk_env, node.name
    if node.kind == "parallel":
        for key in _PARALLEL:
            mine, theirs = _amlrun_setting(node, key), _sdk_setting(step, key)
            assert _text(mine) == _text(theirs), f"{node.name}.{key}"
        resources = _amlrun_setting(node, "resources")
        sdk_resources = _sdk_setting(step, "resources") or {}
        assert (resources.instance_count if resources else None) == sdk_resources.get("instance_count")
        task = _amlrun_setting(node, "task")
        assert task.entry_script == _sdk_setting(step, "task")["entry_script"]


def assert_same_job(file: Path, *sets: str) -> None:
    overrides = [parse_override(s) for s in sets]
    node = load_job(file, overrides)
    body = submit_job(SubmitRequest(file=file, overrides=overrides, dry_run=True, compute="cpu-cluster"),
                      out=lambda _: None, err=lambda _: None).body["properties"]
    if node.kind == "command":
        _compare_step(node, body)
        assert _text(node.definition.limits.timeout if node.definition.limits else None) == _text(
            _seconds(body.get("limits", {}).get("timeout")))
    elif node.kind == "pipeline":
        assert _amlrun_inputs(node) == _sdk_inputs(body.get("inputs") or {})
        assert _amlrun_types(node) == _sdk_types(body.get("inputs") or {})
        assert sorted(node.outputs) == sorted(body.get("outputs") or {})
        assert sorted(node.children) == sorted(body["jobs"])
        for name, child in node.children.items():
            _compare_step(child, body["jobs"][name])
    else:  # a standalone parallel job: its ports moved to the wrapping pipeline, its settings to the step
        ((_, step),) = body["jobs"].items()
        _compare_step(node, step, inputs_in=body.get("inputs") or {})


def _seconds(iso: str | None) -> int | None:
    if iso is None:
        return None
    import re

    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", iso)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@pytest.mark.parametrize("job", example_jobs(), ids=lambda p: str(p.relative_to(EXAMPLES_ROOT)))
def test_every_example_is_the_same_job_both_ways(job: Path) -> None:
    assert_same_job(job)


def test_command_job_with_overrides() -> None:
    assert_same_job(EXAMPLES_ROOT / "hello" / "job.yml", "inputs.top=3", "inputs.text=./data/other.txt",
                    "environment_variables.GREETING=hi", "environment_variables.EXTRA=1", "limits.timeout=60")


def test_pipeline_with_components_and_parallel_step_with_overrides(write) -> None:
    write("p/src/train.py", "print(1)\n")
    write("p/src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    write("p/train.yml", """
        type: command
        name: train
        inputs:
          data: {type: uri_folder}
          epochs: {type: integer, default: 1}
        outputs:
          model: {type: uri_folder}
        code: ./src
        command: python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}} --model ${{outputs.model}}
        environment: azureml:AzureML-sklearn-1.5@latest
    """)
    job = write("p/pipeline.yml", """
        type: pipeline
        settings: {default_compute: azureml:cpu-cluster}
        inputs:
          raw: {type: uri_folder, path: ./src}
        outputs:
          final: {type: uri_folder}
        jobs:
          train:
            type: command
            component: ./train.yml
            inputs:
              data: ${{parent.inputs.raw}}
              epochs: 2
            environment_variables: {SEED: "1"}
          score:
            type: parallel
            inputs:
              data: ${{parent.jobs.train.outputs.model}}
            outputs:
              scores: ${{parent.outputs.final}}
            input_data: ${{inputs.data}}
            mini_batch_size: "2"
            max_concurrency_per_instance: 2
            resources: {instance_count: 2}
            task:
              type: run_function
              code: ./src
              entry_script: score.py
              environment: azureml:AzureML-sklearn-1.5@latest
              append_row_to: ${{outputs.scores}}
    """)
    assert_same_job(job, "jobs.train.inputs.epochs=9", "jobs.score.mini_batch_size=4",
                    "jobs.score.resources.instance_count=3", "inputs.raw=./other")


def test_standalone_parallel_job_with_overrides(write) -> None:
    write("par/src/score.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
    job = write("par/score.yml", """
        type: parallel
        compute: azureml:cpu-cluster
        inputs:
          files: {type: uri_folder, path: ./src}
          threshold: 0.5
        outputs:
          rows: {type: uri_file}
        input_data: ${{inputs.files}}
        mini_batch_size: "3"
        error_threshold: 4
        logging_level: INFO
        task:
          type: run_function
          code: ./src
          entry_script: score.py
          program_arguments: --threshold ${{inputs.threshold}}
          environment: azureml:AzureML-sklearn-1.5@latest
          append_row_to: ${{outputs.rows}}
    """)
    assert_same_job(job, "mini_batch_size=6", "inputs.threshold=0.9", "error_threshold=1")
