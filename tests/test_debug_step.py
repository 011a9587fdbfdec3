"""`amlrun run --debug` (a real DAP client attaches to debugpy, stops at a breakpoint) and `--pdb` (post-mortem,
fed `q` on stdin), for a pipeline step, a command job and a parallel job's foreground worker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from command_fixtures import LineReader
from debug_fixtures import DapClient

SRC = Path(__file__).resolve().parents[1] / "src"

TRAIN = """\
import pathlib, sys
rows = pathlib.Path(sys.argv[1], "rows.txt").read_text().split()
total = 0
for row in rows:
    total += int(row)
pathlib.Path(sys.argv[2], "model.txt").write_text(str(total))
print("trained on", len(rows), "rows")
"""

PIPELINE = """\
type: pipeline
outputs:
  model: {type: uri_folder}
jobs:
  prep:
    command: python -c "import sys, pathlib; pathlib.Path(sys.argv[1], 'rows.txt').write_text('1 2 3')" ${{outputs.data}}
    outputs:
      data: {type: uri_folder}
  train:
    code: ./src
    command: python -u train.py ${{inputs.data}} ${{outputs.model}}
    inputs:
      data: ${{parent.jobs.prep.outputs.data}}
    outputs:
      model: ${{parent.outputs.model}}
"""


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(SRC), "NO_COLOR": "1"}


@pytest.fixture
def project(write) -> Path:
    write("project/src/train.py", TRAIN)
    return write("project/pipeline.yml", PIPELINE)


def test_debug_waits_for_a_debugger_that_stops_at_a_breakpoint_in_the_snapshot(amlrun, project: Path,
                                                                              store: Path) -> None:
    assert amlrun("run", project).code == 0  # the upstream step is then reused from the cache
    proc = subprocess.Popen([sys.executable, "-m", "amlrun", "run", str(project), "--step", "train", "--debug",
                             "--debug-port", "0"], cwd=project.parent, env=_env(store), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = LineReader(proc.stdout)
    client = None
    try:
        listening = out.wait_for("debugpy is listening on", timeout=120)
        host, port = re.search(r"listening on ([\d.]+):(\d+)", listening).groups()
        text = "".join(out.lines)
        assert "prep: Reused" in text
        config = json.loads(text[text.index("{", text.index("launch.json")):text.index("\n}") + 2])
        snapshot = Path(config["pathMappings"][0]["remoteRoot"])
        assert config["connect"] == {"host": host, "port": int(port)} and config["request"] == "attach"
        assert config["pathMappings"][0]["localRoot"] == str(project.parent / "src")
        assert snapshot.parent.parent.name == "steps" and (snapshot / "train.py").read_text() == TRAIN

        client = DapClient(host, int(port))
        client.request("initialize", adapterID="debugpy", clientID="amlrun-test", pathFormat="path",
                       linesStartAt1=True, columnsStartAt1=True)
        attach = client.send("attach", justMyCode=True)
        client.event("initialized")
        breakpoints = client.request("setBreakpoints", source={"path": str(snapshot / "train.py")},
                                     breakpoints=[{"line": 6}])
        assert breakpoints["body"]["breakpoints"][0]["verified"]
        client.request("configurationDone")
        client.response(attach)
        stopped = client.event("stopped")
        assert stopped["body"]["reason"] == "breakpoint"
        frames = client.request("stackTrace", threadId=stopped["body"]["threadId"])["body"]["stackFrames"]
        assert (frames[0]["source"]["path"], frames[0]["line"]) == (str(snapshot / "train.py"), 6)
        value = client.request("evaluate", expression="total", frameId=frames[0]["id"], context="repl")
        assert value["body"]["result"] == "6"
        client.request("continue", threadId=stopped["body"]["threadId"])
        assert proc.wait(timeout=120) == 0, "".join(out.lines)
    finally:
        if client is not None:
            client.close()
        if proc.poll() is None:
            proc.kill()
    assert "trained on 3 rows" in out.rest()


def _run_with_stdin(args: list[str], stdin: str, store: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "amlrun", *args], input=stdin, cwd=cwd, env=_env(store),
                          capture_output=True, text=True, timeout=180)


def test_pdb_opens_post_mortem_on_the_steps_exception(write, store: Path, tmp_path: Path) -> None:
    write("cmd/src/train.py", """\
        import sys
        values = [1, 2, 0]
        total = 0
        for v in values:
            total += int(sys.argv[1]) / v
    """)
    job = write("cmd/job.yml", """\
        type: command
        code: ./src
        command: python train.py ${{inputs.n}}
        inputs:
          n: 3
        limits:
          timeout: 1
    """)
    done = _run_with_stdin(["run", str(job), "--pdb"], "p v, total\nq\n", store, job.parent)
    assert done.returncode == 1, done.stderr
    assert "ZeroDivisionError: division by zero" in done.stderr
    assert "(Pdb) (0, 4.5)" in done.stdout  # pdb stopped at the raising line, variables intact
    assert "debug_launch" not in done.stderr  # the traceback is the user's, not the launcher's
    assert "command exited with code 1" in done.stderr  # no timeout: limits.timeout is off while debugging

    echo = write("cmd/echo.yml", "type: command\ncommand: echo hello\n")
    done = _run_with_stdin(["run", str(echo), "--pdb"], "", store, job.parent)
    assert done.returncode == 1 and "runs `echo ...`, not Python: debugging needs a Python entry" in done.stderr

    pipeline = write("cmd/two.yml", PIPELINE)
    done = _run_with_stdin(["run", str(pipeline), "--debug"], "", store, job.parent)
    assert done.returncode == 2 and "--debug/--pdb debug one step, and two.yml has 2: prep, train" in done.stderr
    assert "hint: add --step prep" in done.stderr


def test_pdb_runs_a_parallel_job_in_one_foreground_worker(write, store: Path) -> None:
    for i in range(3):
        write(f"par/data/f{i}.txt", str(i))
    job = write("par/job.yml", """\
        type: parallel
        inputs:
          data: {type: uri_folder, path: ./data}
        outputs:
          rows: {type: uri_file}
        input_data: ${{inputs.data}}
        mini_batch_size: "1"
        resources: {instance_count: 2}
        max_concurrency_per_instance: 2
        task:
          type: run_function
          code: ./src
          entry_script: score.py
          append_row_to: ${{outputs.rows}}
    """)
    write("par/src/score.py", """\
        import os

        def run(mini_batch):
            name = os.path.basename(mini_batch[0])
            if name == "f1.txt":
                raise ValueError("cannot score " + name)
            return [name]
    """)
    done = _run_with_stdin(["run", str(job), "--pdb"], "p name, os.getpid()\nq\n", store, job.parent)
    assert "debugging: one worker, no retries" in done.stderr
    assert "ValueError: cannot score f1.txt" in done.stderr
    assert re.search(r"\(Pdb\) \('f1.txt', \d+\)", done.stdout), done.stdout
    assert done.stderr.count("[amlrun] post-mortem:") == 1  # one attempt: no retries while debugging
