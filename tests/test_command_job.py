"""Command jobs run locally as real subprocesses, with AzureML's layout and semantics."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLES


def test_example_job_writes_its_output_folder(amlrun, store: Path) -> None:
    result = amlrun("run", EXAMPLES / "hello" / "job.yml", "--name", "hello1")
    assert result.code == 0, result.text
    assert "hello from amlrun" in result.out
    report = store / "datastores" / "workspaceblobstore" / "azureml" / "hello1" / "report" / "top_words.json"
    assert json.loads(report.read_text())["and"] == 3
    shown = amlrun("show", "hello1")
    assert "Completed" in shown.out and "--top 5" in shown.out


def test_failing_job_exit_code_is_recorded(amlrun, write) -> None:
    job = write("fail/job.yml", """
        type: command
        command: echo about to fail; exit 3
    """)
    result = amlrun("run", job, "--name", "boom")
    assert result.code == 1
    shown = amlrun("show", "boom")
    assert "Failed" in shown.out and "exit code: 3" in shown.out


def test_timeout_kills_the_process_group(amlrun, write, tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    job = write("slow/job.yml", f"""
        type: command
        command: (sleep 3; touch {marker}) & sleep 30
        limits:
          timeout: 1
    """)
    result = amlrun("run", job, "--name", "slow")
    assert result.code == 1
    assert "timed out" in amlrun("show", "slow").out
    import time

    time.sleep(3.5)
    assert not marker.exists(), "a child of the timed-out command kept running"


def test_set_overrides_inputs_and_environment(amlrun, write) -> None:
    job = write("ov/job.yml", """
        type: command
        command: echo "epochs=${{inputs.epochs}} flag=$FLAG $[[opt=${{inputs.extra}}]]"
        inputs:
          epochs: 1
        environment_variables:
          FLAG: low
    """)
    plain = amlrun("run", job)
    assert "epochs=1 flag=low" in plain.out and "opt=" not in plain.out
    changed = amlrun("run", job, "--set", "inputs.epochs=3", "--set", "environment_variables.FLAG=high",
                     "--set", "inputs.extra=yes")
    assert changed.code == 0, changed.text
    assert "epochs=3 flag=high opt=yes" in changed.out


def test_amlignore_is_honoured_in_the_snapshot(amlrun, write) -> None:
    write("snap/src/keep.py", "print('kept')\n")
    write("snap/src/secret.txt", "do not ship\n")
    write("snap/src/data/big.bin", "xx\n")
    write("snap/src/.amlignore", "secret.txt\ndata/\n")
    job = write("snap/job.yml", """
        type: command
        code: ./src
        command: ls -A; python keep.py
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert "keep.py" in result.out and "kept" in result.out
    assert "secret.txt" not in result.out and "data" not in result.out.split()
