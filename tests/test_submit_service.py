"""`amlrun submit` against a fake AzureML at the HTTP boundary: the calls made, in order, and what is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlrun.azureml.submit import SubmitRequest, submit_job
from amlrun.azureml.workspace import resolve_workspace
from amlrun.errors import DataError, SpecError, SubmitError, UsageError
from amlrun.spec.overrides import parse_override
from amlrun.spec.project import load_project_config
from submit_fixtures import (
    QUIET_SDK,
    STUDIO,
    FakeAzureML,
    FakeCredential,
    blob_names,
    blob_server_fixture,  # noqa: F401 - the `blob_server` fixture
    container_sas_url,
)

pytestmark = QUIET_SDK

WORKSPACE = {"subscription": "sub-0000", "resource_group": "rg-test", "workspace": "ws-test"}


@pytest.fixture
def job_file(write) -> Path:
    write("proj/src/train.py", "print('training')\n")
    return write("proj/job.yml", """
        type: command
        code: ./src
        command: python train.py --data ${{inputs.data}} --lr ${{inputs.lr}} --out ${{outputs.model}}
        inputs:
          data: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/raw/}
          lr: 0.1
        outputs:
          model: {type: uri_folder}
        environment: azureml:AzureML-sklearn-1.5@latest
        compute: azureml:cpu-cluster
    """)


def submit(file: Path, fake: FakeAzureML, *sets: str, confirm=lambda q: False, **options):
    out: list[str] = []
    err: list[str] = []
    request = SubmitRequest(file=file, overrides=[parse_override(s) for s in sets], **{**WORKSPACE, **options})
    result = submit_job(request, credential=FakeCredential(), transport=fake.transport(),
                        out=out.append, err=err.append, confirm=confirm)
    return result, "\n".join(out), "\n".join(err)


def test_submit_sequence_and_studio_url_from_the_response(job_file: Path) -> None:
    fake = FakeAzureML()
    result, out, _ = submit(job_file, fake, "inputs.lr=0.5", name="lr-sweep-1")
    assert fake.sequence == [
        f"GET ~/codes/{fake.calls[0].path.split('/codes/')[1].split('/')[0]}/versions",  # code hash lookup
        f"GET ~/codes/{fake.calls[0].path.split('/codes/')[1].split('/')[0]}/versions/1",
        "PUT ~/jobs/lr-sweep-1",
    ]
    assert "hash=" in fake.calls[0].query
    sent = fake.calls[-1].body["properties"]
    assert sent["inputs"]["lr"]["value"] == "0.5"
    assert sent["codeId"].endswith("/codes/" + fake.calls[0].path.split("/codes/")[1].split("/")[0] + "/versions/1")
    assert sent["computeId"].endswith("/computes/cpu-cluster")
    assert sent["inputs"]["data"]["uri"] == "azureml://datastores/workspaceblobstore/paths/raw/"
    studio = STUDIO.format(name="lr-sweep-1")
    assert result.name == "lr-sweep-1" and result.studio_url == studio
    assert f"studio: {studio}" in out  # the URL the fake service answered with, marker included
    assert result.exit_code == 0


def test_broken_file_makes_no_call(write) -> None:
    bad = write("bad/job.yml", """
        type: command
        command: echo hi
        environment: azureml:env@latest
        compute: azureml:cpu
        queue_settings: {job_tier: platinum}
    """)
    fake = FakeAzureML()
    with pytest.raises(SpecError) as caught:
        submit(bad, fake)
    assert fake.calls == []
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (5, "queue_settings.job_tier")


@pytest.mark.parametrize(("final", "code"), [("Completed", 0), ("Failed", 1)])
def test_wait_follows_the_job_to_its_end(job_file: Path, final: str, code: int, capsys) -> None:
    fake = FakeAzureML(final_status=final)
    result, _, err = submit(job_file, fake, name="waited", wait=True)
    assert result.status == final and result.exit_code == code
    assert f"waited {final}" in err
    assert fake.sequence[-1] == "GET ~/jobs/waited"
    assert any("/history/v1.0" in call for call in fake.sequence)  # status and logs from run history
    assert "Execution Summary" in capsys.readouterr().out


def test_workspace_from_config_json_when_no_flags(job_file: Path) -> None:
    (job_file.parent / ".azureml").mkdir()
    (job_file.parent / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": "sub-0000", "resource_group": "rg-test", "workspace_name": "ws-test"}))
    fake = FakeAzureML()
    result, _, err = submit(job_file, fake, subscription=None, resource_group=None, workspace=None)
    assert result.name and "config.json" in err
    assert fake.sequence[-1].startswith("PUT ~/jobs/")


def test_workspace_precedence(write, tmp_path: Path) -> None:
    write("ws/config.json", json.dumps({"subscription_id": "s-json", "resource_group": "rg-json",
                                        "workspace_name": "w-json", "tenant_id": "t-json"}))
    write("ws/proj/amlrun.yaml", "workspace: {subscription_id: s-yaml, workspace_name: w-yaml}\n")
    job = write("ws/proj/job.yml", "type: command\ncommand: echo\n")
    project = load_project_config(job)
    found = resolve_workspace(None, None, "w-flag", project, job)
    assert (found.subscription_id, found.resource_group, found.workspace_name) == ("s-yaml", "rg-json", "w-flag")
    assert found.tenant_id == "t-json"
    with pytest.raises(UsageError) as caught:
        resolve_workspace(None, None, None, load_project_config(tmp_path / "nowhere"), tmp_path / "nowhere")
    assert "--workspace" in caught.value.hint


def test_register_datastores_asks_first_and_never_sends_local_ones(job_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAKE_KEY", "bGFrZS1rZXk=")
    (job_file.parent / "amlrun.yaml").write_text(
        "datastores:\n"
        "  raw: {type: local, path: ./raw}\n"
        "  lake: {type: azure_blob, account_name: lakeacct, container_name: sequences,\n"
        "         credential: {account_key_env: LAKE_KEY}}\n")
    refused = FakeAzureML()
    with pytest.raises(SubmitError):
        submit(job_file, refused, register_datastores=True, confirm=lambda question: False)
    assert refused.sequence == ["GET ~/datastores"]  # asked, then nothing else sent

    questions: list[str] = []
    fake = FakeAzureML()
    _, _, err = submit(job_file, fake, register_datastores=True,
                       confirm=lambda question: questions.append(question) or True)
    assert questions == ["register datastore lake in the workspace?"]
    assert fake.sequence[:2] == ["GET ~/datastores", "PUT ~/datastores/lake"]
    registered = fake.calls[1].body["properties"]
    assert registered["accountName"] == "lakeacct" and registered["containerName"] == "sequences"
    assert registered["credentials"]["secrets"]["key"] == "bGFrZS1rZXk="
    assert not any("datastores/raw" in call for call in fake.sequence)
    assert "registered datastore lake" in err

    again = FakeAzureML(datastores=fake.datastores)
    submit(job_file, again, register_datastores=True, yes=True)
    assert "PUT ~/datastores/lake" not in again.sequence  # already there: nothing to register


def test_service_errors_are_one_paragraph(job_file: Path) -> None:
    class Refusing(FakeAzureML):
        def route(self, method, path, query, body):
            if method == "PUT":
                return 400, {"error": {"code": "UserError", "message": "Compute cpu-cluster not found"}}
            return super().route(method, path, query, body)

    with pytest.raises(SubmitError) as caught:
        submit(job_file, Refusing())
    assert "Compute cpu-cluster not found" in caught.value.message
    assert caught.value.hint


def test_new_code_is_uploaded_where_the_service_says_as_the_dry_run_listed(job_file: Path, blob_server: str) -> None:
    src = job_file.parent / "src"
    (src / "utils.py").write_text("X = 1\n")
    (src / "notes.txt").write_text("scratch\n")
    (src / ".amlignore").write_text("notes.txt\n")
    _, listing, _ = submit(job_file, FakeAzureML(), dry_run=True)
    snapshot = listing.split("# code snapshot", 1)[1].splitlines()[1:]
    listed = sorted(line.split()[0] for line in snapshot)

    fake = FakeAzureML(upload_sas_url=container_sas_url(blob_server, "code-uploads"))
    result, _, _ = submit(job_file, fake, name="fresh-code")
    code_name = fake.calls[0].path.split("/codes/")[1].split("/")[0]
    assert fake.sequence == [
        f"GET ~/codes/{code_name}/versions",  # not registered yet
        f"POST ~/codes/{code_name}/versions/1/startPendingUpload",  # where to put it (a SAS URL)
        f"PUT ~/codes/{code_name}/versions/1",  # register the uploaded snapshot
        "PUT ~/jobs/fresh-code",
    ]
    uploaded = [name.removeprefix("src/") for name in blob_names(blob_server, "code-uploads")]
    assert sorted(uploaded) == listed == [".amlignore", "train.py", "utils.py"]
    assert fake.calls[2].body["properties"]["codeUri"].startswith(blob_server)
    assert fake.calls[3].body["properties"]["codeId"].endswith(f"/codes/{code_name}/versions/1")
    assert result.studio_url == STUDIO.format(name="fresh-code")


def test_tenant_is_asked_for_every_token(monkeypatch) -> None:
    from amlrun.azureml import workspace

    seen: list[dict] = []

    class Recording:
        def __init__(self, **kwargs) -> None:
            seen.append({"init": kwargs})

        def get_token(self, *scopes, **kwargs):
            seen.append(kwargs)
            return "token"

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Recording)
    credential = workspace.make_credential("tenant-42", interactive=False)
    assert credential.get_token("https://management.azure.com/.default") == "token"
    assert seen[0]["init"]["interactive_browser_tenant_id"] == "tenant-42"
    assert seen[1] == {"tenant_id": "tenant-42"}


def test_datastore_from_a_connection_string(monkeypatch) -> None:
    from amlrun.azureml.datastores import datastore_entity

    monkeypatch.setenv("LAKE_CONN", "DefaultEndpointsProtocol=https;AccountName=lakeacct;AccountKey=a2V5;")
    store = datastore_entity("lake", {"type": "azure_blob", "container_name": "raw",
                                      "credential": {"connection_string_env": "LAKE_CONN"}})
    assert (store.account_name, store.container_name, store.credentials.account_key) == ("lakeacct", "raw", "a2V5")
    monkeypatch.delenv("LAKE_CONN")
    with pytest.raises(DataError, match="LAKE_CONN is not set"):
        datastore_entity("lake", {"type": "azure_blob", "container_name": "raw",
                                  "credential": {"connection_string_env": "LAKE_CONN"}})
