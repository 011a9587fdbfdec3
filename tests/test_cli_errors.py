"""Bad input a real user produces ends in one clear paragraph and a non-zero exit, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from parallel_fixtures import file_job

HELLO = "type: command\ncommand: echo hello\n"


def _clean(result) -> None:
    assert "Traceback" not in result.text and "internal error" not in result.text, result.text


@pytest.mark.parametrize("damage", ["garbage", "folder", "foreign_table"])
def test_a_damaged_run_index_is_named_with_a_way_out(amlrun, write, store: Path, damage: str) -> None:
    job = write("j/job.yml", HELLO)
    assert amlrun("run", job, "--name", "first").code == 0
    index = store / "runs.db"
    for path in store.glob("runs.db*"):
        path.unlink()
    if damage == "garbage":
        index.write_bytes(b"this is not sqlite" * 300)
    elif damage == "folder":
        index.mkdir()
    else:
        with sqlite3.connect(index) as db:
            db.execute("CREATE TABLE runs (x INTEGER)")
    for args in (("runs",), ("show", "first"), ("run", str(job))):
        result = amlrun(*args)
        assert result.code == 1, result.text
        _clean(result)
        assert f"the run index {index}" in result.err and f"mv {index}" in result.err
    assert (store / "runs" / "first" / "record.json").is_file(), "nothing the user owns is touched"


def test_amlrun_home_that_is_a_file_is_refused(amlrun, write, tmp_path: Path) -> None:
    job = write("j/job.yml", HELLO)
    not_a_folder = write("home.txt", "my notes\n")
    for args in (("runs",), ("run", str(job))):
        result = amlrun(*args, env={"AMLRUN_HOME": str(not_a_folder)})
        assert result.code == 2, result.text
        _clean(result)
        assert f"the run store {not_a_folder} is a file, not a folder" in result.err
        assert "AMLRUN_HOME" in result.err
    assert not_a_folder.read_text() == "my notes\n"


def test_logs_of_a_run_whose_folder_was_deleted_say_so(amlrun, write, store: Path) -> None:
    import shutil

    assert amlrun("run", write("j/job.yml", HELLO), "--name", "gone").code == 0
    shutil.rmtree(store / "runs" / "gone")
    logs = amlrun("logs", "gone")
    assert logs.code == 1 and "the folder of run gone is gone" in logs.err, logs.text
    _clean(logs)
    show = amlrun("show", "gone")
    assert show.code == 0 and "(missing: deleted or moved)" in show.out
    empty = amlrun("show", "")
    assert empty.code == 2 and "the run name is empty" in empty.err


def test_amlrun_yaml_data_asset_mapping_to_nothing_is_a_spec_error(amlrun, write, tmp_path: Path) -> None:
    write("p/amlrun.yaml", "data:\n  seqs:\n  imgs: {'1': ./x, '2': 5}\n")
    job = write("p/job.yml", "type: command\ncommand: ls ${{inputs.d}}\n"
                             "inputs:\n  d: {type: uri_folder, path: 'azureml:seqs:1'}\n")
    result = amlrun("run", job)
    assert result.code == 2, result.text
    _clean(result)
    assert "amlrun.yaml:2:3: data.seqs: data asset 'seqs' maps to nothing, not a path or URI" in result.err
    assert "data.imgs.2: version '2' of data asset 'imgs' maps to a number" in result.err


def test_an_empty_amlrun_yaml_is_an_empty_config(amlrun, write) -> None:
    write("p/amlrun.yaml", "# datastores come later\n")
    assert amlrun("run", write("p/job.yml", HELLO)).code == 0
    write("q/amlrun.yaml", "datastores\n")
    wrong = amlrun("run", write("q/job.yml", HELLO))
    assert wrong.code == 2 and "found a string (amlrun.yaml holds sections like `datastores:`" in wrong.err, wrong.text


def test_a_command_that_does_not_exist_says_what_127_means(amlrun, write) -> None:
    result = amlrun("run", write("j/job.yml", "type: command\ncommand: no_such_tool_xyz --go\n"))
    assert result.code == 1
    assert "no_such_tool_xyz: command not found" in result.text
    assert "code 127: the shell did not find a program it names: `no_such_tool_xyz`; check `command:`" in result.err


def test_a_program_the_jobs_image_would_provide_is_named_with_where_it_comes_from(amlrun, write) -> None:
    """A Julia/R job whose Dockerfile installs the language: run on the host, the failure names the program."""
    write("jl/docker-context/Dockerfile", "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n"
                                          "RUN apt-get update && apt-get install -y julia-lang-xyz\n")
    write("jl/src/run.jl", "println(1)\n")
    job = write("jl/job.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: src
        command: >-
          julia_lang_xyz -e "include(\\"run.jl\\")"
        environment:
          build:
            path: docker-context
        compute: azureml:cpu-cluster
    """)
    result = amlrun("run", job)
    assert result.code == 1
    assert ("the shell did not find a program it names: `julia_lang_xyz`; on AzureML the job's environment "
            "(build docker-context) provides it") in result.err, result.text

    # an R job sourcing the venv its Dockerfile creates: bash's own last line is the reason, not just "code 1"
    write("jl/job.yml", job.read_text().replace('julia_lang_xyz -e "include(\\"run.jl\\")"',
                                                "source /usr/venv_xyz/bin/activate\n  Rscript run.R"))
    sourced = amlrun("run", job)
    assert ("command exited with code 1: bash: line 1: /usr/venv_xyz/bin/activate: No such file or directory "
            "(on AzureML the job's environment, build docker-context, may provide it)") in sourced.err, sourced.text


@pytest.mark.parametrize(("script", "expected"), [
    ("def init(:\n    pass\ndef run(mb):\n    return mb\n",
     "loading the entry script failed in process000: score.py:1: SyntaxError: invalid syntax"),
    ("def init():\n    pass\n", "entry script score.py has no run(mini_batch) function"),
    ("import helper\ndef init():\n    helper.boom()\ndef run(mb):\n    return mb\n",
     "init() of the entry script failed in process000: helper.py:2 in boom(): KeyError: 'k'"),
])
def test_a_broken_entry_script_is_one_line_pointing_at_the_users_code(amlrun, tmp_path: Path, store: Path,
                                                                     script: str, expected: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("def boom():\n    raise KeyError('k')\n")
    job = file_job(tmp_path, script, files=2)
    result = amlrun("run", job, "--name", "broken", "--max-workers", "1")
    assert result.code == 1, result.text
    assert expected in result.err, result.err
    assert "Traceback" not in result.text and "amlrun/engine" not in result.text
    assert "(traceback in logs/user/stderr/process000.stderr.txt)" in result.err
    log = store / "runs" / "broken" / "logs" / "user" / "stderr" / "process000.stderr.txt"
    assert "Traceback" in log.read_text(), "the whole story stays in the worker's log"



@pytest.mark.parametrize("flag", ["--max-parallel", "--max-workers"])
def test_zero_parallelism_is_refused_not_read_as_the_default(amlrun, write, flag: str) -> None:
    job = write("j/job.yml", HELLO)
    result = amlrun("run", job, flag, "0")
    assert result.code == 2 and f"Invalid value for '{flag}': 0 is not in the range x>=1" in result.err
    _clean(result)


def test_a_damaged_step_cache_warns_and_the_pipeline_still_runs(amlrun, write, store: Path) -> None:
    job = write("p/pipeline.yml", """
        type: pipeline
        jobs:
          hello:
            command: echo hello
    """)
    assert amlrun("run", job, "--name", "one").code == 0
    for path in store.glob("cache.db*"):
        path.unlink()
    (store / "cache.db").write_bytes(b"not a database " * 500)
    result = amlrun("run", job, "--name", "two")
    assert result.code == 0, result.text
    _clean(result)
    assert "the step cache" in result.err and "every step runs and nothing is reused" in result.err
    assert result.err.count("the step cache") == 1
    assert "hello" in amlrun("logs", "two", "--step", "hello").out
