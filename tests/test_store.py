"""The run store as users see it: concurrent runs, `runs`, `show`, `logs [-f]`, names."""

from __future__ import annotations

import re
from pathlib import Path

from command_fixtures import LineReader, gate_command, start_amlrun


def test_four_runs_at_once_are_all_recorded(write, store: Path, tmp_path: Path, amlrun) -> None:
    job = write("c/job.yml", "type: command\ncommand: echo run ${{name}}\n")
    procs = [start_amlrun("run", job, "--name", f"conc{i}", store=store, cwd=tmp_path) for i in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    listed = amlrun("runs")
    assert listed.code == 0, listed.text
    rows = {line.split()[0]: line.split() for line in listed.out.splitlines()[1:]}
    assert sorted(rows) == ["conc0", "conc1", "conc2", "conc3"]
    assert all(row[1:3] == ["command", "Completed"] for row in rows.values())


def test_runs_lists_name_type_status_start_and_duration(amlrun, write) -> None:
    ok = write("r/ok.yml", "type: command\ncommand: echo fine\n")
    bad = write("r/bad.yml", "type: command\ncommand: exit 4\n")
    assert amlrun("runs").err.startswith("no runs yet")
    amlrun("run", ok, "--name", "first_run")
    amlrun("run", bad, "--name", "second_run")
    listed = amlrun("runs")
    header, *rows = listed.out.splitlines()
    assert header.split() == ["name", "type", "status", "started", "duration"]
    assert [r.split()[0] for r in rows] == ["second_run", "first_run"], "newest first"
    second = rows[0].split()
    assert second[1:3] == ["command", "Failed"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", second[3]) and re.fullmatch(r"\d\d:\d\d:\d\d", second[4])
    assert re.fullmatch(r"\d+\.\ds", second[5])
    assert len(amlrun("runs", "-n", "1").out.splitlines()) == 2


def test_show_accepts_a_unique_prefix_and_explains_ambiguity(amlrun, write) -> None:
    job = write("s/job.yml", "type: command\ncommand: echo ${{inputs.x}}\ninputs:\n  x: 5\n")
    amlrun("run", job, "--name", "alpha_one")
    amlrun("run", job, "--name", "alpha_two")
    shown = amlrun("show", "alpha_t")
    assert shown.code == 0, shown.text
    assert "name:      alpha_two" in shown.out and "command:   echo 5" in shown.out
    ambiguous = amlrun("show", "alpha")
    assert ambiguous.code == 1 and "several runs: alpha_two, alpha_one" in ambiguous.err
    assert "hint:" in ambiguous.err
    # `_` is not a wildcard in prefixes
    assert amlrun("show", "alpha_o").code == 0 and amlrun("show", "alphaXo").code == 1
    missing = amlrun("show", "nope")
    assert missing.code == 1 and "no run named 'nope'" in missing.err and "Traceback" not in missing.text


def test_logs_prints_a_finished_runs_log(amlrun, write) -> None:
    job = write("l/job.yml", "type: command\ncommand: echo one; echo two >&2\n")
    amlrun("run", job, "--name", "logged")
    result = amlrun("logs", "logged")
    assert result.code == 0 and result.out == "one\ntwo\n"


def test_logs_follow_of_a_failed_run_exits_non_zero_printing_a_failed_run_does_not(amlrun, write) -> None:
    job = write("l/bad.yml", "type: command\ncommand: echo trying; exit 3\n")
    assert amlrun("run", job, "--name", "bad").code != 0
    printed = amlrun("logs", "bad")
    assert printed.code == 0 and printed.out == "trying\n"
    followed = amlrun("logs", "bad", "-f")
    assert followed.code == 1 and followed.out == "trying\n" and "bad ended Failed" in followed.err


def test_logs_follow_prints_lines_as_they_come_and_ends_with_the_run(write, store: Path, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    job = write("f/job.yml", f"type: command\ncommand: {gate_command(gate, 'early', 'late')}\n")
    run = start_amlrun("run", job, "--name", "followed", store=store, cwd=tmp_path)
    follow = None
    try:
        LineReader(run.stdout).wait_for("early")
        follow = start_amlrun("logs", "followed", "-f", store=store, cwd=tmp_path)
        lines = LineReader(follow.stdout)
        lines.wait_for("early")
        assert follow.poll() is None, "still following while the run runs"
        gate.touch()
        lines.wait_for("late")
        assert run.wait(timeout=60) == 0
        assert follow.wait(timeout=30) == 0, "logs -f ends when the run ends"
        assert lines.rest() == "early\nlate\n"
    finally:
        for proc in (run, follow):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_generated_names_look_like_azureml_run_names(amlrun, write, store: Path) -> None:
    job = write("n/job.yml", "type: command\ncommand: echo ${{name}}\n")
    names = set()
    for _ in range(3):
        result = amlrun("run", job)
        names.add(result.out.strip())
    assert len(names) == 3
    for name in names:
        assert re.fullmatch(r"[a-z]+_[a-z]+_[a-z0-9]{10}", name), name
        assert (store / "runs" / name / "record.json").is_file()


def test_logs_follow_ends_when_the_amlrun_running_the_job_was_killed(write, store: Path, tmp_path: Path,
                                                                   amlrun) -> None:
    import os
    import signal

    gate = tmp_path / "never"
    job = write("k/job.yml", f"type: command\ncommand: {gate_command(gate, 'started', 'never-printed')}\n")
    run = start_amlrun("run", job, "--name", "killed", store=store, cwd=tmp_path)
    try:
        LineReader(run.stdout).wait_for("started")
        os.kill(run.pid, signal.SIGKILL)  # no chance to record anything
        run.wait(timeout=30)
        followed = amlrun("logs", "killed", "-f", timeout=60)
        assert followed.code == 1 and "started" in followed.out  # the run did not succeed: nor does `logs -f`
        assert "is gone; the run will not finish" in followed.err and "killed ended Failed (orphaned)" in followed.err
        assert "Failed (orphaned)" in amlrun("show", "killed").out
    finally:
        if run.poll() is None:
            run.kill()
        gate.touch()  # lets the orphaned job finish quickly


def test_the_index_survives_many_writers_at_once(tmp_path: Path) -> None:
    """8 processes each create and update 25 runs in a fresh store at the same time: nothing is lost."""
    import os
    import subprocess
    import sys

    from conftest import SRC

    writer = """
import sys
from pathlib import Path
from amlrun.store.records import RunRecord, RunStore
store = RunStore(Path(sys.argv[1]))
for i in range(25):
    record = RunRecord(name=f"w{sys.argv[2]}_{i}", type="command", status="Running",
                       run_dir=str(Path(sys.argv[1]) / "runs" / f"w{sys.argv[2]}_{i}"))
    store.create(record)
    store.update(record, status="Completed")
"""
    root = tmp_path / "busy"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(root), str(n)], env=env,
                              stderr=subprocess.PIPE, text=True) for n in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    from amlrun.store.records import RunStore

    records = RunStore(root).recent(limit=1000)
    assert len(records) == 200 and {r.status for r in records} == {"Completed"}


def test_looking_at_runs_in_a_folder_without_any_creates_no_store(amlrun, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    no_home = {"AMLRUN_HOME": ""}
    assert amlrun("runs", cwd=empty, env=no_home).err.startswith("no runs yet")
    missing = amlrun("show", "some_run", cwd=empty, env=no_home)
    assert missing.code == 1 and "no run named 'some_run'" in missing.err and "--store" in missing.err
    assert amlrun("logs", "some_run", cwd=empty, env=no_home).code == 1
    assert list(empty.iterdir()) == []


def test_a_run_kept_in_another_projects_store_says_how_to_find_it(amlrun, write, tmp_path: Path) -> None:
    job = write("proj/job.yml", "type: command\ncommand: echo hi\n")
    write("proj/amlrun.yaml", "datastores: {}\n")
    here = tmp_path / "here"
    here.mkdir()
    result = amlrun("run", job, "--name", "far1", cwd=here, env={"AMLRUN_HOME": ""})
    assert result.code == 0, result.text
    kept = tmp_path / "proj" / ".amlrun"
    assert f"this run is kept in {kept}" in result.err and "`amlrun show far1` finds it from any folder" in result.err
    assert amlrun("show", "far1", "--store", kept, cwd=here).code == 0
    assert amlrun("show", "far1", cwd=here, env={"AMLRUN_HOME": ""}).code == 0
    assert list(here.iterdir()) == []
