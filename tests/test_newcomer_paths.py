"""Small things a newcomer trips on: runs found from any folder, public containers, near-miss `--set`,
and `show` of a parallel run that had failures."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from parallel_fixtures import file_job

HELLO = """
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello from ${{inputs.greeting}}"
inputs:
  greeting: world
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:cpu-cluster
"""


def test_show_logs_and_resume_find_a_run_started_in_another_project(amlrun, write, tmp_path: Path) -> None:
    write("project_a/amlrun.yaml", "")
    job = write("project_a/hello.yml", HELLO)
    elsewhere = tmp_path / "somewhere_else"
    elsewhere.mkdir()
    no_home = {"AMLRUN_HOME": ""}  # stores follow the project, as for a user with no AMLRUN_HOME

    ran = amlrun("run", job, "--name", "far_away_run", cwd=elsewhere, env=no_home)
    assert ran.code == 0, ran.text
    assert (tmp_path / "project_a" / ".amlrun" / "runs.db").is_file()

    shown = amlrun("show", "far_away_run", cwd=elsewhere, env=no_home)
    assert shown.code == 0, shown.text
    assert "Completed" in shown.out and str(tmp_path / "project_a" / ".amlrun") in shown.err
    logs = amlrun("logs", "far_away_run", cwd=elsewhere, env=no_home)
    assert logs.code == 0 and "hello from world" in logs.out
    resumed = amlrun("resume", "far_away_run", cwd=elsewhere, env=no_home)
    assert "already completed" in resumed.err  # found; nothing left to do
    listed = amlrun("runs", cwd=elsewhere, env=no_home)
    assert "1 run kept in" in listed.err and str(tmp_path / "project_a" / ".amlrun") in listed.err
    assert (tmp_path / "user-state" / "run-index" / "far_away_run").is_file()  # the index is under tmp_path


def test_undeclared_public_container_hint_names_anonymous_credential(amlrun, write) -> None:
    job = write("hello-iris.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: python -c "print(open('${{inputs.iris_csv}}').read()[:10])"
        inputs:
          iris_csv:
            type: uri_file
            path: wasbs://datasets@azuremlexamples.blob.core.windows.net/iris.csv
        environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
        """)
    result = amlrun("run", job)
    assert result.code == 1
    assert "container 'datasets' of account 'azuremlexamples'" in result.err
    assert "credential: anonymous" in result.err


def test_set_beside_a_short_input_name_gets_the_near_miss_note(amlrun, write) -> None:
    job = write("job.yml", """
        command: echo ${{inputs.x}}
        inputs:
          x: 1
        """)
    checked = amlrun("check", "--no-sdk", job, "--set", "inputs.xx=42")
    assert checked.code == 0, checked.text
    assert "did you mean `inputs.x`?" in checked.err


def test_show_of_a_parallel_run_lists_failed_mini_batches(amlrun, tmp_path: Path) -> None:
    script = """
        def init():
            pass

        def run(mini_batch):
            for path in mini_batch:
                if "content 1" in open(path).read():
                    raise ValueError(f"cannot parse {path.rsplit('/', 1)[-1]}")
            return [p.rsplit("/", 1)[-1] for p in mini_batch]
        """
    job = file_job(tmp_path / "job", script, files=20, mini_batch_size="1",
                   retry_settings={"max_retries": 0, "timeout": 30}, error_threshold=-1)
    data = yaml.safe_load(job.read_text())
    data["max_concurrency_per_instance"] = 1
    job.write_text(yaml.safe_dump(data))
    ran = amlrun("run", job, "--name", "prs_with_failures", "--max-workers", "1")
    assert ran.code in (0, 1), ran.text
    shown = amlrun("show", "prs_with_failures")
    assert shown.code == 0, shown.text
    # f01 and f10..f13 hold "content 1...": five failures, each listed with its file and error line
    # f01 and f10..f19 hold "content 1...": eleven failures; the first ten listed with file and error line
    assert "failed mini-batches (11):" in shown.out
    assert "#1 (1 attempt): files/f01.txt" in shown.out and "ValueError: cannot parse f18.txt" in shown.out
    assert "f19.txt" not in shown.out and "1 more" in shown.out
    assert "processed_mini-batches.csv" in shown.out and os.sep + "error" in shown.out
