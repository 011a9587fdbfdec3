"""Exactly-once rows across a driver killed with SIGKILL, resumption, and torn journal writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from amlrun.engine.parallel.journal import Commit, Journal
from amlrun.engine.parallel.partition import parse_mini_batch_size
from conftest import SRC
from parallel_fixtures import file_job, read_rows
from pipeline_fixtures import shown_steps

SLOW = """
    import os, time
    def run(mini_batch):
        time.sleep(0.2)
        return [os.path.basename(f) for f in mini_batch]
"""


def test_resume_after_the_driver_is_sigkilled_loses_and_duplicates_nothing(amlrun, store: Path, tmp_path: Path) -> None:
    job = file_job(tmp_path, SLOW, files=40, mini_batch_size="2")
    env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC)}
    driver = subprocess.Popen([sys.executable, "-m", "amlrun", "run", str(job), "--name", "crash1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = store / "runs" / "crash1" / "parallel" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_bytes().splitlines()) >= 4:
            break
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    committed = len(journal.read_bytes().splitlines())
    assert 4 <= committed < 20, "the driver should have been killed mid-job"
    assert "Failed (orphaned)" in amlrun("show", "crash1").out  # its amlrun died: no step left running

    result = amlrun("resume", "crash1")
    assert result.code == 0, result.text
    assert f"continuing: {committed}" in result.err or "continuing:" in result.err
    rows = read_rows(store, "crash1")
    assert sorted(rows) == sorted(f"f{i:02d}.txt" for i in range(40))  # no loss, no duplicates


FEWER = """
    import os
    def run(mini_batch):
        names = [os.path.basename(f) for f in mini_batch]
        return names[:-1] if "f02.txt" in names else names
"""


def test_resume_reruns_partially_failed_mini_batches_without_duplicating_their_rows(
        amlrun, store: Path, tmp_path: Path) -> None:
    job = file_job(tmp_path, FEWER, mini_batch_size="3", error_threshold=0, max_concurrency_per_instance=1)
    assert amlrun("run", job, "--name", "partial1").code == 1
    assert read_rows(store, "partial1") == []  # a failed step's rows are not published ...
    staged = [line for f in (store / "staging").rglob("results") for line in f.read_text().splitlines()]
    assert "f00.txt" in staged  # ... but kept aside, where resume continues them
    (tmp_path / "src" / "score.py").write_text(textwrap.dedent(FEWER.replace("names[:-1] if", "names if")))
    result = amlrun("resume", "partial1")
    assert result.code == 0, result.text
    assert sorted(read_rows(store, "partial1")) == sorted(f"f{i:02d}.txt" for i in range(7))


def test_journal_drops_torn_commits_on_open(tmp_path: Path) -> None:
    out = tmp_path / "rows.txt"
    journal = Journal(tmp_path / "j", out)
    journal.commit([(Commit(0, "ok", items=2, returned=2), "a\nb\n", None)])
    journal.close()
    with open(out, "ab") as fh:  # a driver killed after writing rows, before journaling them
        fh.write(b"c\n")
    with open(tmp_path / "j" / "journal.jsonl", "ab") as fh:  # ... or in the middle of a journal line
        fh.write(b'{"index":1,"sta')
    reopened = Journal(tmp_path / "j", out)
    assert out.read_text() == "a\nb\n"
    assert reopened.succeeded() == {0}
    reopened.commit([(Commit(1, "ok", items=1, returned=1), "c\n", None)])
    reopened.close()
    assert out.read_text() == "a\nb\nc\n" and Journal(tmp_path / "j", out).succeeded() == {0, 1}


def test_mini_batch_size_uses_binary_multipliers() -> None:
    assert parse_mini_batch_size("10") == (10, False)
    assert parse_mini_batch_size("10kb") == (10240, True)
    assert parse_mini_batch_size("2MB") == (2 * 1024 ** 2, True)


def test_append_row_format_of_what_run_returns() -> None:
    import pandas
    import pytest

    from amlrun.engine.parallel.worker import format_rows

    assert format_rows(["a", 1, ("t", 2)], header=False) == (3, "a\n1\n('t', 2)\n", None)
    assert format_rows(pandas.Series([1, 2]), header=False) == (2, "1\n2\n", None)
    frame = pandas.DataFrame({"name": ["x", "y"], "score": [1, 2]})
    assert format_rows(frame, header=True) == (2, "x 1\ny 2\n", "name score\n")
    with pytest.raises(TypeError, match="must return a list, a tuple or a DataFrame"):
        format_rows("not a list", header=False)


def test_prs_flags_in_program_arguments_set_the_local_rules() -> None:
    from amlrun.engine.parallel.plan import ParallelSettings, apply_prs_flags

    settings = ParallelSettings(entry_script="score.py")
    argv = ["--model", "m", "--error_threshold", "7", "--allowed_failed_percent", "12.5", "--run_invocation_timeout",
            "9", "--run_max_try", "4", "--allowed_failed_count", "3", "--task_overhead_timeout", "100",
            "--first_task_creation_timeout", "600", "--resource_monitor_interval", "0"]
    assert apply_prs_flags(settings, argv) == []
    assert (settings.error_threshold, settings.allowed_failed_percent, settings.timeout, settings.max_retries,
            settings.mini_batch_error_threshold) == (7, 12.5, 9, 3, 3)
    assert argv[:2] == ["--model", "m"] and len(argv) == 18  # the script still sees every flag, as in the service
    assert apply_prs_flags(settings, ["--allowed_failed_percent", "150"]) != []  # out of range: noted, ignored
    assert settings.allowed_failed_percent == 12.5


def test_resume_reruns_the_failed_mini_batches_of_a_run_that_completed_within_its_thresholds(
        amlrun, store: Path, tmp_path: Path) -> None:
    job = file_job(tmp_path, FEWER, mini_batch_size="3", max_concurrency_per_instance=1)  # no thresholds
    first = amlrun("run", job, "--name", "tolerant1")
    assert first.code == 0 and "3/3 mini-batches succeeded, 1 items failed" in first.err
    (tmp_path / "src" / "score.py").write_text(textwrap.dedent(FEWER.replace("names[:-1] if", "names if")))
    result = amlrun("resume", "tolerant1")
    assert result.code == 0, result.text
    assert "1 to run again" in result.err and "3/3 mini-batches succeeded" in result.err
    assert sorted(read_rows(store, "tolerant1")) == sorted(f"f{i:02d}.txt" for i in range(7))
    again = amlrun("resume", "tolerant1")
    assert again.code == 1 and "already completed; nothing to resume" in again.err


def test_pipeline_resume_reruns_only_the_failed_mini_batches_of_a_parallel_step_and_what_reads_its_rows(
        amlrun, write, store: Path, tmp_path: Path) -> None:
    marker, log = tmp_path / "flaky.marker", tmp_path / "ran.txt"
    marker.touch()
    write("pipe/src/count.py", f"""
        import os
        from pathlib import Path
        def run(mini_batch):
            names = [Path(p).name for p in mini_batch]
            with open({str(log)!r}, "a") as fh:
                fh.write(" ".join(names) + "\\n")
            failing = os.path.exists({str(marker)!r}) and "doc3.txt" in names
            return names[:-1] if failing else names  # one item short: a failed item
    """)
    job = write("pipe/pipeline.yml", f"""
        type: pipeline
        outputs:
          summary: {{type: uri_folder}}
        jobs:
          prep:
            type: command
            command: echo prep >> {log}; for i in 1 2 3 4 5; do echo $i > ${{{{outputs.out}}}}/doc$i.txt; done
            outputs:
              out: {{type: uri_folder}}
          count:
            type: parallel
            inputs:
              files: {{type: uri_folder, path: "${{{{parent.jobs.prep.outputs.out}}}}"}}
            outputs:
              rows: {{type: uri_file}}
            input_data: ${{{{inputs.files}}}}
            mini_batch_size: "2"
            max_concurrency_per_instance: 1
            task:
              type: run_function
              code: ./src
              entry_script: count.py
              append_row_to: ${{{{outputs.rows}}}}
          total:
            type: command
            command: echo total >> {log}; wc -l < ${{{{inputs.rows}}}} > ${{{{outputs.out}}}}/total.txt
            inputs:
              rows: {{type: uri_file, path: "${{{{parent.jobs.count.outputs.rows}}}}"}}
            outputs:
              out: ${{{{parent.outputs.summary}}}}
          aside:
            type: command
            command: echo aside >> {log}
    """)
    first = amlrun("run", job, "--name", "pfix")
    assert first.code == 0, first.text  # no error thresholds: the failed item is tolerated
    assert "mini-batches: 3 total, 3 succeeded, 0 failed" in amlrun("show", "pfix", "--step", "count").out
    summary = store / "datastores" / "workspaceblobstore" / "azureml" / "pfix" / "summary" / "total.txt"
    assert summary.read_text().strip() == "4"
    log.unlink()
    marker.unlink()

    resumed = amlrun("resume", "pfix")
    assert resumed.code == 0, resumed.text
    assert "count reruns its 1 mini-batch with failed items, then total" in resumed.err
    assert sorted(log.read_text().splitlines()) == ["doc3.txt doc4.txt", "total"]  # not prep, not aside
    rows = store / "datastores" / "workspaceblobstore" / "azureml" / "pfix_count" / "rows" / "rows"
    assert sorted(rows.read_text().splitlines()) == [f"doc{i}.txt" for i in range(1, 6)]  # none twice
    assert summary.read_text().strip() == "5"
    assert "mini-batches: 3 total, 3 succeeded" in amlrun("show", "pfix", "--step", "count").out
    shown = amlrun("show", "pfix").out
    assert "Completed" in shown.split("steps:", 1)[0]
    assert set(shown_steps(shown).values()) == {"Completed"}
    again = amlrun("resume", "pfix")
    assert again.code == 1 and "already completed; nothing to resume" in again.err
