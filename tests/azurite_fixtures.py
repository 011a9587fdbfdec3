"""A real Azurite blob server for the data tests: started once per session, stopped by PID.

Two storage accounts, so tests cover datastores with different credentials. Skipped (with the reason)
only when node_modules/.bin/azurite-blob is absent: `python3 dev.py setup` installs it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from amlrun.engine.process import pdeathsig_prefix

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT1 = "devstoreaccount1"
KEY1 = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ACCOUNT2 = "amlrunlake2"
KEY2 = base64.b64encode(b"amlrun-second-account-key-for-tests-0123456789").decode()


@dataclass(frozen=True)
class Azurite:
    host: str
    port: int

    def endpoint(self, account: str) -> str:
        return f"http://{self.host}:{self.port}/{account}"

    def connection_string(self, account: str = ACCOUNT1, key: str = KEY1) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
                f"BlobEndpoint={self.endpoint(account)};")

    def fs(self, account: str = ACCOUNT1, key: str = KEY1):
        from adlfs import AzureBlobFileSystem

        return AzureBlobFileSystem(connection_string=self.connection_string(account, key), skip_instance_cache=True)

    def fill(self, container: str, files: dict[str, bytes], account: str = ACCOUNT1, key: str = KEY1) -> None:
        """Create `container` (if needed) and upload `files` (path -> bytes) into it."""
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string(account, key))
        client = service.get_container_client(container)
        with contextlib.suppress(Exception):
            client.create_container()
        for name, data in files.items():
            client.upload_blob(name, data, overwrite=True)

    def read(self, container: str, path: str, account: str = ACCOUNT1, key: str = KEY1) -> bytes:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string(account, key))
        return service.get_blob_client(container, path).download_blob().readall()

    def exists(self, container: str, path: str, account: str = ACCOUNT1, key: str = KEY1) -> bool:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string(account, key))
        return service.get_blob_client(container, path).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dies_with_tests(command: list[str]) -> list[str]:
    """`command` under util-linux setpriv --pdeathsig: an Azurite outlives no test run, even one killed by `timeout`."""
    return [*pdeathsig_prefix("TERM"), *command]


def start_azurite(location: Path) -> tuple[subprocess.Popen[bytes], Azurite]:
    port = _free_port()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT1}:{KEY1};{ACCOUNT2}:{KEY2}"}
    proc = subprocess.Popen(
        dies_with_tests([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                         str(location), "--silent", "--skipApiVersionCheck", "--disableTelemetry"]),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 90  # node starts slowly on a loaded 2-core machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return proc, Azurite("127.0.0.1", port)
        time.sleep(0.1)
    stop_azurite(proc)
    raise RuntimeError("azurite did not answer within 90 s")


def stop_azurite(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session", name="azurite")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE.exists():
        pytest.skip(f"Azurite is not installed ({AZURITE} missing): run `python3 dev.py setup` (needs npm)")
    proc, server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        stop_azurite(proc)


LONG = "azureml://subscriptions/0000-1111/resourcegroups/rg-ml/workspaces/ws-ml/datastores"


def _sas(server: Azurite, container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(ACCOUNT1, container, account_key=KEY1,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True, create=True,
                                                                     add=True, delete=True),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=2))


@pytest.fixture(name="blob_project")
def blob_project_fixture(tmp_path: Path, azurite: Azurite, write, request) -> dict:
    """A project with three blob datastores (account key, connection string, SAS) and a local one."""
    tag = request.node.name.replace("_", "").lower()[-20:]
    containers = {"lake": f"lake{tag}", "raw": f"raw{tag}", "results": f"res{tag}"}
    azurite.fill(containers["lake"], {f"a/part{i}.txt": f"lake {i}\n".encode() for i in range(3)})
    azurite.fill(containers["raw"], {"b/x.txt": b"raw x\n", "b/sub/y.txt": b"raw y\n"}, ACCOUNT2, KEY2)
    azurite.fill(containers["results"], {"keep.txt": b"k"})
    write("proj/localdata/c/z.txt", "local z\n")
    write("proj/amlrun.yaml", f"""
        datastores:
          lake:
            type: azure_blob
            account_name: {ACCOUNT1}
            container_name: {containers["lake"]}
            endpoint: {azurite.endpoint(ACCOUNT1)}
            credential: {{account_key_env: LAKE_KEY}}
          lake2:
            type: azure_blob
            container_name: {containers["raw"]}
            credential: {{connection_string_env: LAKE2_CONN}}
          results:
            type: azure_blob
            account_name: {ACCOUNT1}
            container_name: {containers["results"]}
            endpoint: {azurite.endpoint(ACCOUNT1)}
            credential: {{sas_token_env: RESULTS_SAS}}
          local_ds: {{type: local, path: ./localdata}}
    """)
    env = {"LAKE_KEY": KEY1, "LAKE2_CONN": azurite.connection_string(ACCOUNT2, KEY2),
           "RESULTS_SAS": _sas(azurite, containers["results"])}
    return {"dir": tmp_path / "proj", "env": env, "containers": containers, "secrets": [KEY1, KEY2, env["RESULTS_SAS"]]}


def assert_no_secret(blob_project: dict, *places: Path, texts: tuple[str, ...] = ()) -> None:
    needles = [s for s in blob_project["secrets"]] + [s.split("sig=")[-1].split("&")[0]
                                                      for s in blob_project["secrets"] if "sig=" in s]
    for text in texts:
        for secret in needles:
            assert secret not in text
    for place in places:
        for f in place.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                for secret in needles:
                    assert secret.encode() not in data, f"secret found in {f}"
