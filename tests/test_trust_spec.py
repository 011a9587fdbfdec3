"""Hostile or careless job files: bounded work, and `check` refusing exactly what `run` refuses."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from amlrun.errors import SpecError
from amlrun.spec.source import read_yaml

COMMAND = "type: command\ncommand: echo hi\n"


def _laughs() -> str:
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return COMMAND + "tags:\n" + "".join(f"  {row}\n" for row in rows)


def _merge_chain(n: int) -> str:
    rows = ["m0: &m0 {k0: 1}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: 1}}" for i in range(1, n)]
    return COMMAND + "tags:\n" + "".join(f"  {row}\n" for row in rows)


BOMBS = {
    "laughs.yml": (_laughs(), "expands to more than"),
    "merges.yml": (_merge_chain(3000), "expands to more than"),
    "deep.yml": (COMMAND + "tags: " + "[" * 400 + "]" * 400 + "\n", "nests more than"),
    "self.yml": (COMMAND + "tags: &a {x: [1, *a]}\n", "inside the node it names"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_yaml_bombs_are_refused_at_their_line_quickly_and_in_little_memory(tmp_path: Path, name: str) -> None:
    text, message = BOMBS[name]
    path = tmp_path / name
    path.write_text(text)
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        read_yaml(path)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    problem = caught.value.problems[0]
    assert message in problem.message and problem.line > 1
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"
    assert peak < 64 * 1024 * 1024, f"{name} peaked at {peak / 1e6:.0f} MB"


def test_check_and_run_refuse_bombs_with_exit_2_and_no_traceback(amlrun, tmp_path: Path) -> None:
    for name, (text, _) in BOMBS.items():
        (tmp_path / name).write_text(text)
    started = time.monotonic()
    result = amlrun("check", "--no-sdk", *sorted(BOMBS), timeout=60)
    assert result.code == 2, result.text
    assert time.monotonic() - started < 20
    for name, (_, message) in BOMBS.items():
        assert any(line.startswith(name) and message in line for line in result.out.splitlines()), result.out
    run = amlrun("run", "laughs.yml", timeout=60)
    assert run.code == 2 and "expands to more than" in run.err
    assert "Traceback" not in result.text + run.text


def test_a_file_with_thousands_of_problems_prints_the_first_ones_and_a_count(amlrun, write) -> None:
    write("many.yml", COMMAND + "".join(f"field_{i}: {i}\n" for i in range(300)))
    result = amlrun("check", "--no-sdk", "many.yml")
    assert result.code == 2
    lines = result.out.splitlines()
    assert len(lines) == 51 and lines[-1].startswith("... and 250 more"), lines[-3:]
    assert "300 problems found" in result.err


RUN_REFUSES = {
    "unclosed.yml": ("command: echo ${{inputs.x\ninputs: {x: 1}\n", "never closed"),
    "expression.yml": ("command: echo ${{ __import__('os').system('rm -rf x') }}\n", "is not one expression"),
    "dotdot.yml": ("command: echo ${{outputs.o}}\noutputs:\n  o: {type: uri_folder, path: "
                   "azureml://datastores/workspaceblobstore/paths/../../etc}\n", "escapes its datastore root"),
    "malformed.yml": ("command: ls ${{inputs.i}}\ninputs:\n  i: {type: uri_folder, path: azureml://datastores//paths}\n",
                      "malformed datastore URI"),
    "timeout.yml": ("command: echo hi\nlimits: {timeout: -1}\n", "limits.timeout must be a positive"),
    "envmap.yml": ("command: echo hi\nenvironment_variables:\n  A: {b: 1}\n", "is given a mapping"),
    "portname.yml": ("command: echo hi\ninputs:\n  'a b; rm -rf /': 1\n", "input name 'a b; rm -rf /' is not valid"),
    "localout.yml": ("command: echo hi > ${{outputs.o}}/x\noutputs:\n  o: {type: uri_folder, path: /tmp/x}\n",
                     "writes outputs only to datastores"),
}


def test_check_refuses_what_run_refuses_at_the_line(amlrun, tmp_path: Path) -> None:
    for name, (body, _) in RUN_REFUSES.items():
        (tmp_path / name).write_text("type: command\n" + body)
    result = amlrun("check", "--no-sdk", *sorted(RUN_REFUSES))
    assert result.code == 2, result.text
    for name, (_, message) in RUN_REFUSES.items():
        lines = [line for line in result.out.splitlines() if line.startswith(name + ":")]
        assert any(message in line for line in lines), (name, result.out)
        assert all(not line.startswith(f"{name}:1:1:") for line in lines), lines  # at the value's line
    run = amlrun("run", "localout.yml")
    assert run.code == 2 and "writes outputs only to datastores" in run.err


def test_a_set_path_of_thousands_of_parts_is_a_usage_error(amlrun, write) -> None:
    write("job.yml", COMMAND)
    result = amlrun("check", "--no-sdk", "job.yml", "--set", "x." * 5000 + "y=1")
    assert result.code == 2 and "no job field is nested more than" in result.err
    assert "internal error" not in result.err
