"""The API the pipeline scheduler uses: plan a parallel component step, run it, run it again to continue."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from amlrun.data.locations import DataContext
from amlrun.engine.events import SilentReporter
from amlrun.engine.parallel import plan_parallel_step, run_parallel_step
from amlrun.engine.planner import plan_inputs, plan_outputs
from amlrun.spec.loader import load_job


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_parallel_component_step_runs_and_a_second_run_continues_from_the_journal(tmp_path: Path) -> None:
    for i in range(6):
        _write(tmp_path / "data" / f"r{i}.txt", f"{i}\n")
    _write(tmp_path / "components" / "src" / "score.py", """
        import os
        def run(mini_batch):
            return [os.path.basename(f) for f in mini_batch]
    """)
    _write(tmp_path / "components" / "score.yml", """
        type: parallel
        name: score
        inputs:
          files: {type: uri_folder}
        outputs:
          scores: {type: uri_folder}
        input_data: ${{inputs.files}}
        mini_batch_size: "2"
        task:
          type: run_function
          code: ./src
          entry_script: score.py
          append_row_to: ${{outputs.scores}}
    """)
    pipeline = _write(tmp_path / "pipeline.yml", """
        type: pipeline
        inputs:
          files: {type: uri_folder, path: ./data}
        outputs:
          scores: {type: uri_folder}
        jobs:
          score:
            type: parallel
            component: ./components/score.yml
            mini_batch_size: "4"
            inputs:
              files: ${{parent.inputs.files}}
            outputs:
              scores: ${{parent.outputs.scores}}
    """)
    root = load_job(pipeline)
    data = DataContext(tmp_path / "store")
    parent_inputs = plan_inputs(root, data)
    parent_outputs = plan_outputs(root, data, "pipe1")
    step = root.children["score"]
    run_dir = tmp_path / "store" / "runs" / "pipe1" / "steps" / "score"
    plan = plan_parallel_step(step, data, "pipe1_score", run_dir, parent_inputs, parent_outputs)
    assert plan.kind == "parallel" and plan.code_dir == (tmp_path / "components" / "src").resolve()
    assert plan.parallel is not None and plan.parallel["mini_batch_size"] == "4"  # the step's override wins

    first = run_parallel_step(plan, SilentReporter(), max_workers=1)
    assert first.status == "Completed", first.error
    rows_file = Path(first.extra["append_row_file"])
    assert rows_file == parent_outputs["scores"].location.local_path / "parallel_run_step.txt"
    assert sorted(rows_file.read_text().split()) == [f"r{i}.txt" for i in range(6)]
    assert first.extra["parallel"]["mini_batches"] == 2

    again = run_parallel_step(plan, SilentReporter(), max_workers=1)
    assert again.status == "Completed"
    assert sorted(rows_file.read_text().split()) == [f"r{i}.txt" for i in range(6)]  # nothing ran twice


def test_cancel_stops_the_workers_and_reports_canceled(tmp_path: Path) -> None:
    import threading

    for i in range(8):
        _write(tmp_path / "data" / f"r{i}.txt", f"{i}\n")
    _write(tmp_path / "src" / "score.py", """
        import os, time
        def run(mini_batch):
            with open(os.environ["PIDS"], "a") as fh:
                fh.write(f"{os.getpid()}\\n")
            time.sleep(30)
            return mini_batch
    """)
    pids = tmp_path / "pids.txt"
    job = _write(tmp_path / "job.yml", f"""
        type: parallel
        inputs:
          files: {{type: uri_folder, path: ./data}}
        input_data: ${{{{inputs.files}}}}
        mini_batch_size: "1"
        max_concurrency_per_instance: 2
        environment_variables:
          PIDS: {pids}
        task:
          type: run_function
          code: ./src
          entry_script: score.py
    """)
    plan = plan_parallel_step(load_job(job), DataContext(tmp_path / "store"), "cancel1",
                              tmp_path / "store" / "runs" / "cancel1")
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    outcome = run_parallel_step(plan, SilentReporter(), cancel, max_workers=2)
    assert outcome.status == "Canceled"
    assert outcome.duration < 20
    for pid in {int(p) for p in pids.read_text().split()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} still running after cancel")
