"""`amlrun --help` stays fast: the CLI and the local-run path import no heavy library.

Timing is measured by bench/cli_startup.py (timed assertions are flaky); here we check the cause:
what gets imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    sys.stderr.write("\\nMODULES=" + json.dumps({{"heavy": heavy, "pydantic": "pydantic" in sys.modules}}) + "\\n")
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
    assert loaded == {"heavy": [], "pydantic": False}


def test_help_loads_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--help"], ["check", "--help"]):
        loaded = _loaded("from amlrun.cli import main; main()", args, tmp_path)
        assert loaded == {"heavy": [], "pydantic": False}, args


def test_check_without_sdk_and_a_local_command_run_load_no_azure_tables_or_fsspec(tmp_path: Path) -> None:
    """`amlrun run` of a command job pays only for what a command job needs (issue 13: start-up)."""
    job = str(EXAMPLES / "hello" / "job.yml")
    for args in (["check", "--no-sdk", job], ["run", job]):
        loaded = _loaded("from amlrun.cli import main; main()", args, tmp_path)
        assert loaded["heavy"] == [], args


def test_help_lists_every_command(amlrun) -> None:
    result = amlrun("--help")
    assert result.code == 0
    for command in ("run", "check", "runs", "show", "logs"):
        assert f"  {command}" in result.out
