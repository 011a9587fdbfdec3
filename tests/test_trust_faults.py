"""Faults: amlrun killed mid-step, a failed or resumed step's outputs, a full disk."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest

from command_fixtures import start_amlrun, wait_for_process_group_gone

BEATING = ("sleep 600 & echo started $$; while true; do echo beat >> ${{outputs.out}}/beats.txt; sleep 0.05; done")


def _wait_for_group(run_dir: Path, timeout: float = 60) -> int:
    """The process group the step reports in its log (`started <pid of its shell>`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in run_dir.rglob("std_log.txt"):
            found = re.search(r"started (\d+)", log.read_text(errors="replace"))
            if found:
                return int(found[1])
        time.sleep(0.05)
    raise AssertionError(f"no step started under {run_dir}")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize("kind", ["command", "pipeline"])
def test_a_killed_amlrun_leaves_no_step_running_and_runs_says_orphaned(amlrun, write, store: Path,
                                                                       tmp_path: Path, kind: str) -> None:
    if kind == "command":
        job = write("job.yml", f"type: command\ncommand: {BEATING}\noutputs:\n  out: {{type: uri_folder}}\n")
    else:
        job = write("job.yml", f"""
            type: pipeline
            jobs:
              beat:
                type: command
                command: {BEATING}
                outputs:
                  out: {{type: uri_folder}}
            """)
    run = start_amlrun("run", job, "--name", "killed", store=store, cwd=tmp_path)
    try:
        pgid = _wait_for_group(store / "runs" / "killed")
        time.sleep(0.3)
        os.kill(run.pid, signal.SIGKILL)  # no chance to record or clean anything
        run.wait(timeout=30)
        beats = list((store / "datastores").rglob("beats.txt")) + list((store / "staging").rglob("beats.txt"))
        assert beats, "the step never wrote"
        time.sleep(0.5)
        before = sum(map(_size, beats))
        time.sleep(0.6)
        assert sum(map(_size, beats)) == before, "the step kept writing after amlrun died"
        listed = amlrun("runs")
        assert listed.code == 0 and "Failed (orphaned)" in listed.out, listed.text
        assert wait_for_process_group_gone(pgid, timeout=5), "the step's process group survived `amlrun runs`"
        shown = amlrun("show", "killed")
        assert "Failed (orphaned)" in shown.out
        published = list((store / "datastores").rglob("beats.txt"))
        assert not published, f"an unfinished step's output was published: {published}"
    finally:
        if run.poll() is None:
            run.kill()
        with contextlib.suppress(ProcessLookupError, UnboundLocalError):
            os.killpg(pgid, signal.SIGKILL)


def test_resume_reruns_a_failed_step_from_an_empty_output_and_downstream_sees_only_the_new_files(
        amlrun, write, store: Path, tmp_path: Path) -> None:
    flag = tmp_path / "second-attempt"
    job = write("pipe.yml", f"""
        type: pipeline
        jobs:
          make:
            type: command
            command: >-
              if [ -e {flag} ]; then echo ok > ${{{{outputs.out}}}}/second.txt;
              else echo partial > ${{{{outputs.out}}}}/first.txt; exit 1; fi
            outputs:
              out: {{type: uri_folder}}
          read:
            type: command
            command: ls ${{{{inputs.data}}}}
            inputs:
              data: ${{{{parent.jobs.make.outputs.out}}}}
        """)
    first = amlrun("run", job, "--name", "mixed")
    assert first.code == 1
    assert not list((store / "datastores").rglob("first.txt")), "a failed step's output was published"
    flag.touch()
    resumed = amlrun("resume", "mixed")
    assert resumed.code == 0, resumed.text
    published = sorted(p.name for p in (store / "datastores").rglob("*.txt"))
    assert published == ["second.txt"], published
    listing = amlrun("logs", "mixed", "--step", "read")
    assert "second.txt" in listing.out and "first.txt" not in listing.out


def test_a_failed_rw_mount_output_is_not_published_and_show_says_where_it_is(amlrun, write, store: Path) -> None:
    job = write("job.yml", """
        type: command
        command: echo half > ${{outputs.out}}/part.txt && exit 3
        outputs:
          out: {type: uri_folder, mode: rw_mount}
        """)
    result = amlrun("run", job, "--name", "failed")
    assert result.code == 1
    assert not (store / "datastores" / "workspaceblobstore" / "azureml" / "failed" / "out" / "part.txt").exists()
    shown = amlrun("show", "failed")
    assert "not published" in shown.out
    aside = list((store / "staging").rglob("part.txt"))
    assert aside and str(aside[0].parent) in shown.out  # kept aside, where `show` says


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MB tmpfs to fill up (needs root and mount rights, as on these machines and in many containers)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root with CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_step_that_fills_the_disk_fails_cleanly_and_read_only_commands_still_work(amlrun, write, small_disk: Path
                                                                                   ) -> None:
    store = small_disk / "store"
    job = write("job.yml", """
        type: command
        command: head -c 64000000 /dev/zero > ${{outputs.out}}/big.bin
        outputs:
          out: {type: uri_folder}
        """)
    env = {"AMLRUN_HOME": str(store)}
    assert amlrun("run", write("ok.yml", "type: command\ncommand: echo fine\n"), "--name", "before", env=env).code == 0
    full = amlrun("run", job, "--name", "full", env=env)
    assert full.code == 1 and "Traceback" not in full.text, full.text
    assert not list((store / "datastores").rglob("big.bin")), "a partial output was published"
    for args in (("runs",), ("show", "full"), ("show", "before"), ("logs", "before")):
        result = amlrun(*args, env=env)
        assert result.code == 0 and "Traceback" not in result.text, (args, result.text)
    assert "Failed" in amlrun("runs", env=env).out
    again = amlrun("run", write("ok2.yml", "type: command\ncommand: echo again\n"), env=env)
    assert again.code == 0, again.text  # the failed step's partial file did not keep the disk full
