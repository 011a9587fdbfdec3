"""`amlrun --help` stays fast: the CLI and the local-run path import no heavy library.

Timing is measured by bench/cli_startup.py (timed assertions are flaky); here we check the cause:
what gets imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import EXAMPLES, SRC

HEAVY = ("azure", "mltable", "pandas", "mlflow", "rich", "pyarrow", "numpy", "fsspec", "adlfs")

_PROBE = """
import json, sys
sys.argv = ["amlrun", *json.loads(sys.argv[1])]
try:
    {code}
except SystemExit:
    pass
finally:
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
    ours = sorted(m for m in sys.modules if m.startswith("amlrun"))
    sys.stderr.write("\\nMODULES=" + json.dumps({{"heavy": heavy, "pydantic": "pydantic" in sys.modules,
                                                 "click": "click" in sys.modules, "amlrun": ours}}) + "\\n")
"""


def _loaded(code: str, args: list[str], tmp_path: Path) -> dict:
    probe = _PROBE.format(code=code, heavy=list(HEAVY))
    env = {**os.environ, "PYTHONPATH": str(SRC), "AMLRUN_HOME": str(tmp_path / "store")}
    proc = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("MODULES=")]
    assert line, proc.stderr
    return json.loads(line[-1].removeprefix("MODULES="))


def test_importing_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded("import amlrun, amlrun.cli", [], tmp_path)
    assert (loaded["heavy"], loaded["pydantic"]) == ([], False)


def test_help_loads_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--help"], ["check", "--help"]):
        loaded = _loaded("from amlrun.cli import main; main()", args, tmp_path)
        assert (loaded["heavy"], loaded["pydantic"]) == ([], False), args


def test_the_console_script_answers_help_and_version_without_click(tmp_path: Path) -> None:
    """`amlrun`, `amlrun --help`, `amlrun --version`: pre-rendered text, nothing but amlrun's entry imported."""
    for args in ([], ["--help"], ["-h"], ["--version"]):
        loaded = _loaded("from amlrun.entry import main; main()", args, tmp_path)
        assert not loaded["click"] and loaded["heavy"] == [], args
        assert set(loaded["amlrun"]) <= {"amlrun", "amlrun.entry", "amlrun.cli_help"}, args


_QUICK_CASES = [[], ["--help"], ["-h"], ["--version"], ["--help", "run"], ["run", "--help"], ["--hel"]]


@pytest.mark.parametrize("package", [None, "amlrun"], ids=["console-script", "python-m"])
def test_pre_rendered_help_is_what_click_prints(package: str | None, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The console script's quick answers are byte for byte click's (else: `python -m amlrun.cli_help`)."""
    from amlrun.cli import main as click_main
    from amlrun.entry import quick_answer

    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__package__=package))
    monkeypatch.setenv("COLUMNS", "120")
    for args in _QUICK_CASES:
        monkeypatch.setattr(sys, "argv", ["/usr/bin/amlrun" if package is None else "/x/amlrun/__main__.py", *args])
        try:
            click_main()
            click_code = 0
        except SystemExit as exc:
            click_code = exc.code or 0
        out, err = capsys.readouterr()
        answer = quick_answer(args)
        if answer is None:
            assert args not in _QUICK_CASES[:4], args
            continue
        text, to_stderr, code = answer
        assert (text, code) == ((err if to_stderr else out), click_code), (
            f"{args}: amlrun/cli_help.py differs from click's help: run `python -m amlrun.cli_help`")
        assert (out if to_stderr else err) == ""
    monkeypatch.setenv("COLUMNS", "60")  # narrower than click's 80: click wraps, so click answers
    assert quick_answer(["--help"]) is None


def test_check_without_sdk_and_a_local_command_run_load_no_azure_tables_or_fsspec(tmp_path: Path) -> None:
    """`amlrun run` of a command job pays only for what a command job needs (issue 13: start-up)."""
    job = str(EXAMPLES / "hello" / "job.yml")
    for args in (["check", "--no-sdk", job], ["run", job]):
        loaded = _loaded("from amlrun.cli import main; main()", args, tmp_path)
        assert loaded["heavy"] == [], args


def test_running_a_command_job_loads_neither_pydantic_nor_click(tmp_path: Path) -> None:
    """`amlrun run job.yml`: the console script runs a plain command job without click, and loads it
    without pydantic (spec.lean); the run itself does not load them either."""
    job = tmp_path / "job.yml"
    job.write_text("command: echo hi ${{inputs.n}}\ninputs: {n: 3}\nenvironment_variables: {A: b}\n")
    loaded = _loaded("from amlrun.entry import main; main()", ["run", str(job)], tmp_path)
    assert (loaded["heavy"], loaded["pydantic"], loaded["click"]) == ([], False, False)
    assert "amlrun.spec.loader" not in loaded["amlrun"] and "amlrun.cli" not in loaded["amlrun"]


def test_help_lists_every_command(amlrun) -> None:
    result = amlrun("--help")
    assert result.code == 0
    for command in ("run", "check", "runs", "show", "logs"):
        assert f"  {command}" in result.out
