"""azure-ai-ml stays off the `--help` and local-run paths: importing amlrun's azureml modules is cheap."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import SRC


def test_azureml_modules_do_not_import_the_sdk() -> None:
    code = ("import sys, amlrun.cli, amlrun.azureml.submit, amlrun.azureml.compile, amlrun.azureml.dryrun, "
            "amlrun.azureml.validate, amlrun.azureml.workspace, amlrun.azureml.datastores; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure', 'marshmallow'))))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(SRC)},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_submit_help_lists_the_options(amlrun) -> None:
    result = amlrun("submit", "--help")
    assert result.code == 0
    assert "--dry-run" in result.out and "--register-datastores" in result.out
