"""A pipeline whose steps log to MLflow unchanged (a command step, a parallel step with failures, a
downstream step), run once per test module against its own store; shared by the tracking and report tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["TrackedPipeline", "run_cli", "skinny_wheels", "tracked_pipeline", "write_tracked_pipeline"]

SRC = Path(__file__).resolve().parents[1] / "src"

TRAIN = """
import argparse, os
import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--model")
args = parser.parse_args()
mlflow.autolog()
with mlflow.start_run() as run:  # attaches to the step's run, as on AzureML
    mlflow.log_param("optimizer", "sgd")
    for epoch in range(3):
        mlflow.log_metric("acc", round(0.5 + args.lr * (epoch + 1), 4), step=epoch)
    os.makedirs(args.model, exist_ok=True)
    open(os.path.join(args.model, "model.txt"), "w").write(run.info.run_id)
"""

SCORE = """
import mlflow

def init():
    pass

def run(mini_batch):
    rows = []
    for path in mini_batch:
        if "bad" in path:
            raise ValueError("cannot score " + path.rsplit("/", 1)[-1])
        rows.append(path)
    mlflow.log_metric("scored", len(rows))
    return rows
"""

EVALUATE = """
import importlib.util
import sys
import mlflow

# this step runs in a job venv holding mlflow-skinny, which cannot open a sqlite store
assert importlib.util.find_spec("sqlalchemy") is None and importlib.util.find_spec("amlrun") is None
print("interpreter", sys.prefix)

mlflow.log_metric("auc", 0.91)  # no start_run: logs into the step's run
mlflow.log_text("fine", "notes/evaluation.txt")
print("model trained in run", open(sys.argv[1] + "/model.txt").read())
"""

PIPELINE = """
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: tracked-exp
settings: {continue_on_step_failure: true}
inputs:
  lr: 0.1
  files: {type: uri_folder, path: ./data}
jobs:
  train:
    type: command
    code: ./src
    command: python train.py --lr ${{inputs.lr}} --model ${{outputs.model}}
    environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
    inputs: {lr: "${{parent.inputs.lr}}"}
    outputs: {model: {type: uri_folder}}
  score:
    type: parallel
    inputs: {files: "${{parent.inputs.files}}"}
    outputs: {results: {type: uri_file}}
    input_data: ${{inputs.files}}
    mini_batch_size: "2"
    max_concurrency_per_instance: 2
    retry_settings: {max_retries: 1, timeout: 60}
    task:
      type: run_function
      code: ./src
      entry_script: score.py
      append_row_to: ${{outputs.results}}
      program_arguments: --allowed_failed_percent 10  # one of three mini-batches fails: the step fails at the end
      environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
  evaluate:
    type: command
    code: ./src
    command: python evaluate.py ${{inputs.model}}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
      conda_file: ./skinny.yml
    inputs: {model: "${{parent.jobs.train.outputs.model}}"}
"""


@dataclass
class TrackedPipeline:
    root: Path
    store: Path
    run: str
    code: int
    output: str

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.store / 'tracking' / 'mlflow.db'}"


def run_cli(store: Path, cwd: Path, *args: str | Path, timeout: float = 400,
            env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC), "NO_COLOR": "1", **(env_vars or {})}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "amlrun", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_tracked_pipeline(root: Path, skinny_packages: list[str] | None = None) -> Path:
    for name, text in {"train.py": TRAIN, "score.py": SCORE, "evaluate.py": EVALUATE}.items():
        (root / "src").mkdir(parents=True, exist_ok=True)
        (root / "src" / name).write_text(textwrap.dedent(text).lstrip())
    (root / "data").mkdir(exist_ok=True)
    for name in ("a1", "a2", "bad3", "a4", "a5", "a6"):
        (root / "data" / f"{name}.txt").write_text(name)
    (root / "amlrun.yaml").write_text("{}\n")
    packages = skinny_packages or ["mlflow-skinny"]
    (root / "skinny.yml").write_text("name: skinny\ndependencies:\n  - python=3.11\n  - pip:\n"
                                     + "".join(f"    - {name}\n" for name in packages))
    path = root / "pipeline.yml"
    path.write_text(textwrap.dedent(PIPELINE).lstrip())
    return path


def skinny_wheels(folder: Path) -> list[str]:
    """Wheels of mlflow-skinny and what it needs, made from this interpreter's installed files (no index);
    their names (the wheels carry no dependency metadata: the conda file lists them all)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    from env_fixtures import wheel_from_installed

    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    todo = ["mlflow-skinny"]
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        wheel_from_installed(folder, dist.metadata["Name"])
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(seen)


@pytest.fixture(scope="session")
def tracked_pipeline(tmp_path_factory: pytest.TempPathFactory) -> TrackedPipeline:
    """The pipeline above, run once for the session (MLflow's store costs seconds to create); its
    `evaluate` step runs in a job venv with mlflow-skinny, built offline from local wheels."""
    root = tmp_path_factory.mktemp("tracked")
    spec = write_tracked_pipeline(root, skinny_wheels(root / "wheels"))
    store = root / "store"
    offline = {"AMLRUN_ENV_CACHE": str(root / "env-cache"), "UV_CACHE_DIR": str(root / "uv-cache"),
               "UV_FIND_LINKS": str(root / "wheels"), "UV_OFFLINE": "1",
               "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
    result = run_cli(store, root, "run", spec, "--name", "tracked_pipe", env_vars=offline)
    return TrackedPipeline(root, store, "tracked_pipe", result.returncode, result.stdout + result.stderr)
