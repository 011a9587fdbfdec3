"""Naming one step of a pipeline: `run --step` (reuse as in a full run), `logs --step`, `show --step`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from amlrun.errors import UsageError
from amlrun.store.steps import resolve_step
from pipeline_fixtures import ran_steps, shown_steps, write_diamond, write_nested, write_stamp_pipeline


def test_step_runs_only_what_it_needs_and_reuses_itself_when_unchanged(amlrun, write, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed-s\n")
    other = write("diamond/other.txt", "other-s\n")
    job = write_diamond(write, tmp_path, b_cmd="true", c_cmd="true")
    log = tmp_path / "ran.txt"
    # no earlier run: the upstream steps run first, nothing downstream or beside does
    first = amlrun("run", job, "--step", "b", "--name", "only_b")
    assert first.code == 0, first.text
    assert ran_steps(log) == ["a", "b"]
    assert shown_steps(amlrun("show", "only_b").out) == {"a": "Completed", "b": "Completed"}
    log.unlink()
    # d needs a (reused), b (reused) and c (never ran: runs)
    d = amlrun("run", job, "--step", "d", "--name", "d1")
    assert d.code == 0, d.text
    assert ran_steps(log) == ["c", "d"] and "d | seed-s" in d.out
    assert shown_steps(amlrun("show", "d1").out) == {"a": "Reused", "b": "Reused", "c": "Completed", "d": "Completed"}
    log.unlink()
    # nothing changed: d itself is reused, and the user is told so and how to force it
    again = amlrun("run", job, "--step", "d", "--name", "d2")
    assert again.code == 0, again.text
    assert ran_steps(log) == []
    assert shown_steps(amlrun("show", "d2").out)["d"] == "Reused"
    assert "step d was not run: Reused from d1_d" in again.err
    assert "To run it anyway: amlrun run" in again.err and "--step d --force-rerun" in again.err
    # --force-rerun forces the step asked for, not its unchanged upstream
    forced = amlrun("run", job, "--step", "d", "--force-rerun", "--name", "d3")
    assert forced.code == 0, forced.text
    assert ran_steps(log) == ["d"] and "not run" not in forced.err
    assert shown_steps(amlrun("show", "d3").out) == {"a": "Reused", "b": "Reused", "c": "Reused", "d": "Completed"}
    log.unlink()
    # a changed input reruns what reads it on the way to d, not what an earlier run left behind
    time.sleep(0.01)
    other.write_text("other-2\n")
    changed = amlrun("run", job, "--step", "d", "--name", "d4")
    assert changed.code == 0, changed.text
    assert ran_steps(log) == ["c", "d"] and "d | other-2" in changed.out
    assert shown_steps(amlrun("show", "d4").out) == {"a": "Reused", "b": "Reused", "c": "Completed", "d": "Completed"}


def test_step_with_failing_upstream_is_skipped(amlrun, write, tmp_path: Path) -> None:
    write("diamond/seed.txt", "seed\n")
    write("diamond/other.txt", "other\n")
    job = write_diamond(write, tmp_path, b_cmd="exit 3", c_cmd="true")
    result = amlrun("run", job, "--step", "d", "--name", "broken")
    assert result.code == 1
    assert shown_steps(amlrun("show", "broken").out) == {"a": "Completed", "b": "Failed", "c": "Completed",
                                                         "d": "Skipped"}
    unknown = amlrun("run", job, "--step", "dd")
    assert unknown.code == 2 and "no step 'dd'; did you mean 'd'?" in unknown.err and "steps: a, b, c, d" in unknown.err


def test_non_deterministic_step_always_runs(amlrun, write, tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    job = write_stamp_pipeline(write, log)
    for name in ("s1", "s2"):
        result = amlrun("run", job, "--step", "stamp", "--name", name)
        assert result.code == 0, result.text
        assert shown_steps(amlrun("show", name).out) == {"stamp": "Completed"}
    assert ran_steps(log) == ["stamp", "stamp"]


def test_nested_steps_by_full_or_short_name(amlrun, write) -> None:
    job = write_nested(write)
    assert amlrun("run", job, "--name", "nest").code == 0
    # logs: the full name, or the short one when only one step has it
    full = amlrun("logs", "nest", "--step", "quadruple.second")
    assert full.code == 0 and full.out == "doubled to 4,8\n", full.text
    assert amlrun("logs", "nest", "--step", "first").out == "doubled to 2,4\n"
    assert amlrun("logs", "nest", "--step", "nest_quadruple_first").out == "doubled to 2,4\n"  # a step run's name
    typo = amlrun("logs", "nest", "--step", "secnd")
    assert typo.code == 2 and "did you mean 'quadruple.second'?" in typo.err
    assert "steps: make, quadruple, quadruple.first, quadruple.second, show" in typo.err
    assert "Traceback" not in typo.err
    group = amlrun("logs", "nest", "--step", "quadruple")
    assert group.code == 2 and "nested pipeline" in group.err and "quadruple.first, quadruple.second" in group.err
    # show: the same names
    shown = amlrun("show", "nest", "--step", "second")
    assert shown.code == 0 and "name:      nest_quadruple_second" in shown.out and "Completed" in shown.out
    assert amlrun("show", "nest", "--step", "quadruple.nope").code == 2
    assert amlrun("show", "nest", "--step", "make").out.startswith("name:      nest_make")
    # run --step with a nested name: upstream reused, the step itself reused, its log is the run it reused
    single = amlrun("run", job, "--step", "second", "--name", "again")
    assert single.code == 0, single.text
    assert shown_steps(amlrun("show", "again").out) == {"make": "Reused", "quadruple": "Completed",
                                                        "quadruple.first": "Reused", "quadruple.second": "Reused"}
    assert "--step quadruple.second --force-rerun" in single.err
    reused_log = amlrun("logs", "again", "--step", "second")
    assert reused_log.out == "doubled to 4,8\n" and "log of nest_quadruple_second" in reused_log.err
    # a whole nested pipeline, forced
    group_run = amlrun("run", job, "--step", "quadruple", "--force-rerun", "--name", "grp")
    assert group_run.code == 0, group_run.text
    assert "quadruple.first | doubled to 2,4" in group_run.out and "show |" not in group_run.out
    assert shown_steps(amlrun("show", "grp").out) == {"make": "Reused", "quadruple": "Completed",
                                                      "quadruple.first": "Completed", "quadruple.second": "Completed"}


def test_step_of_a_command_job_is_refused(amlrun, write) -> None:
    job = write("plain/job.yml", """
        command: echo hi
    """)
    assert amlrun("run", job, "--name", "plain").code == 0
    result = amlrun("logs", "plain", "--step", "x")
    assert result.code == 2 and "command job, which has no steps" in result.err


@pytest.mark.parametrize(("wanted", "found"), [
    ("train", "train"),                  # a full name wins over a short name it shadows
    ("outer.train", "outer.train"),
    ("score", "outer.score"),            # unique short name
])
def test_resolve_step_names(wanted: str, found: str) -> None:
    assert resolve_step(wanted, ["train", "outer.train", "outer.score"], "run r") == found


def test_resolve_step_ambiguous_short_name() -> None:
    with pytest.raises(UsageError) as info:
        resolve_step("train", ["a.train", "b.train"], "run r")
    assert "ambiguous: it names a.train, b.train" in info.value.message
    assert "--step a.train" in (info.value.hint or "")
