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


def test_submit_without_a_workspace_says_so_before_loading_the_sdk(amlrun, tmp_path, write) -> None:
    job = write("p/job.yml", "type: command\ncommand: echo hi\ncompute: azureml:cpu\n")
    broken_sdk = tmp_path / "fake"
    (broken_sdk / "azure").mkdir(parents=True)
    (broken_sdk / "azure" / "__init__.py").write_text("raise ImportError('the SDK was imported')\n")
    result = amlrun("submit", job, cwd=tmp_path / "p", env={"PYTHONPATH": f"{broken_sdk}{os.pathsep}{SRC}"})
    assert result.code == 2, result.text
    assert "no AzureML workspace given" in result.err and "SDK was imported" not in result.text
