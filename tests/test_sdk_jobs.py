"""Jobs built in Python with azure-ai-ml run locally (CLI `file.py:fn` and `amlrun.run`), submit the same body,
and report problems at the Python line that made the step."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import amlrun
from sdk_fixtures import make_sdk_project


@pytest.fixture(scope="module")
def sdk_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sdk_project(tmp_path_factory.mktemp("sdk"))


def _check_outputs(outputs: dict) -> None:
    assert (Path(outputs["total"]) / "total.txt").read_text() == "4"  # n=4 -> prep writes 4 chars -> count
    rows = sorted(Path(outputs["rows"]).read_text().splitlines())
    assert rows == [f"item{i}.txt value{i}" for i in range(5)]


def test_cli_runs_a_pipeline_built_in_python(amlrun, sdk_project: Path, store: Path) -> None:
    result = amlrun("run", "build.py:make_pipeline", cwd=sdk_project)
    assert result.code == 0, result.text
    name = next(line.split()[2] for line in result.err.splitlines() if line.startswith("[amlrun] pipeline ")
                and line.rstrip().endswith("s") and "Completed" in line)
    record = json.loads((store / "runs" / name / "record.json").read_text())
    assert record["extra"]["source"] == f"{sdk_project / 'build.py'}:make_pipeline"
    assert record["spec_path"].startswith(str(store / "sdk"))
    _check_outputs(record["extra"]["outputs"])
    shown = amlrun("show", name)
    assert f"source:    {sdk_project / 'build.py'}:make_pipeline" in shown.out


def test_library_runs_a_target_and_a_job_object(sdk_project: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(sdk_project)
    result = amlrun.run("build.py:make_pipeline", store=tmp_path / "s1", quiet=True, set={"inputs.n": 4})
    assert result.ok and result.type == "pipeline"
    _check_outputs(result.outputs)
    assert set(result.steps) == {"prepared", "inner.counted", "score"}
    assert result.steps["counted"].status == "Completed"  # a unique short name works
    assert result.steps["score"].parallel["succeeded"] == 3
    assert result.source.endswith("build.py:make_pipeline")

    import build  # the module amlrun imported from the project folder

    again = amlrun.run(build.make_pipeline(), store=tmp_path / "s1", quiet=True)
    assert again.ok
    assert {s.status for s in again.steps.values()} == {"Reused"}  # same job, same step cache
    _check_outputs(again.outputs)
    assert again.source == str(sdk_project / "build.py")


def test_dry_run_of_a_target_is_the_body_of_submitting_the_object(amlrun, sdk_project: Path, monkeypatch) -> None:
    result = amlrun("submit", "build.py:make_pipeline", "--dry-run", "--name", "same_job", cwd=sdk_project)
    assert result.code == 0, result.text
    printed = json.loads(result.out.split("\n", 1)[1].split("\n# code snapshot")[0])

    monkeypatch.chdir(sdk_project)
    from amlrun.azureml.compile import request_body
    from amlrun.azureml.sdk_jobs import load_target

    job = load_target("build.py:make_pipeline").job  # built again, in this process
    job.name = "same_job"
    assert printed == request_body(job)
    assert printed["properties"]["jobs"]["score"]["type"] == "parallel"


def test_problems_are_reported_at_the_python_line_of_the_step(sdk_project: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    from amlrun.errors import SpecError, UsageError

    monkeypatch.chdir(sdk_project)
    with pytest.raises(SpecError) as caught:
        amlrun.run("build.py:broken_pipeline", store=tmp_path, quiet=True)
    line = next(i for i, text in enumerate((sdk_project / "build.py").read_text().splitlines(), 1)
                if "bad = typo(n=n)" in text)
    shown = caught.value.render()
    assert f"build.py:{line}:1: jobs.bad.component.command: step bad: ${{{{inputs.nn}}}}" in shown
    assert "did you mean 'n'?" in shown

    with pytest.raises(UsageError) as caught:
        amlrun.run("build.py:raises", store=tmp_path, quiet=True)
    line = next(i for i, text in enumerate((sdk_project / "build.py").read_text().splitlines(), 1)
                if "raise ValueError" in text)
    assert caught.value.message == (f"build.py:{line} in raises(): ValueError while calling build.py:raises(): "
                                    "no data for this week")

    with pytest.raises(UsageError) as caught:
        amlrun.run("build.py:make_pipelin", store=tmp_path, quiet=True)
    assert caught.value.hint.startswith("did you mean make_pipeline or ")


def test_importing_amlrun_and_its_pytest_plugin_stays_light(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, amlrun, amlrun.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure', 'amlrun.engine', 'amlrun.api'))))")
    env = {**os.environ, "PYTHONPATH": str(Path(amlrun.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"


def test_submitting_a_target_sends_what_submitting_the_object_sends(sdk_project: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    from amlrun.azureml.sdk_jobs import load_target
    from amlrun.azureml.sdk_local import sdk_run_request
    from amlrun.azureml.submit import SubmitRequest, submit_job
    from amlrun.engine.runner import RunRequest
    from submit_fixtures import FakeAzureML, FakeCredential

    monkeypatch.chdir(sdk_project)
    workspace = {"subscription": "sub-0000", "resource_group": "rg-test", "workspace": "ws-test"}
    sdk = load_target("build.py:remote_pipeline")  # no local data to upload (only code, which the fake knows)
    dump = sdk_run_request(sdk, RunRequest(file=Path("build.py"), store_root=tmp_path), validate=False).file
    via_amlrun = FakeAzureML()
    submit_job(SubmitRequest(file=dump, sdk=sdk, name="same_job", **workspace), credential=FakeCredential(),
               transport=via_amlrun.transport(), out=lambda _: None, err=lambda _: None)

    from azure.ai.ml import MLClient

    job = load_target("build.py:remote_pipeline").job  # a fresh import: the SDK resolves components in place
    job.name = "same_job"
    direct = FakeAzureML()
    MLClient(FakeCredential(), "sub-0000", "rg-test", "ws-test", transport=direct.transport()).jobs.create_or_update(job)
    def sent(fake: FakeAzureML) -> list[str]:  # the SDK names each code upload with a fresh uuid (and
        uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # anonymous components by hash)
        return [re.sub(uuid, "<uuid>", f"{c.method} {c.path} {json.dumps(c.body)}") for c in fake.calls]

    assert sent(via_amlrun) == sent(direct) and via_amlrun.sequence[-1] == "PUT ~/jobs/same_job"
    assert via_amlrun.jobs["same_job"]["properties"]["jobs"]["score"]["type"] == "parallel"
