"""A plain command job loads without pydantic (spec.lean) into exactly what the full loader builds;
whatever the lean loader is not sure of goes to the full loader, whose messages stay the only ones."""

from __future__ import annotations

import glob
import textwrap
from pathlib import Path

import pytest

from amlrun.spec import lean, models
from amlrun.spec.loader import load_job_collecting
from conftest import EXAMPLES

_PAIRS = [(lean.LeanCommandJob, models.CommandJob), (lean.LeanInput, models.InputSpec),
          (lean.LeanOutput, models.OutputSpec), (lean.LeanEnvironment, models.EnvironmentSpec),
          (lean.LeanLimits, models.Limits)]


@pytest.mark.parametrize(("light", "model"), _PAIRS, ids=[m.__name__ for _, m in _PAIRS])
def test_lean_stand_ins_have_the_models_fields_defaults_and_aliases(light, model) -> None:
    """A field added to a model must be added to its stand-in (else a lean job would lack it)."""
    fields = [(name, f.default_factory or f.default, f.alias if f.alias != name else None)
              for name, f in model.model_fields.items()]
    assert fields == [(name, default, light.ALIASES.get(name)) for name, default in light.FIELDS.items()]


_TAKEN = {
    "minimal": "command: echo hi\n",
    "typed": """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        type: command
        name: job_1
        display_name: Job one
        description: all the common fields
        experiment_name: exp
        compute: local
        tags: {team: a, n: 1}
        code: .
        command: python train.py --lr ${{inputs.lr}} --data ${{inputs.data}} --out ${{outputs.model}}
        environment_variables: {A: "1", B: 2}
        limits: {timeout: 30}
        inputs:
          lr: 0.1
          n: 3
          flag: true
          empty:
          data: {type: uri_folder, path: ., mode: ro_mount}
          lit: {type: integer, default: 4, optional: true, description: d}
        outputs:
          model: {type: uri_folder, mode: rw_mount}
          other:
        environment:
          image: python:3.11-slim
          version: 1
          conda_file: {dependencies: [python=3.11]}
    """,
    "env_reference": "command: echo hi\nenvironment: azureml:AzureML-sklearn-1.0@latest\ninputs: {}\noutputs:\n",
}
_DECLINED = {
    "name_not_text": "command: echo hi\nname: 123\n",
    "flag_as_word": "command: echo hi\ninputs: {x: {type: boolean, optional: \"yes\"}}\n",
    "unknown_field": "command: echo hi\nrecources: {instance_count: 1}\n",
    "resources": "command: echo hi\nresources: {instance_count: 1}\n",
    "unknown_input_type": "command: echo hi\ninputs: {x: {type: uri_fodler, path: .}}\n",
    "duplicate_key": "command: echo hi\ncommand: echo again\n",
    "pipeline": "type: pipeline\njobs: {}\n",
    "float_timeout": "command: echo hi\nlimits: {timeout: 1.5}\n",
    "input_list": "command: echo hi\ninputs: {x: [1, 2]}\n",
    "azmlops": "name: x\njob: {code: {folder: ., main: m.py}}\n",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _same_node(light, full) -> None:
    assert type(light.definition).__name__ == "LeanCommandJob"
    assert light.definition.model_dump() == full.definition.model_dump()
    assert light.definition.model_dump(by_alias=True, exclude_none=True) == \
        full.definition.model_dump(by_alias=True, exclude_none=True)
    assert light.definition.model_fields_set == full.definition.model_fields_set
    for name in ("inputs", "outputs"):
        ours, theirs = getattr(light, name), getattr(full, name)
        assert list(ours) == list(theirs)
        for port in ours:
            assert ours[port].model_dump() == theirs[port].model_dump(), (name, port)
            assert ours[port].model_fields_set == theirs[port].model_fields_set, (name, port)
    for attribute in ("name", "kind", "path", "settings", "children", "definition_path", "broken", "remote",
                      "from_component", "is_deterministic"):
        assert getattr(light, attribute) == getattr(full, attribute), attribute
    assert light.source.data == full.source.data
    assert light.source.source_map.positions == full.source.source_map.positions


@pytest.mark.parametrize("name", sorted(_TAKEN))
def test_lean_loading_builds_what_the_full_loader_builds(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, name, _TAKEN[name])
    taken = lean.load_lean_command_job(path, None)
    assert taken is not None
    full, findings = load_job_collecting(path)
    assert full is not None and not findings.problems
    _same_node(taken[0], full)
    assert taken[0].inputs["lr"].is_literal_type == full.inputs["lr"].is_literal_type if "lr" in full.inputs \
        else True


@pytest.mark.parametrize("name", sorted(_DECLINED))
def test_what_lean_loading_is_not_sure_of_goes_to_the_full_loader(name: str, tmp_path: Path) -> None:
    assert lean.load_lean_command_job(_write(tmp_path, name, _DECLINED[name]), None) is None


def test_every_command_job_of_the_examples_and_spec_fixtures_loads_alike() -> None:
    """Where lean loading takes a real file (examples, tests/specs), the node is the full loader's."""
    files = [Path(f) for pattern in (f"{EXAMPLES}/**/*.yml", f"{Path(__file__).parent}/specs/**/*.yml")
             for f in glob.glob(pattern, recursive=True)]
    taken = 0
    for file in files:
        light = lean.load_lean_command_job(file, None)
        if light is None:
            continue
        full, findings = load_job_collecting(file)
        if full is None or findings.problems:
            continue  # a broken file: load_checked_job reports the full loader's findings either way
        _same_node(light[0], full)
        taken += 1
    assert taken >= 3
