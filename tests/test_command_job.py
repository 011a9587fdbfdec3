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


def test_timeout_kills_the_process_group(amlrun, write, store: Path) -> None:
    from command_fixtures import wait_for_process_group_gone

    job = write("slow/job.yml", """
        type: command
        command: (trap '' TERM; sleep 60) & echo "group=$(ps -o pgid= $$)"; sleep 60
        limits:
          timeout: 1
    """)
    result = amlrun("run", job, "--name", "slow")
    assert result.code == 1
    pgid = int(result.out.split("group=", 1)[1].split()[0])
    assert wait_for_process_group_gone(pgid), "a child of the timed-out command kept running"
    record = _record(store, "slow")
    assert record["status"] == "Failed" and "timed out after limits.timeout=1s" in record["error"]
    assert "exceeded limits.timeout of 1s" in (store / "runs" / "slow" / "user_logs" / "std_log.txt").read_text()


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


def _record(store: Path, name: str) -> dict:
    return json.loads((store / "runs" / name / "record.json").read_text())


def test_failed_record_keeps_the_exit_code(amlrun, write, store: Path) -> None:
    job = write("fail3/job.yml", "type: command\ncommand: echo to stderr >&2; exit 3\n")
    result = amlrun("run", job, "--name", "three")
    assert result.code == 1
    record = _record(store, "three")
    assert record["status"] == "Failed" and record["exit_code"] == 3
    assert "exited with code 3" in record["error"]
    assert "to stderr" in result.out, "stderr is streamed with stdout"
    log = (store / "runs" / "three" / "user_logs" / "std_log.txt").read_text()
    assert "to stderr" in log


def test_outputs_exist_before_the_command_starts(amlrun, write, store: Path, tmp_path: Path) -> None:
    job = write("outs/job.yml", """
        type: command
        command: >-
          test -d ${{outputs.folder}} && test -d "$(dirname ${{outputs.model}})"
          && test ! -e ${{outputs.model}} && test -d ${{outputs.explicit}}
          && echo weights > ${{outputs.model}} && echo done > ${{outputs.folder}}/ok.txt
          && echo "$AZURE_ML_OUTPUT_folder"
        outputs:
          folder:
            type: uri_folder
          model:
            type: uri_file
          explicit:
            type: uri_folder
            path: ./results/here
    """)
    result = amlrun("run", job, "--name", "outs1", cwd=tmp_path)
    assert result.code == 0, result.text
    base = store / "datastores" / "workspaceblobstore" / "azureml" / "outs1"
    assert (base / "folder" / "ok.txt").read_text() == "done\n"
    assert (base / "model" / "model").read_text() == "weights\n"
    assert (tmp_path / "outs" / "results" / "here").is_dir(), "a relative output path is relative to the YAML"
    assert result.out.strip(), "AZURE_ML_OUTPUT_folder is set"
    assert _record(store, "outs1")["extra"]["outputs"]["folder"] == str(base / "folder")


def test_inputs_resolve_relative_to_the_yaml_not_the_working_folder(amlrun, write, tmp_path: Path) -> None:
    write("proj/data/table.csv", "a,b\n1,2\n")
    write("proj/data/more/x.txt", "x\n")
    job = write("proj/jobs/job.yml", """
        type: command
        command: cat ${{inputs.table}} && ls ${{inputs.folder}} && echo "env=$AZURE_ML_INPUT_table" && echo "via-env=$(cat $AZURE_ML_INPUT_table)"
        inputs:
          table:
            type: uri_file
            path: ../data/table.csv
          folder:
            type: uri_folder
            path: ../data/more
    """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = amlrun("run", job, cwd=elsewhere)
    assert result.code == 0, result.text
    assert "a,b\n1,2" in result.out and "x.txt" in result.out
    env_path = Path(result.out.split("env=", 1)[1].split()[0])
    assert env_path.name == "table.csv"  # the mounted view itself is gone after the step, as in AzureML
    assert "via-env=a,b\n1,2" in result.out


def test_a_missing_input_fails_the_run_with_its_path(amlrun, write, store: Path) -> None:
    job = write("noin/job.yml", """
        type: command
        command: cat ${{inputs.data}}
        inputs:
          data: {type: uri_file, path: ./nothing.csv}
    """)
    result = amlrun("run", job, "--name", "noin")
    assert result.code == 1
    record = _record(store, "noin")
    assert record["status"] == "Failed" and "nothing.csv" in record["error"] and "does not exist" in record["error"]


def test_download_mode_gives_the_job_a_private_copy(amlrun, write, tmp_path: Path) -> None:
    original = write("dl/data/words.txt", "original\n")
    job = write("dl/job.yml", """
        type: command
        command: echo changed > ${{inputs.data}}/words.txt && echo "at ${{inputs.data}}"
        inputs:
          data:
            type: uri_folder
            path: ./data
            mode: download
    """)
    result = amlrun("run", job, "--name", "dl1")
    assert result.code == 0, result.text
    assert original.read_text() == "original\n"
    copy_path = result.out.split("at ", 1)[1].split()[0]
    assert Path(copy_path) != original.parent and (Path(copy_path) / "words.txt").read_text() == "changed\n"


def test_literal_inputs_of_all_four_types_and_run_expressions(amlrun, write) -> None:
    job = write("lit/job.yml", """
        type: command
        command: >-
          echo s=${{inputs.s}} n=${{inputs.n}} i=${{inputs.i}} b=${{inputs.b}} f=${{inputs.f}}
          name=${{name}} ds=${{default_datastore}}
        inputs:
          s: hello
          n: 0.5
          i: 3
          b: true
          f: false
    """)
    result = amlrun("run", job, "--name", "lit1")
    assert result.code == 0, result.text
    # AzureML sends literals as str(value): True/False, numbers as written
    assert "s=hello n=0.5 i=3 b=True f=False name=lit1 ds=workspaceblobstore" in result.out


def test_component_typed_number_keeps_an_integer_as_written(amlrun, write) -> None:
    job = write("num/job.yml", """
        type: command
        command: echo lr=${{inputs.lr}}
        inputs:
          lr:
            type: number
            default: 0.5
    """)
    result = amlrun("run", job, "--set", "inputs.lr=1")
    assert "lr=1\n" in result.out, result.text


def test_optional_fragment_present_when_the_input_is_given(amlrun, write) -> None:
    job = write("opt/job.yml", """
        type: command
        command: echo start $[[--seed ${{inputs.seed}}]] end
        inputs:
          seed:
            type: integer
            optional: true
    """)
    absent = amlrun("run", job)
    assert absent.code == 0, absent.text
    assert "start end" in absent.out
    present = amlrun("run", job, "--set", "inputs.seed=7")
    assert "start --seed 7 end" in present.out


def test_gitignore_is_the_fallback_when_there_is_no_amlignore(amlrun, write) -> None:
    write("gi/src/keep.py", "print('kept')\n")
    write("gi/src/notes.log", "local only\n")
    write("gi/src/cache/blob", "x\n")
    write("gi/src/.gitignore", "*.log\ncache/\n")
    job = write("gi/job.yml", "type: command\ncode: ./src\ncommand: ls -A\n")
    result = amlrun("run", job)
    assert result.code == 0, result.text
    listed = result.out.split()
    assert "keep.py" in listed and "notes.log" not in listed and "cache" not in listed


def test_environment_is_announced_once(amlrun, write) -> None:
    job = write("env/job.yml", """
        type: command
        command: python -c "import sys; print(sys.executable)"
        environment: azureml:AzureML-sklearn-1.5@latest
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    announced = [line for line in result.err.splitlines() if "environment:" in line]
    assert len(announced) == 1
    assert "azureml:AzureML-sklearn-1.5@latest -> host interpreter" in announced[0]
    import sys

    assert f"({sys.executable})" in announced[0]


def test_name_clash_and_bad_names_are_usage_errors(amlrun, write, store: Path) -> None:
    job = write("nm/job.yml", "type: command\ncommand: echo once\n")
    assert amlrun("run", job, "--name", "taken").code == 0
    again = amlrun("run", job, "--name", "taken")
    assert again.code == 2 and "Traceback" not in again.text
    assert "a run named 'taken' already exists" in again.err and "hint:" in again.err
    escape = amlrun("run", job, "--name", "../outside")
    assert escape.code == 2 and "not a valid run name" in escape.err
    assert not (store / "outside").exists()


def test_run_folder_keeps_spec_command_logs_snapshot_and_status(amlrun, write, store: Path) -> None:
    write("rf/src/main.py", "print('main ran')\n")
    job = write("rf/job.yml", """
        type: command
        code: ./src
        command: python main.py --epochs ${{inputs.epochs}}
        inputs:
          epochs: 1
    """)
    result = amlrun("run", job, "--name", "rf1", "--set", "inputs.epochs=4")
    assert result.code == 0, result.text
    run_dir = store / "runs" / "rf1"
    import yaml

    assert yaml.safe_load((run_dir / "spec.yml").read_text())["inputs"]["epochs"] == 4
    assert (run_dir / "command.sh").read_text().strip() == "python main.py --epochs 4"
    assert "main ran" in (run_dir / "user_logs" / "std_log.txt").read_text()
    assert (run_dir / "code" / "main.py").is_file()
    record = _record(store, "rf1")
    assert record["status"] == "Completed" and record["extra"]["overrides"] == ["inputs.epochs=4"]
    assert record["spec_path"] == str(job.resolve())
    assert "overrides: --set inputs.epochs=4" in amlrun("show", "rf1").out


def test_output_is_streamed_live_and_kept_in_the_log(write, store: Path, tmp_path: Path) -> None:
    from command_fixtures import LineReader, gate_command, start_amlrun

    gate = tmp_path / "go"
    job = write("live/job.yml", f"type: command\ncommand: {gate_command(gate, 'first-line', 'second-line')}\n")
    proc = start_amlrun("run", job, "--name", "live1", store=store, cwd=tmp_path)
    try:
        out = LineReader(proc.stdout)
        out.wait_for("first-line")
        assert proc.poll() is None, "the job is still waiting for its gate"
        log = store / "runs" / "live1" / "user_logs" / "std_log.txt"
        assert "first-line" in log.read_text() and "second-line" not in log.read_text()
        gate.touch()
        out.wait_for("second-line")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "second-line" in log.read_text()


def test_ctrl_c_kills_the_job_group_and_records_canceled(write, store: Path, tmp_path: Path) -> None:
    import os
    import signal

    from command_fixtures import LineReader, start_amlrun, wait_for_process_group_gone

    job = write("cc/job.yml", """
        type: command
        command: (trap '' TERM; sleep 60) & echo "group=$(ps -o pgid= $$)"; sleep 60
    """)
    proc = start_amlrun("run", job, "--name", "cc1", store=store, cwd=tmp_path)
    try:
        out = LineReader(proc.stdout)
        pgid = int(out.wait_for("group=").split("=", 1)[1])
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_for_process_group_gone(pgid), "a process of the job survived Ctrl-C (even one ignoring SIGTERM)"
    record = _record(store, "cc1")
    assert record["status"] == "Canceled" and record["ended"] is not None
    assert "Traceback" not in proc.stderr.read()


def test_ignore_rules_follow_gitignore_globbing() -> None:
    from amlrun.engine.snapshot import IgnoreRules

    rules = IgnoreRules(["# comment", "*.log", "!keep.log", "/build", "docs/*.md", "**/tmp", "data/",
                         "a/**/z.txt", "secret*", "ba?.txt", "[ab].bin"])
    ignored = ["x.log", "sub/x.log", "build", "docs/a.md", "tmp", "q/r/tmp", "a/z.txt", "a/b/c/z.txt",
               "x/secret.txt", "bad.txt", "a.bin"]
    kept = ["keep.log", "sub/build", "x/docs/a.md", "docs/sub/a.md", "baad.txt", "c.bin", "comment"]
    dirs = {"build", "tmp", "q/r/tmp", "sub/build"}
    assert [p for p in ignored if not rules.ignored(p, p in dirs)] == []
    assert [p for p in kept if rules.ignored(p, p in dirs)] == []
    assert rules.ignored("x/data", True) and not rules.ignored("data", False), "`data/` is for folders only"


def test_a_command_killed_by_a_signal_says_so(amlrun, write, store: Path) -> None:
    job = write("sig/job.yml", "type: command\ncommand: echo before; kill -KILL $$\n")
    assert amlrun("run", job, "--name", "sig1").code == 1
    record = _record(store, "sig1")
    assert record["status"] == "Failed" and record["error"] == "command was killed by SIGKILL (out of memory?)"


def test_a_run_store_inside_the_code_folder_is_not_snapshotted(amlrun, write, tmp_path: Path) -> None:
    write("inside/main.py", "print('ok')\n")
    job = write("inside/job.yml", "type: command\ncode: .\ncommand: find . -name runs.db | wc -l\n")
    store = tmp_path / "inside" / "my-store"
    first = amlrun("run", job, env={"AMLRUN_HOME": str(store)})
    second = amlrun("run", job, env={"AMLRUN_HOME": str(store)})
    assert first.code == 0 and second.code == 0, second.text
    assert second.out.strip() == "0"


def test_plain_commands_skip_the_shell_but_mean_the_same(amlrun, write) -> None:
    """A plain program call runs without bash; anything with shell syntax still goes through bash."""
    import os

    from amlrun.engine.process import command_argv

    env = dict(os.environ)
    assert command_argv("python train.py --lr=0.1 --data /d", env)[:2] == ["python", "train.py"]
    for shelly in ("echo a | cat", "FOO=1 python x", "python x > out", "exit 3", "./run.sh", 'python "a b"',
                   "python x\npython y", "no_such_program_xyz a"):
        assert command_argv(shelly, env)[:2] == ["bash", "-c"], shelly
    script = write("argv/src/run.sh", "#!/bin/sh\necho script says $1\n")
    script.chmod(0o755)
    job = write("argv/job.yml", """
        type: command
        code: ./src
        command: ./run.sh ${{inputs.word}} && python -c "print('shell ok')"
        inputs:
          word: hello
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert "script says hello" in result.out and "shell ok" in result.out
    plain = write("argv/plain.yml", """
        type: command
        command: python -c pass
    """)
    assert amlrun("run", plain).code == 0


def test_run_says_where_each_output_went(amlrun, store: Path) -> None:
    result = amlrun("run", EXAMPLES / "hello" / "job.yml", "--name", "where1")
    assert result.code == 0, result.text
    report = store / "datastores" / "workspaceblobstore" / "azureml" / "where1" / "report"
    assert f"[amlrun] output report -> {report}" in result.err


def test_step_flag_on_a_command_job_is_refused_not_ignored(amlrun) -> None:
    result = amlrun("run", EXAMPLES / "hello" / "job.yml", "--step", "train")
    assert result.code == 2
    assert "--step names a step of a pipeline, but job.yml is a command job" in result.err
    assert "hint: drop --step" in result.err and "hello from amlrun" not in result.out


def test_a_module_a_curated_environment_has_names_that_environment_when_missing_here(amlrun, write) -> None:
    """A curated environment is not built locally: the step runs on the host interpreter, and when that lacks a
    module the script imports, the failure says so and which name to map, not just "exit code 1"."""
    write("proj/src/save_model.py", """
        import argparse
        import azureml_only_estimators  # on AzureML, the curated environment provides it
    """)
    job = write("proj/model_as_output.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: src
        command: >-
          python save_model.py
          --custom_model_output ${{outputs.output_folder}}
        outputs:
          output_folder:
            type: custom_model
        environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    """)
    result = amlrun("run", job)
    assert result.code != 0
    assert ("the command failed importing 'azureml_only_estimators': environment "
            "'azureml://registries/azureml/environments/sklearn-1.5/labels/latest' is not built here") in result.err
    assert "hint: map `sklearn-1.5` in amlrun.yaml `environments:`" in result.err


def test_interactive_services_are_named_as_azureml_only_and_the_command_runs(amlrun, write) -> None:
    job = write("proj/interactive.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: echo "training"
        environment: azureml:AzureML-tensorflow-2.16-cuda12@latest
        services:
          my_vscode:
            type: vs_code
          my_tensorboard:
            type: tensor_board
            log_dir: "outputs/tblogs"
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert ("interactive services my_vscode (vs_code), my_tensorboard (tensor_board) are opened by AzureML only; "
            "here the command runs without them") in result.err
