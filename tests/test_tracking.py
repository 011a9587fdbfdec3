"""MLflow in steps works as on AzureML: unchanged scripts log into their step's run, read back by MLflow."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tracking_fixtures import TrackedPipeline, run_cli

mlflow = pytest.importorskip("mlflow", reason="amlrun[tracking] (mlflow-skinny) is not installed")


@pytest.fixture(scope="module")
def tracked(tracked_pipeline: TrackedPipeline) -> TrackedPipeline:
    assert tracked_pipeline.code == 1, tracked_pipeline.output  # its parallel step fails, as it should
    return tracked_pipeline


@pytest.fixture(scope="module")
def client(tracked: TrackedPipeline):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracked.tracking_uri)


def test_pipeline_is_the_parent_run_and_steps_its_children(tracked: TrackedPipeline, client) -> None:
    experiment = client.get_experiment_by_name("tracked-exp")
    assert experiment is not None, "experiment_name of the pipeline names the MLflow experiment"
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"tracked_pipe", "tracked_pipe_train", "tracked_pipe_score", "tracked_pipe_evaluate"}
    parent = runs["tracked_pipe"]
    for step, status in (("train", "FINISHED"), ("score", "FAILED"), ("evaluate", "FINISHED")):
        child = runs[f"tracked_pipe_{step}"]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["amlrun.step"] == step
        assert child.info.status == status, step
        assert child.info.end_time and child.info.end_time >= child.info.start_time
    assert parent.info.status == "FAILED"  # a step failed
    assert runs["tracked_pipe_score"].data.tags["amlrun.job_type"] == "parallel"


def test_logged_values_params_and_history_read_back(tracked: TrackedPipeline, client) -> None:
    experiment = client.get_experiment_by_name("tracked-exp")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    train = runs["tracked_pipe_train"]
    # start_run() inside the step attached to the step's run: the id it saw is the run amlrun made
    model = next((tracked.store / "datastores").rglob("model.txt"))
    assert model.read_text() == train.info.run_id
    assert train.data.params["optimizer"] == "sgd"  # logged by the script
    assert train.data.params["lr"] == "0.1"  # a literal input, recorded by amlrun
    history = client.get_metric_history(train.info.run_id, "acc")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(0, 0.6), (1, 0.7), (2, 0.8)]
    evaluate = runs["tracked_pipe_evaluate"]
    assert evaluate.data.tags["amlrun.environment"].startswith("venv ")  # a job venv with mlflow-skinny only
    assert evaluate.data.metrics == {"auc": 0.91}  # log_metric without start_run
    artifact = Path(evaluate.info.artifact_uri.removeprefix("file://")) / "notes" / "evaluation.txt"
    assert artifact.read_text() == "fine"
    assert runs["tracked_pipe_score"].data.metrics["scored"] == 2  # parallel workers log to the step's run


def test_show_lists_params_and_last_metric_values(tracked: TrackedPipeline) -> None:
    shown = run_cli(tracked.store, tracked.root, "show", tracked.run)
    assert shown.returncode == 0, shown.stderr
    assert "experiment: tracked-exp" in shown.stdout
    train_line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("train"))
    assert "acc=0.8" in train_line and "lr=0.1" in train_line
    evaluate_line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("evaluate"))
    assert "auc=0.91" in evaluate_line


def test_a_job_that_does_not_call_mlflow_leaves_no_mlflow_run(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("type: command\ncommand: echo hi\n"
                                      "environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n")
    result = run_cli(tmp_path / "store", tmp_path, "run", tmp_path / "job.yml", "--name", "plain")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "store" / "tracking").exists()  # MLflow was never loaded
    shown = run_cli(tmp_path / "store", tmp_path, "show", "plain")
    assert "experiment:" not in shown.stdout


def test_runs_metric_orders_runs_of_an_experiment_by_their_value(tracked: TrackedPipeline) -> None:
    sweep = tracked.root / "sweep"
    (sweep / "src").mkdir(parents=True)
    (sweep / "src" / "fit.py").write_text("import sys, mlflow\nmlflow.log_metric('acc', float(sys.argv[1]))\n")
    (sweep / "job.yml").write_text(
        "type: command\nexperiment_name: sweep-exp\ncode: src\ncommand: python fit.py ${{inputs.lr}}\n"
        "inputs: {lr: 0.1}\nenvironment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n")
    with ThreadPoolExecutor(3) as pool:  # three runs at once, as a sweep would start them
        results = list(pool.map(lambda run: run_cli(tracked.store, sweep, "run", sweep / "job.yml", "--name", run[0],
                                                    "--set", f"inputs.lr={run[1]}"),
                                (("lr_mid", "0.2"), ("lr_low", "0.1"), ("lr_high", "0.3"))))
    for result in results:
        assert result.returncode == 0, result.stderr
    listed = run_cli(tracked.store, sweep, "runs", "--experiment", "sweep-exp", "--metric", "acc")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert [(row[0], row[-1]) for row in rows] == [("lr_high", "0.3"), ("lr_mid", "0.2"), ("lr_low", "0.1")]
    ascending = run_cli(tracked.store, sweep, "runs", "--experiment", "sweep-exp", "--metric", "acc", "--asc")
    assert [line.split()[0] for line in ascending.stdout.splitlines()[1:] if line.strip()] == \
        ["lr_low", "lr_mid", "lr_high"]
    every = run_cli(tracked.store, sweep, "runs", "--metric", "acc")  # a pipeline counts its steps' values
    first = every.stdout.splitlines()[1].split()
    assert (first[0], first[-1]) == (tracked.run, "0.8")


def test_ui_says_how_to_get_mlflows_ui_when_only_the_client_is_installed(tracked: TrackedPipeline) -> None:
    from amlrun.store.tracking import full_mlflow_installed

    if full_mlflow_installed():
        pytest.skip("the full mlflow package is installed here: `amlrun ui` would start the server")
    result = run_cli(tracked.store, tracked.root, "ui", "--port", "5123")
    assert result.returncode == 2
    assert "full `mlflow` package" in result.stderr
    assert f"--backend-store-uri {tracked.tracking_uri} --port 5123" in result.stderr
    assert "Traceback" not in result.stderr
