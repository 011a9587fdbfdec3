"""A fake AzureML service at the HTTP boundary, and a fake credential, for submit tests.

`FakeAzureML` answers the ARM/data-plane requests azure-ai-ml makes (it is mounted as a
`requests` adapter under azure-core's real RequestsTransport, so the SDK's whole pipeline runs)
and records every call. No request leaves the process.
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from requests.adapters import BaseAdapter

EXAMPLES_ROOT = Path(__file__).resolve().parents[1] / "examples"

WS = ("/subscriptions/sub-0000/resourceGroups/rg-test/providers/Microsoft.MachineLearningServices"
      "/workspaces/ws-test")
STUDIO = "https://ml.azure.com/runs/{name}?wsid=" + WS + "&from=fake-service-response"


class FakeCredential:
    """A TokenCredential that never signs in anywhere."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(_unsigned_jwt(scopes), int(time.time()) + 3600)


def _unsigned_jwt(scopes: tuple[str, ...]) -> str:
    """A token shaped like Azure AD's (azure-ai-ml decodes it, unverified, to check its audience)."""
    import base64

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    audience = scopes[0].removesuffix("/.default") if scopes else ""
    claims = {"aud": audience, "exp": int(time.time()) + 3600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"  # "sig"


@dataclass
class Call:
    method: str
    path: str
    query: str
    body: Any


@dataclass
class FakeAzureML(BaseAdapter):
    """Routes for the calls `jobs.create_or_update` makes; `jobs` keeps created job bodies."""

    calls: list[Call] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    final_status: str = "Completed"
    upload_sas_url: str | None = None  # when set, code is new: the service hands out this SAS URL for it

    def __post_init__(self) -> None:
        super().__init__()
        self.datastores.setdefault("workspaceblobstore", _datastore("workspaceblobstore"))

    def transport(self):
        from azure.core.pipeline.transport import RequestsTransport

        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return RequestsTransport(session=session, session_owner=False)

    @property
    def sequence(self) -> list[str]:
        """`METHOD /path` of every call, with the workspace prefix shortened to `~`."""
        return [f"{c.method} {c.path.replace(WS, '~')}" for c in self.calls]

    # requests adapter interface
    def send(self, request, **kwargs):  # noqa: ANN001
        url = request.url
        path, _, query = url.partition("?")
        path = re.sub(r"^https?://[^/]+", "", path)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        self.calls.append(Call(request.method, path, query, parsed))
        status, payload = self.route(request.method, path, query, parsed)
        return _response(request, status, payload)

    def close(self) -> None:
        pass

    def route(self, method: str, path: str, query: str, body: Any) -> tuple[int, Any]:
        if path == "/discovery":
            return 200, {"api": "https://fake.api.azureml.ms", "history": "https://fake.api.azureml.ms"}
        details = re.fullmatch(r"/history/v1\.0/.*/runs/([^/]+)/details", path)
        if details and details.group(1) in self.jobs:
            return 200, {"runId": details.group(1), "status": self.final_status, "logFiles": {},
                         "warnings": [], **({"error": {"error": {"code": "UserError", "message": "exit 3"}}}
                                            if self.final_status == "Failed" else {})}
        if not path.startswith(WS):
            return 404, _error(f"unknown resource {path}")
        rest = path[len(WS):]
        if rest == "" and method == "GET":
            return 200, {"id": WS, "name": "ws-test", "location": "westeurope",
                         "properties": {"discoveryUrl": "https://fake.api.azureml.ms/discovery"}}
        code = re.fullmatch(r"/codes/([^/]+)/versions(?:/([^/]+))?", rest)
        if code and method == "GET" and code.group(2) is None:
            if self.upload_sas_url:
                return 200, {"value": []}  # no code with this hash yet: it must be uploaded
            # the hash the SDK computed is already registered: unchanged code is not uploaded again
            return 200, {"value": [_code(code.group(1))]}
        pending = re.fullmatch(r"/codes/([^/]+)/versions/([^/]+)/startPendingUpload", rest)
        if pending and method == "POST" and self.upload_sas_url:
            base, _, sas = self.upload_sas_url.partition("?")
            folder = f"{base}/LocalUpload/{pending.group(1)}"
            return 200, {"blobReferenceForConsumption": {
                "blobUri": folder, "credential": {"credentialType": "SAS", "sasUri": f"{base}?{sas}"}},
                "pendingUploadId": "upload-1", "pendingUploadType": "TemporaryBlobReference"}
        if code and method == "PUT":
            return 201, {**body, "id": path, "name": code.group(2)}
        if code and method == "GET":
            return 200, _code(code.group(1))
        env = re.fullmatch(r"/environments/([^/]+)/versions(?:/([^/]+))?", rest)
        if env and method == "GET":
            item = _environment(env.group(1), env.group(2) or "7")
            return 200, item if env.group(2) else {"value": [item]}
        anonymous = re.fullmatch(r"/(?:environments|components)/[^/]+/versions/([^/]+)", rest)
        if anonymous and method == "PUT":  # inline environments and pipeline steps are created as sent
            return 201, {**body, "id": path, "name": anonymous.group(1)}
        store = re.fullmatch(r"/datastores(?:/([^/]+))?", rest)
        if store and method == "GET":
            if store.group(1) is None:
                return 200, {"value": list(self.datastores.values())}
            found = self.datastores.get(store.group(1))
            return (200, found) if found else (404, _error("no such datastore"))
        if store and method == "PUT":
            self.datastores[store.group(1)] = {**body, "id": path, "name": store.group(1)}
            return 200, self.datastores[store.group(1)]
        job = re.fullmatch(r"/jobs/([^/]+)", rest)
        if job and method == "PUT":
            name = job.group(1)
            created = json.loads(json.dumps(body))
            created.update(id=path, name=name, type="Microsoft.MachineLearningServices/workspaces/jobs")
            created["properties"]["status"] = "Starting"
            created["properties"]["services"] = {"Studio": {"jobServiceType": "Studio",
                                                            "endpoint": STUDIO.format(name=name)}}
            self.jobs[name] = created
            return 201, created
        if job and method == "GET" and job.group(1) in self.jobs:
            current = self.jobs[job.group(1)]
            current["properties"]["status"] = self.final_status
            return 200, current
        return 404, _error(f"the fake service has no route for {method} {rest}")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"code": "NotFound", "message": message}}


def _code(name: str) -> dict[str, Any]:
    return {"id": f"{WS}/codes/{name}/versions/1", "name": "1",
            "properties": {"codeUri": f"https://acct.blob.core.windows.net/azureml-blobstore/LocalUpload/{name}/src",
                           "isAnonymous": True}}


def _environment(name: str, version: str) -> dict[str, Any]:
    return {"id": f"{WS}/environments/{name}/versions/{version}", "name": version,
            "properties": {"image": "mcr.microsoft.com/azureml/curated/sklearn:1", "osType": "Linux"}}


def _datastore(name: str) -> dict[str, Any]:
    return {"id": f"{WS}/datastores/{name}", "name": name,
            "properties": {"datastoreType": "AzureBlob", "accountName": "acct", "containerName": "azureml-blobstore",
                           "endpoint": "core.windows.net", "protocol": "https", "isDefault": True,
                           "credentials": {"credentialsType": "AccountKey"}}}


def _response(request, status: int, payload: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    content = json.dumps(payload).encode()
    response._content = content
    response.raw = io.BytesIO(content)
    response.headers["Content-Type"] = "application/json"
    response.url = request.url
    response.request = request
    response.reason = "OK" if status < 400 else "Error"
    return response


def example_files() -> list[Path]:
    """Every YAML job or component file under examples/ (other engineers add more over time)."""
    root = EXAMPLES_ROOT
    files = []
    for path in sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]):
        if path.name in ("amlrun.yaml", "MLTable") or "conda" in path.name:
            continue
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and str(data.get("type", "")) in ("command", "pipeline", "parallel"):
            files.append(path)
    return files


def example_jobs() -> list[Path]:
    from amlrun.spec.check import _looks_like_component

    return [p for p in example_files() if not _looks_like_component(yaml.safe_load(p.read_text()))]


def block_network(monkeypatch) -> list[tuple]:
    """Make every socket connection fail loudly; returns the attempted addresses."""
    import socket

    attempts: list[tuple] = []

    def refuse(self, address, *args, **kwargs):  # noqa: ANN001
        attempts.append(address)
        raise OSError(f"network blocked in this test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts


# azure-ai-ml's import emits hundreds of marshmallow deprecation warnings
QUIET_SDK = [pytest.mark.filterwarnings("ignore::Warning:marshmallow.*"),
             pytest.mark.filterwarnings("ignore::Warning:azure.*")]


# --- a real blob server (Azurite) for the code upload the service hands out a SAS URL for ---
AZURITE_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="module", name="blob_server")
def blob_server_fixture(tmp_path_factory):
    """Azurite on a free 127.0.0.1 port; yields its account URL (stopped by its own PID afterwards)."""
    import contextlib
    import os
    import signal
    import socket
    import subprocess

    if not AZURITE_BIN.exists():
        pytest.skip(f"Azurite is not installed ({AZURITE_BIN} missing): run `python3 dev.py setup`")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from azurite_fixtures import dies_with_tests

    proc = subprocess.Popen(dies_with_tests([str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                                             "--location", str(tmp_path_factory.mktemp("azurite")), "--silent",
                                             "--skipApiVersionCheck", "--disableTelemetry"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Azurite did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{DEV_ACCOUNT}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def container_sas_url(account_url: str, container: str) -> str:
    """Create `container` in Azurite and return a SAS URL for it, as AzureML's pending-upload answer has."""
    import contextlib
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient(account_url, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})
    with contextlib.suppress(Exception):
        service.create_container(container)
    sas = generate_container_sas(DEV_ACCOUNT, container, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, list=True, create=True,
                                                                    add=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return f"{account_url}/{container}?{sas}"


def blob_names(account_url: str, container: str) -> list[str]:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(account_url, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})
    return sorted(b.name for b in service.get_container_client(container).list_blobs())
