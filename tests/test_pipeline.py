"""Pipeline jobs run locally as real subprocesses: DAG, concurrency, failures, reuse, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from amlrun.store.records import RunStore
from command_fixtures import interruptible
from conftest import EXAMPLES, SRC
from pipeline_fixtures import (
    LONG_FORM_PIPELINE,
    ran_steps,
    step_records,
    write_diamond,
    write_nested,
    write_stamp_pipeline,
)

BLOB = Path("datastores") / "workspaceblobstore" / "azureml"


def test_example_train_score_eval_writes_the_pipeline_output(amlrun, store: Path) -> None:
    result = amlrun("run", EXAMPLES / "pipeline" / "pipeline.yml", "--name", "demo1")
    assert result.code == 0, result.text
    metrics = json.loads((store / BLOB / "demo1" / "metrics" / "metrics.json").read_text())
    assert metrics["rows"] == 15 and metrics["mae"] < 1.5
    steps = step_records(store, "demo1")
    assert {p: r.status for p, r in steps.items()} == {"train": "Completed", "score": "Completed",
                                                       "evaluate": "Completed"}
    # intermediate data lands in AzureML's default layout, under the step run's id
    model = store / BLOB / steps["train"].name / "model" / "model.json"
    assert set(json.loads(model.read_text())) == {"w", "b"}
    shown = amlrun("show", "demo1")
    assert "train" in shown.out and "evaluate" in shown.out and "Completed" in shown.out
    # an unchanged second run reuses every step and still fills the pipeline output
    again = amlrun("run", EXAMPLES / "pipeline" / "pipeline.yml", "--name", "demo2")
    assert again.code == 0, again.text
    reused = step_records(store, "demo2")
    assert all(r.status == "Reused" for r in reused.values())
    assert reused["train"].reused_from == steps["train"].name
    # as in AzureML, a reused step's outputs are the earlier run's; nothing was copied for them
    assert reused["train"].extra["outputs"]["model"] == str(model.parent)
    assert not (store / BLOB / reused["train"].name).exists()
    assert json.loads((store / BLOB / "demo2" / "metrics" / "metrics.json").read_text()) == metrics
    assert "reused from" in amlrun("show", "demo2").out


def test_diamond_runs_b_and_c_at_the_same_time(amlrun, write, store: Path, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed-1\n")
    write("diamond/other.txt", "other-1\n")
    job = write_diamond(write, tmp_path)
    result = amlrun("run", job, "--name", "dia", "--max-parallel", "2")
    assert result.code == 0, result.text
    assert "d | seed-1" in result.out and "d | other-1" in result.out
    steps = step_records(store, "dia")
    b, c, a, d = steps["b"], steps["c"], steps["a"], steps["d"]
    assert b.started < c.ended and c.started < b.ended, "b and c did not overlap"
    assert a.ended <= min(b.started, c.started) and d.started >= max(b.ended, c.ended)
    assert sorted(ran_steps(tmp_path / "ran.txt")) == ["a", "b", "c", "d"]


def test_changed_input_file_reruns_only_its_dependants(amlrun, write, store: Path, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed-1\n")
    other = write("diamond/other.txt", "other-1\n")
    job = write_diamond(write, tmp_path, b_cmd="true", c_cmd="true")
    assert amlrun("run", job, "--name", "first").code == 0
    log = tmp_path / "ran.txt"
    log.unlink()
    assert amlrun("run", job, "--name", "second").code == 0
    assert ran_steps(log) == []
    time.sleep(0.01)
    other.write_text("other-2\n")
    changed = amlrun("run", job, "--name", "third")
    assert changed.code == 0, changed.text
    assert sorted(ran_steps(log)) == ["c", "d"]
    assert "d | other-2" in changed.out
    states = {p: r.status for p, r in step_records(store, "third").items()}
    assert states == {"a": "Reused", "b": "Reused", "c": "Completed", "d": "Completed"}
    # the same content again is a cache hit again, whatever the file's timestamps say
    log.unlink()
    other.write_text("other-2\n")
    assert amlrun("run", job, "--name", "fourth").code == 0 and ran_steps(log) == []
    assert amlrun("run", job, "--name", "forced", "--force-rerun").code == 0
    assert sorted(ran_steps(log)) == ["a", "b", "c", "d"]


def test_failing_step_skips_downstream_and_sibling_finishes(amlrun, write, store: Path, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed\n")
    write("diamond/other.txt", "other\n")
    job = write_diamond(write, tmp_path, b_cmd="exit 7", c_cmd="sleep 0.5")
    result = amlrun("run", job, "--name", "broken")
    assert result.code == 1
    states = {p: r.status for p, r in step_records(store, "broken").items()}
    assert states == {"a": "Completed", "b": "Failed", "c": "Completed", "d": "Skipped"}
    assert RunStore(store).get("broken").status == "Failed"
    assert step_records(store, "broken")["b"].exit_code == 7
    assert "d" not in ran_steps(tmp_path / "ran.txt")


def test_continue_on_step_failure_false_cancels_running_steps(amlrun, write, store: Path, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed\n")
    write("diamond/other.txt", "other\n")
    job = write_diamond(write, tmp_path, b_cmd="sleep 0.3; exit 1", c_cmd="sleep 20",
                   settings="settings:\n          continue_on_step_failure: false")
    started = time.monotonic()
    result = amlrun("run", job, "--name", "fastfail", "--max-parallel", "2")
    assert result.code == 1
    assert time.monotonic() - started < 15, "the running sibling was not stopped"
    states = {p: r.status for p, r in step_records(store, "fastfail").items()}
    assert states == {"a": "Completed", "b": "Failed", "c": "Canceled", "d": "Skipped"}


def test_resume_after_failure_runs_only_what_is_left(amlrun, write, store: Path, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed\n")
    write("diamond/other.txt", "other\n")
    gate = tmp_path / "gate"
    job = write_diamond(write, tmp_path, b_cmd=f"test -e {gate} || exit 4", c_cmd="true")
    assert amlrun("run", job, "--name", "halfway").code == 1
    log = tmp_path / "ran.txt"
    assert sorted(ran_steps(log)) == ["a", "b", "c"]
    before = step_records(store, "halfway")
    log.unlink()
    gate.touch()
    resumed = amlrun("resume", "halfway")
    assert resumed.code == 0, resumed.text
    assert sorted(ran_steps(log)) == ["b", "d"]
    after = step_records(store, "halfway")
    assert {p: r.status for p, r in after.items()} == {"a": "Completed", "b": "Completed", "c": "Completed",
                                                        "d": "Completed"}
    assert after["a"].started == before["a"].started and after["b"].name == before["b"].name
    assert list(after) == list(before), "resume changed the order of the steps"
    assert RunStore(store).get("halfway").status == "Completed"
    assert "already completed" in amlrun("resume", "halfway").err


def test_set_overrides_step_and_pipeline_inputs(amlrun, write) -> None:
    job = write("ov/pipeline.yml", """
        type: pipeline
        inputs:
          greeting: hello
        jobs:
          say:
            command: echo "${{inputs.greeting}} ${{inputs.times}}"
            inputs:
              greeting: ${{parent.inputs.greeting}}
              times: 1
    """)
    plain = amlrun("run", job)
    assert "say | hello 1" in plain.out, plain.text
    changed = amlrun("run", job, "--set", "inputs.greeting=bonjour", "--set", "jobs.say.inputs.times=3")
    assert changed.code == 0, changed.text
    assert "say | bonjour 3" in changed.out


def test_long_form_step_inputs_bind_order_and_take_their_mode(amlrun, write, store: Path, tmp_path: Path) -> None:
    """`data: {path: ${{parent...}}, mode: m}` means `data: ${{parent...}}` seen in mode m."""
    job = write("long/pipeline.yml", LONG_FORM_PIPELINE)
    write("long/raw/a.txt", "hello\n")
    result = amlrun("run", job, "--name", "long1")
    assert result.code == 0, result.text
    # `use` is written first, yet runs after `prep` and reads its output
    assert "use | hello" in result.out and "use | edited" in result.out
    prep = step_records(store, "long1")["prep"].name
    assert f"use | where=azureml://datastores/workspaceblobstore/paths/azureml/{prep}/out/" in result.out
    # download: prep edited its own copy, never the pipeline's input
    assert (tmp_path / "long" / "raw" / "a.txt").read_text() == "hello\n"
    # the mode really comes from the mapping: as a read-only view the same edit fails the step
    viewed = amlrun("run", job, "--name", "long2", "--set", "jobs.prep.inputs.src.mode=ro_mount")
    assert viewed.code == 1
    assert step_records(store, "long2")["prep"].status == "Failed"
    assert "src/a.txt" in viewed.text


def test_nested_pipeline_component(amlrun, write, store: Path) -> None:
    job = write_nested(write)
    result = amlrun("run", job, "--name", "nest")
    assert result.code == 0, result.text
    assert "show | 4" in result.out and "show | 8" in result.out
    steps = step_records(store, "nest")
    assert set(steps) == {"make", "quadruple", "quadruple.first", "quadruple.second", "show"}
    assert steps["quadruple.first"].parent == steps["quadruple"].name
    assert steps["quadruple"].status == "Completed"
    shown = amlrun("show", "nest").out
    assert shown.index("  make ") < shown.index("  quadruple ") < shown.index("    first ") < shown.index("  show ")


def test_non_deterministic_component_always_runs(amlrun, write, tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    job = write_stamp_pipeline(write, log)
    forced = write("nd/forced.yml", f"""
        type: pipeline
        settings:
          force_rerun: true
        jobs:
          again:
            command: echo again >> {log}
    """)
    for _ in range(2):
        assert amlrun("run", job).code == 0
        assert amlrun("run", forced).code == 0
    assert ran_steps(log) == ["stamp", "again", "stamp", "again"]


def test_ctrl_c_kills_steps_and_records_canceled(store: Path, write, tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    job = write("int/pipeline.yml", f"""
        type: pipeline
        jobs:
          slow:
            command: (sleep 3; touch {marker}) & sleep 30
            outputs:
              o:
          after:
            command: echo never
            inputs:
              x: ${{{{parent.jobs.slow.outputs.o}}}}
    """)
    env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "amlrun", "run", str(job), "--name", "stopme"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (store / "runs.db").exists() and step_records(store, "stopme").get("slow") is not None \
                and step_records(store, "stopme")["slow"].status == "Running":
            break
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    states = {p: r.status for p, r in step_records(store, "stopme").items()}
    assert states == {"slow": "Canceled", "after": "Canceled"}
    assert RunStore(store).get("stopme").status == "Canceled"
    time.sleep(3.2)
    assert not marker.exists(), "a child of the canceled step kept running"


def test_example_pipeline_is_valid_for_azure_ai_ml() -> None:
    """The demo must be a pipeline the service accepts as is, not just one amlrun runs."""
    load_job = __import__("azure.ai.ml", fromlist=["load_job"]).load_job
    result = load_job(EXAMPLES / "pipeline" / "pipeline.yml")._validate()
    assert result.passed, result.error_messages


def test_logs_of_a_pipeline_are_its_steps_events_and_point_to_each_steps_log(amlrun, store: Path) -> None:
    result = amlrun("run", EXAMPLES / "pipeline" / "pipeline.yml", "--name", "plog1")
    assert result.code == 0, result.text
    metrics = store / BLOB / "plog1" / "metrics"
    assert f"[amlrun] output metrics -> {metrics}" in result.err  # the run says where its output went
    logs = amlrun("logs", "plog1")
    assert logs.code == 0, logs.text
    events = [line.split(" ", 1)[1] for line in logs.out.splitlines() if line[:2].isdigit()]
    assert "train: started" in events and "evaluate: Completed in" in " ".join(events)
    assert events[-1].startswith("pipeline plog1 Completed")
    assert "`amlrun logs plog1 --step train` (steps: train, score, evaluate)" in logs.err
    assert "evaluate | mae=" not in logs.out and "mae=" in amlrun("logs", "plog1", "--step", "evaluate").out
