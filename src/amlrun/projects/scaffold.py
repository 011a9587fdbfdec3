"""`amlrun init`: a project in the many-experiments layout that works at once.

    amlrun.yaml  pyproject.toml (uv workspace)  conftest.py  .gitignore  README.md
    data/sample/values.csv                  a small input for the experiment and the pipeline
    data/dispatch/{MLTable,dispatch.csv}    a dispatch table: one row per item to validate
    packages/shared/                        code every package imports (copied into each snapshot)
    packages/<experiment>/                  a command job logging with MLflow (aml-job.yaml) and the same
                                            step as a component (aml-component.yaml), environment/, tests/
    packages/prep/                          a component package: the pipeline's first step
    packages/validate/                      a parallel job over the dispatch table
    pipelines/prep_<experiment>.yaml        prep -> <experiment>, wired by outputs

`init --experiment NAME` adds one more experiment package to an existing project. Nothing existing is
ever overwritten: a file that is already there is kept and named.
"""

from __future__ import annotations

import re
from pathlib import Path

from amlrun.errors import UsageError

__all__ = ["add_experiment", "init_project"]

_ROOT = {
    "amlrun.yaml": """\
# amlrun's project file (local only: nothing here is sent to AzureML).
# Map datastores to local folders or blob containers, name the workspace for `amlrun submit`:
#   datastores:
#     raw: {type: local, path: ./data/raw}
#   workspace: {subscription_id: ..., resource_group: ..., workspace_name: ...}
datastores: {}
""",
    "pyproject.toml": """\
[project]
name = "__PROJECT__"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []

[tool.uv.workspace]
members = ["packages/*"]

[dependency-groups]
dev = ["pytest>=8"]

[tool.pytest.ini_options]
testpaths = ["packages"]
addopts = "--import-mode=importlib"
""",
    "conftest.py": '''\
"""Tests import every package's code (and shared/) straight from packages/*/src."""

import sys
from pathlib import Path

for src in sorted(Path(__file__).parent.glob("packages/*/src")):
    sys.path.insert(0, str(src))
''',
    ".gitignore": ".amlrun/\n.venv/\n__pycache__/\n*.pyc\n",
    "README.md": """\
# __PROJECT__

Experiments live in `packages/`, one uv package each; `packages/shared/` is imported by all.

```bash
amlrun run --package packages/__EXPERIMENT__/aml-job.yaml     # run an isolated snapshot locally
amlrun run --package pipelines/prep___EXPERIMENT__.yaml      # the two-step pipeline
amlrun run --package packages/validate/aml-job.yaml     # the parallel job over data/dispatch
amlrun submit --package packages/__EXPERIMENT__/aml-job.yaml  # the same snapshot, on AzureML
python -m pytest                                        # the packages' tests
amlrun init --experiment another                        # add an experiment package
```
""",
    "data/sample/values.csv": "value\n3\n1\n4\n1\n5\n9\n2\n6\n",
    "data/dispatch/MLTable": """\
# The dispatch table: one row per item the parallel job validates.
paths:
  - file: ./dispatch.csv
transformations:
  - read_delimited:
      delimiter: ','
      header: all_files_same_headers
      encoding: utf8
""",
    "data/dispatch/dispatch.csv": "item_id,value\nitem_001,3\nitem_002,14\nitem_003,-1\nitem_004,15\nitem_005,92\n",
    "packages/shared/pyproject.toml": """\
[project]
name = "shared"
version = "0.1.0"
description = "Code every experiment imports."
requires-python = ">=3.10"
dependencies = []
""",
    "packages/shared/src/shared/__init__.py": '''\
"""Code every package imports; `amlrun package` copies it into each snapshot."""

from shared.data import normalize, read_values
from shared.tracking import log_metric

__all__ = ["log_metric", "normalize", "read_values"]
''',
    "packages/shared/src/shared/data.py": '''\
"""Reading and preparing the sample data."""

import csv
from pathlib import Path


def read_values(folder: str) -> list[float]:
    """The `value` column of every CSV file in `folder` (a mounted input)."""
    values = []
    for path in sorted(Path(folder).glob("*.csv")):
        with path.open(newline="") as handle:
            values += [float(row["value"]) for row in csv.DictReader(handle)]
    return values


def normalize(values: list[float]) -> list[float]:
    """Scale to [0, 1]; constant input maps to zeros."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return [(v - low) / span for v in values]
''',
    "packages/shared/src/shared/tracking.py": '''\
"""MLflow logging that works wherever the job runs.

AzureML (and amlrun) set MLFLOW_TRACKING_URI and MLFLOW_RUN_ID for each job: metrics then go to the
job's run. Without tracking (a plain `python -m ...`, or mlflow not installed) they are printed.
"""

import os


def log_metric(name: str, value: float, step: int | None = None) -> None:
    print(f"metric {name}={value}" + (f" step={step}" if step is not None else ""))
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return
    try:
        import mlflow
    except ImportError:
        return
    mlflow.log_metric(name, value, step=step)
''',
    "packages/shared/tests/test_shared.py": '''\
from shared import normalize


def test_normalize_scales_to_unit_range():
    assert normalize([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]


def test_normalize_constant_values():
    assert normalize([5.0, 5.0]) == [0.0, 0.0]
''',
    "packages/prep/pyproject.toml": """\
[project]
name = "prep"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["shared"]

[tool.uv.sources]
shared = { workspace = true }
""",
    "packages/prep/src/.amlignore": "*.log\n__pycache__/\n.venv/\n",
    "packages/prep/src/prep/__init__.py": "",
    "packages/prep/src/prep/prep.py": '''\
"""Pipeline step 1: normalize the raw values into a CSV the next step reads."""

import argparse
from pathlib import Path

from shared import normalize, read_values


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--prepared", required=True)
    args = parser.parse_args(argv)
    values = normalize(read_values(args.raw))
    out = Path(args.prepared)
    out.mkdir(parents=True, exist_ok=True)
    (out / "values.csv").write_text("value\\n" + "".join(f"{v}\\n" for v in values))
    print(f"prepared {len(values)} values")


if __name__ == "__main__":
    main()
''',
    "packages/prep/tests/test_prep.py": '''\
from prep.prep import main


def test_prep_writes_normalized_values(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "values.csv").write_text("value\\n1\\n3\\n")
    main(["--raw", str(raw), "--prepared", str(tmp_path / "out")])
    assert (tmp_path / "out" / "values.csv").read_text() == "value\\n0.0\\n1.0\\n"
''',
    "packages/prep/aml-component.yaml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: prep
display_name: prep
version: "1"
code: ./src
command: python -m prep.prep --raw ${{inputs.raw}} --prepared ${{outputs.prepared}}
environment:
  build:
    path: ./environment
inputs:
  raw:
    type: uri_folder
outputs:
  prepared:
    type: uri_folder
""",
    "packages/validate/pyproject.toml": """\
[project]
name = "validate"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["shared", "pandas>=2"]

[tool.uv.sources]
shared = { workspace = true }
""",
    "packages/validate/src/.amlignore": "*.log\n__pycache__/\n.venv/\n",
    "packages/validate/src/validate/__init__.py": "",
    "packages/validate/src/validate/rules.py": '''\
"""The check each dispatch-table row gets."""


def verdict(value: float, low: float = 0, high: float = 100) -> str:
    return "ok" if low <= value <= high else "out_of_range"
''',
    "packages/validate/src/entry.py": '''\
"""Parallel entry script: each mini-batch is a DataFrame of dispatch-table rows."""

import argparse

from shared import log_metric
from validate.rules import verdict


def init():
    global high
    parser = argparse.ArgumentParser()
    parser.add_argument("--high", type=float, default=100)
    args, _ = parser.parse_known_args()  # the service adds its own flags to sys.argv
    high = args.high


def run(mini_batch):
    rows = [f"{row.item_id} {verdict(row.value, high=high)}" for row in mini_batch.itertuples(index=False)]
    log_metric("rows", len(rows))
    return rows
''',
    "packages/validate/tests/test_validate.py": '''\
from validate.rules import verdict


def test_verdicts():
    assert verdict(3) == "ok"
    assert verdict(-1) == "out_of_range"
    assert verdict(150, high=200) == "ok"
''',
    "packages/validate/aml-job.yaml": """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
display_name: validate
experiment_name: validate
inputs:
  dispatch:
    type: mltable
    path: ../../data/dispatch
    mode: direct
outputs:
  results:
    type: uri_file
input_data: ${{inputs.dispatch}}
mini_batch_size: "100"  # bytes of the table per mini-batch: a few rows each
resources:
  instance_count: 1
max_concurrency_per_instance: 2
error_threshold: -1
retry_settings:
  max_retries: 1
  timeout: 60
task:
  type: run_function
  code: ./src
  entry_script: entry.py
  environment:
    build:
      path: ./environment
  program_arguments: --high 100
  append_row_to: ${{outputs.results}}
compute: azureml:cpu-cluster
""",
    "pipelines/prep___EXPERIMENT__.yaml": """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: prep-__EXPERIMENT__
experiment_name: __EXPERIMENT__
inputs:
  raw:
    type: uri_folder
    path: ../data/sample
settings:
  default_compute: azureml:cpu-cluster
jobs:
  prep:
    component: ../packages/prep/aml-component.yaml
    inputs:
      raw: ${{parent.inputs.raw}}
  __PKG__:
    component: ../packages/__EXPERIMENT__/aml-component.yaml
    inputs:
      data: ${{parent.jobs.prep.outputs.prepared}}
      epochs: 5
""",
}

_EXPERIMENT = {
    "pyproject.toml": """\
[project]
name = "__EXPERIMENT__"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["shared", "mlflow-skinny>=2.10"]

[tool.uv.sources]
shared = { workspace = true }
""",
    "src/.amlignore": "*.log\n__pycache__/\n.venv/\n",
    "src/__PKG__/__init__.py": "",
    "src/__PKG__/train.py": '''\
"""The experiment: fit a (tiny) model on the values and log its metrics with MLflow."""

import argparse
import json
from pathlib import Path

from shared import log_metric, normalize, read_values


def fit(values: list[float], epochs: int) -> dict:
    """Move an estimate towards the mean, one epoch at a time; the loss shrinks every epoch."""
    target = sum(values) / len(values)
    estimate, losses = 0.0, []
    for _ in range(epochs):
        estimate += (target - estimate) / 2
        losses.append(abs(target - estimate))
    return {"estimate": estimate, "losses": losses}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    model = fit(normalize(read_values(args.data)), args.epochs)
    for step, loss in enumerate(model["losses"]):
        log_metric("loss", loss, step=step)
    out = Path(args.model)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps(model, indent=1))


if __name__ == "__main__":
    main()
''',
    "tests/test___PKG__.py": '''\
from __PKG__.train import fit, main


def test_loss_shrinks_every_epoch():
    losses = fit([0.0, 1.0], epochs=4)["losses"]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]


def test_main_writes_a_model(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "values.csv").write_text("value\\n1\\n2\\n3\\n")
    main(["--data", str(data), "--model", str(tmp_path / "model"), "--epochs", "2"])
    assert (tmp_path / "model" / "model.json").is_file()
''',
    "environment/Dockerfile": """\
FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
# requirements.txt is exported from uv.lock by `amlrun package` (this package and shared/'s dependencies)
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
""",
    "environment/requirements.txt": "mlflow-skinny>=2.10\n",
    "aml-job.yaml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
display_name: __EXPERIMENT__
experiment_name: __EXPERIMENT__
code: ./src
command: python -m __PKG__.train --data ${{inputs.data}} --model ${{outputs.model}} --epochs ${{inputs.epochs}}
inputs:
  data:
    type: uri_folder
    path: ../../data/sample
  epochs: 3
outputs:
  model:
    type: uri_folder
environment:
  build:
    path: ./environment
compute: azureml:cpu-cluster
""",
    "aml-component.yaml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: __PKG__
display_name: __EXPERIMENT__
version: "1"
code: ./src
command: python -m __PKG__.train --data ${{inputs.data}} --model ${{outputs.model}} --epochs ${{inputs.epochs}}
environment:
  build:
    path: ./environment
inputs:
  data:
    type: uri_folder
  epochs:
    type: integer
    default: 3
outputs:
  model:
    type: uri_folder
""",
}

_COMPONENT_ENV = {
    "environment/Dockerfile": _EXPERIMENT["environment/Dockerfile"],
    "environment/requirements.txt": "",
}


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise UsageError(f"experiment name {name!r} is not a valid package name",
                         hint="use lowercase letters, digits, '-' and '_', starting with a letter (e.g. train)")
    if name in ("shared", "prep", "validate"):
        raise UsageError(f"{name!r} is one of the project's own packages", hint="choose another name")
    return name


def _write(root: Path, files: dict[str, str], tokens: dict[str, str]) -> tuple[list[Path], list[Path]]:
    """Write `files` under `root`, never over an existing file: (written, kept)."""
    written, kept = [], []
    for relative, text in files.items():
        for token, value in tokens.items():
            relative, text = relative.replace(token, value), text.replace(token, value)
        path = root / relative
        if path.exists():
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written, kept


def _tokens(root: Path, experiment: str) -> dict[str, str]:
    project = re.sub(r"[^a-z0-9_-]", "-", root.resolve().name.lower()).strip("-") or "project"
    return {"__PROJECT__": project, "__EXPERIMENT__": experiment, "__PKG__": experiment.replace("-", "_")}


def init_project(root: Path, experiment: str = "train") -> tuple[list[Path], list[Path]]:
    """Create the project skeleton in `root` (may exist; files already there are kept)."""
    _check_name(experiment)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file", hint="pass a folder (new or existing)")
    tokens = _tokens(root, experiment)
    files = {**_ROOT, **{f"packages/{experiment}/{k}": v for k, v in _EXPERIMENT.items()}}
    for package in ("prep", "validate"):
        files.update({f"packages/{package}/{k}": v for k, v in _COMPONENT_ENV.items()})
    return _write(root, files, tokens)


def add_experiment(root: Path, experiment: str) -> tuple[list[Path], list[Path]]:
    """Add an experiment package to the project in `root`."""
    _check_name(experiment)
    if not (root / "pyproject.toml").is_file() or not (root / "packages").is_dir():
        raise UsageError(f"{root} has no project made by `amlrun init` (no pyproject.toml and packages/)",
                         hint=f"run `amlrun init {root}` first")
    if (root / "packages" / experiment).exists():
        raise UsageError(f"packages/{experiment} already exists", hint="choose another name")
    tokens = _tokens(root, experiment)
    return _write(root, {f"packages/{experiment}/{k}": v for k, v in _EXPERIMENT.items()}, tokens)
