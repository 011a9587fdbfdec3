"""Parallel jobs on real worker processes: partitioning, results, failures, retries, thresholds."""

from __future__ import annotations

import csv
from pathlib import Path

from parallel_fixtures import file_job, read_rows, table_job

EXPECTED = {f"f{i:02d}.txt" for i in range(7)}

ECHO = """
    import argparse, os, sys
    from azureml_user.parallel_run import EntryScript

    def init():
        global args, seen_argv
        parser = argparse.ArgumentParser()
        parser.add_argument("--tag")
        args, _ = parser.parse_known_args()
        seen_argv = list(sys.argv[1:])
        EntryScript().logger.info("init with %s", seen_argv)

    def run(mini_batch):
        return [f"{args.tag} {os.path.basename(f)}" for f in mini_batch]

    def shutdown():
        with open(os.path.join(EntryScript().output_dir, "shutdown-" + EntryScript().process_name), "w") as fh:
            fh.write(" ".join(seen_argv))
"""


def _csv(store: Path, run: str) -> list[dict[str, str]]:
    report = store / "runs" / run / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    return list(csv.DictReader(report.open()))


def test_file_input_rows_once_each_with_prs_flags_and_entry_script(amlrun, store: Path, tmp_path: Path) -> None:
    job = file_job(tmp_path, ECHO, mini_batch_size="3",
                   program_arguments="--tag t1 --error_threshold 3 --progress_update_timeout 30 --copy_logs_to_parent")
    result = amlrun("run", job, "--name", "files1")
    assert result.code == 0, result.text
    assert "3/3 mini-batches, 7 items ok" in result.err  # plain progress lines when not a terminal
    rows = read_rows(store, "files1")
    assert sorted(rows) == sorted(f"t1 {f}" for f in EXPECTED)
    assert [r["items"] for r in _csv(store, "files1")] == ["3", "3", "1"]
    logs = store / "runs" / "files1" / "logs"
    assert "Job succeeded" in (logs / "job_result.txt").read_text()
    assert "init with" in next((logs / "user" / "entry_script_log" / "0").glob("*.log.txt")).read_text()
    # shutdown() ran in each worker; the PRS flags stayed on sys.argv as in the service
    done = list((store / "datastores" / "workspaceblobstore" / "azureml" / "files1" / "results").glob("shutdown-*"))
    assert len(done) == 2 and "--progress_update_timeout 30" in done[0].read_text()
    shown = amlrun("show", "files1")
    assert "mini-batches: 3 total, 3 succeeded, 0 failed" in shown.out, shown.out
    assert "3/3 mini-batches" in amlrun("logs", "files1").out  # the driver's lines are the run's log


def test_mltable_batches_by_size_never_cross_files_with_two_argument_run(amlrun, store: Path, tmp_path: Path) -> None:
    csv_a = "id,src,payload\n" + "".join(f"{i},a,{'x' * 40}\n" for i in range(60))
    csv_b = "id,src,payload\n" + "".join(f"{i},b,{'y' * 40}\n" for i in range(40))
    script = """
        def run(mini_batch, mini_batch_context):
            return [f"{mini_batch_context.minibatch_index} {r.src} {r.id}" for r in mini_batch.itertuples()]
    """
    job = table_job(tmp_path, script, {"a.csv": csv_a, "b.csv": csv_b}, mini_batch_size="1kb")
    result = amlrun("run", job, "--name", "tab1")
    assert result.code == 0, result.text
    rows = [r.split() for r in read_rows(store, "tab1")]
    assert sorted((s, int(i)) for _, s, i in rows) == sorted([("a", i) for i in range(60)] + [("b", i) for i in range(40)])
    sources: dict[str, set[str]] = {}
    for index, src, _ in rows:
        sources.setdefault(index, set()).add(src)
    assert all(len(s) == 1 for s in sources.values()), sources  # no mini-batch spans two files
    assert len(sources) >= 4  # ~2.9 kB and ~1.9 kB files cut into ~1 kB mini-batches


def test_partition_keys_one_batch_per_group_dataframe_rows_with_header(amlrun, store: Path, tmp_path: Path) -> None:
    table = "id,group,value\n" + "".join(f"{i},{'gx' if i % 3 else 'gy'},{i * 10}\n" for i in range(12))
    script = """
        def run(mini_batch, mini_batch_context):
            assert set(mini_batch["group"]) == {mini_batch_context.partition_key_value["group"]}
            return mini_batch[["group", "id"]]
    """
    job = table_job(tmp_path, script, {"t.csv": table}, partition_keys=["group"],
                    program_arguments="--append_row_dataframe_header")
    result = amlrun("run", job, "--name", "keys1")
    assert result.code == 0, result.text
    rows = read_rows(store, "keys1")
    assert rows[0] == "group id"
    assert sorted(rows[1:]) == sorted(f"{'gx' if i % 3 else 'gy'} {i}" for i in range(12))
    assert len(_csv(store, "keys1")) == 2


FEWER = """
    import os
    def run(mini_batch):
        names = [os.path.basename(f) for f in mini_batch]
        return names[:-1] if "f02.txt" in names else names
"""


def test_fewer_rows_fail_items_and_error_threshold_decides(amlrun, store: Path, tmp_path: Path) -> None:
    # a short return fails items, not the mini-batch: mini_batch_error_threshold=0 does not trip
    tolerant = file_job(tmp_path / "a", FEWER, mini_batch_size="3", error_threshold=1, mini_batch_error_threshold=0)
    result = amlrun("run", tolerant, "--name", "fewer_ok")
    assert result.code == 0, result.text
    assert sorted(read_rows(store, "fewer_ok")) == sorted(EXPECTED - {"f02.txt"})
    shown = amlrun("show", "fewer_ok").out
    assert "mini-batches: 3 total, 3 succeeded, 0 failed" in shown, shown
    assert "items:     7 processed, 6 succeeded, 1 failed" in shown, shown
    assert "1 mini-batch returned fewer items from run() than it got" in shown
    assert "counted against error_threshold=1" in shown
    assert [r["status"] for r in _csv(store, "fewer_ok")].count("partial") == 1

    strict = file_job(tmp_path / "b", FEWER, mini_batch_size="3", error_threshold=0)
    result = amlrun("run", strict, "--name", "fewer_abort")
    assert result.code == 1
    shown = amlrun("show", "fewer_abort").out
    assert "more than error_threshold=0" in shown
    assert "mini-batches with failed items (1):" in shown and "run() returned 2 of 3 items" in shown, shown
    assert "f02.txt" in shown
    assert (store / "runs" / "fewer_abort" / "logs" / "job_error.txt").exists()


FLAKY = """
    import argparse, os, signal, time
    def init():
        global args
        parser = argparse.ArgumentParser()
        parser.add_argument("--marks"); parser.add_argument("--how")
        args, _ = parser.parse_known_args()

    def run(mini_batch):
        names = [os.path.basename(f) for f in mini_batch]
        if "f03.txt" in names:
            mark = os.path.join(args.marks, "f03-attempt")
            first = not os.path.exists(mark)
            open(mark, "a").write("x")
            if first or args.how == "always":
                if args.how in ("raise", "always"):
                    raise RuntimeError("f03 is broken")
                if args.how == "hang":
                    time.sleep(60)
                if args.how == "sigkill":
                    os.kill(os.getpid(), signal.SIGKILL)
        return names
"""


def _flaky(tmp_path: Path, how: str, **fields) -> tuple[Path, Path]:
    marks = tmp_path / "marks"
    marks.mkdir(parents=True)
    return file_job(tmp_path, FLAKY, program_arguments=f"--marks {marks} --how {how}", **fields), marks


def test_exception_is_retried_and_rows_appear_once(amlrun, store: Path, tmp_path: Path) -> None:
    job, marks = _flaky(tmp_path, "raise")
    result = amlrun("run", job, "--name", "retry1")
    assert result.code == 0, result.text
    assert sorted(read_rows(store, "retry1")) == sorted(EXPECTED)
    assert (marks / "f03-attempt").read_text() == "xx"
    errors = (store / "runs" / "retry1" / "logs" / "user" / "error").glob("*.txt")
    assert "RuntimeError: f03 is broken" in next(errors).read_text()
    assert "1 retries" in amlrun("show", "retry1").out


def test_hang_longer_than_timeout_is_killed_and_retried_in_a_fresh_worker(amlrun, store: Path, tmp_path: Path) -> None:
    job, _ = _flaky(tmp_path, "hang", retry_settings={"timeout": 2, "max_retries": 1})
    result = amlrun("run", job, "--name", "hang1")
    assert result.code == 0, result.text
    assert sorted(read_rows(store, "hang1")) == sorted(EXPECTED)
    error = next((store / "runs" / "hang1" / "logs" / "user" / "error").glob("*.txt")).read_text()
    assert "longer than retry_settings.timeout=2s" in error
    assert len(list((store / "runs" / "hang1" / "logs" / "user" / "stdout").glob("*"))) == 3  # one replacement


def test_worker_killed_by_sigkill_does_not_take_the_job_down(amlrun, store: Path, tmp_path: Path) -> None:
    job, _ = _flaky(tmp_path, "sigkill")
    result = amlrun("run", job, "--name", "kill1")
    assert result.code == 0, result.text
    assert sorted(read_rows(store, "kill1")) == sorted(EXPECTED)
    error = next((store / "runs" / "kill1" / "logs" / "user" / "error").glob("*.txt")).read_text()
    assert "signal 9 (SIGKILL)" in error


def test_mini_batch_error_threshold_aborts_or_tolerates(amlrun, store: Path, tmp_path: Path) -> None:
    strict, _ = _flaky(tmp_path / "a", "always", mini_batch_error_threshold=0, retry_settings={"max_retries": 0})
    result = amlrun("run", strict, "--name", "mbet_abort")
    assert result.code == 1
    assert "more than mini_batch_error_threshold=0" in amlrun("show", "mbet_abort").out

    tolerant, marks = _flaky(tmp_path / "b", "always", mini_batch_error_threshold=1,
                             retry_settings={"max_retries": 1})
    result = amlrun("run", tolerant, "--name", "mbet_ok")
    assert result.code == 0, result.text
    assert (marks / "f03-attempt").read_text() == "xx"  # tried, retried once, then counted as failed
    assert sorted(read_rows(store, "mbet_ok")) == sorted(EXPECTED - {"f02.txt", "f03.txt"})
    assert [r["status"] for r in _csv(store, "mbet_ok")].count("failed") == 1


def test_allowed_failed_percent_is_checked_over_all_mini_batches(amlrun, store: Path, tmp_path: Path) -> None:
    # 4 mini-batches, 1 always fails: 25 %
    strict, _ = _flaky(tmp_path / "a", "always", retry_settings={"max_retries": 0})
    strict.write_text(strict.read_text().replace("--how always", "--how always --allowed_failed_percent 20"))
    assert amlrun("run", strict, "--name", "pct_abort").code == 1
    assert "more than allowed_failed_percent=20" in amlrun("show", "pct_abort").out

    tolerant, _ = _flaky(tmp_path / "b", "always", retry_settings={"max_retries": 0})
    tolerant.write_text(tolerant.read_text().replace("--how always", "--how always --allowed_failed_percent 30"))
    result = amlrun("run", tolerant, "--name", "pct_ok")
    assert result.code == 0, result.text


def test_summary_only_writes_no_rows(amlrun, store: Path, tmp_path: Path) -> None:
    job = file_job(tmp_path, ECHO, append=False, program_arguments="--tag s")
    result = amlrun("run", job, "--name", "summ1", "--max-workers", "1")
    assert result.code == 0, result.text
    assert "running 1 worker process instead of 2" in result.err and "capped by --max-workers" in result.err
    out = store / "datastores" / "workspaceblobstore" / "azureml" / "summ1" / "results"
    assert not out.exists() or not any(p.name == "results" for p in out.iterdir())
    assert len(_csv(store, "summ1")) == 4


def test_a_pipeline_step_fans_a_folder_out_to_a_parallel_step_whose_rows_feed_the_next(
        amlrun, write, store: Path) -> None:
    write("fan/src/count.py", """
        from pathlib import Path
        def run(mini_batch):
            return [f"{Path(p).name} {len(Path(p).read_text().split())}" for p in mini_batch]
    """)
    job = write("fan/pipe.yml", """
        type: pipeline
        outputs:
          summary: {type: uri_folder}
        jobs:
          prep:
            type: command
            command: for i in 1 2 3 4 5; do printf 'w%.0s ' $(seq $i) > ${{outputs.out}}/doc$i.txt; done
            outputs:
              out: {type: uri_folder}
          count:
            type: parallel
            inputs:
              files: {type: uri_folder, path: "${{parent.jobs.prep.outputs.out}}"}
            outputs:
              rows: {type: uri_file}
            input_data: ${{inputs.files}}
            mini_batch_size: "2"
            max_concurrency_per_instance: 2
            task:
              type: run_function
              code: ./src
              entry_script: count.py
              append_row_to: ${{outputs.rows}}
          total:
            type: command
            command: awk '{s += $2} END {print s}' ${{inputs.rows}} > ${{outputs.out}}/total.txt
            inputs:
              rows: {type: uri_file, path: "${{parent.jobs.count.outputs.rows}}"}
            outputs:
              out: ${{parent.outputs.summary}}
    """)
    result = amlrun("run", job, "--name", "fan1")
    assert result.code == 0, result.text
    summary = store / "datastores" / "workspaceblobstore" / "azureml" / "fan1" / "summary"
    assert (summary / "total.txt").read_text() == "15\n"
    assert f"output summary -> {summary}" in result.err
    shown = amlrun("show", "fan1", "--step", "count").out
    assert "mini-batches: 3 total, 3 succeeded" in shown and "items:     5 processed" in shown
    assert "rows:      " in shown and "fan1_count/rows/rows" in shown
