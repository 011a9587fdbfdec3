"""Fetching blob inputs into the shared cache: what a user sees when the data or the credential is not what it seemed."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from amlrun.data.blob_get import BlobGet
from amlrun.data.blob_http import container_access
from amlrun.data.cache import object_key
from amlrun.data.locations import DataContext
from amlrun.data.transfer import fetch_into_cache, list_remote
from amlrun.errors import DataError
from azurite_fixtures import (  # the session fixture `azurite`
    ACCOUNT1,
    KEY1,
    Azurite,
    azurite_server,  # noqa: F401
)


def _sas(container: str, **permissions: bool) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(ACCOUNT1, container, account_key=KEY1,
                                  permission=ContainerSasPermissions(**permissions),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=1))


@pytest.fixture(name="fetch_project")
def fetch_project_fixture(tmp_path: Path, azurite: Azurite, write, request, monkeypatch) -> dict:
    """Containers `keyed` (account key) and `sas` (a SAS that may list but not read) with a few blobs."""
    tag = request.node.name.replace("_", "").lower()[-16:]
    keyed, listed = f"keyed{tag}", f"sas{tag}"
    files = {f"in/part{i}.txt": f"part {i}\n".encode() * (i + 1) for i in range(5)}
    azurite.fill(keyed, files)
    azurite.fill(listed, files)
    monkeypatch.setenv("FETCH_KEY", KEY1)
    monkeypatch.setenv("FETCH_SAS_LIST_ONLY", _sas(listed, list=True))
    monkeypatch.setenv("FETCH_SAS_READ", _sas(keyed, list=True, read=True))
    write("proj/amlrun.yaml", f"""
        datastores:
          keyed: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: {keyed},
                   endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{account_key_env: FETCH_KEY}}}}
          readable: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: {keyed},
                      endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{sas_token_env: FETCH_SAS_READ}}}}
          listonly: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: {listed},
                      endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{sas_token_env: FETCH_SAS_LIST_ONLY}}}}
    """)
    project = tmp_path / "proj"
    data = DataContext.for_project(tmp_path / "store", project)
    return {"data": data, "project": project, "keyed": keyed, "files": files}


def _located(fetch_project: dict, datastore: str):
    location = fetch_project["data"].resolve(f"azureml://datastores/{datastore}/paths/in/", fetch_project["project"])
    return location.datastore_obj, location


def _cache_files(fetch_project: dict) -> list[Path]:
    root = fetch_project["data"].cache.root
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_sas_credential_fetches_every_byte_and_a_second_fetch_moves_nothing(fetch_project: dict) -> None:
    ds, location = _located(fetch_project, "readable")
    files = list_remote(ds, location.path, False, location.uri)
    cache = fetch_project["data"].cache
    first = fetch_into_cache(ds, files, cache, "inputs.x")
    assert (first.files, first.bytes) == (5, sum(map(len, fetch_project["files"].values())))
    for f in files:
        assert cache.path(f.key).read_bytes() == fetch_project["files"][f"in/{f.relative}"]
    again = fetch_into_cache(ds, files, cache, "inputs.x")
    assert (again.files, again.bytes, again.cached_files) == (0, 0, 5)


def test_a_blob_rewritten_after_listing_is_refused_not_cached_as_the_listed_version(
        fetch_project: dict, azurite: Azurite) -> None:
    ds, location = _located(fetch_project, "keyed")
    files = list_remote(ds, location.path, False, location.uri)
    same_size = fetch_project["files"]["in/part3.txt"].upper()  # only the etag tells it changed
    azurite.fill(fetch_project["keyed"], {"in/part3.txt": same_size})
    with pytest.raises(DataError, match=r"part3\.txt changed while it was fetched"):
        fetch_into_cache(ds, files, fetch_project["data"].cache, "inputs.x")
    changed = next(f for f in files if f.relative == "part3.txt")
    assert not fetch_project["data"].cache.path(changed.key).exists()
    assert not list((fetch_project["data"].cache.root / "tmp").iterdir()), "no half-fetched temp files left behind"


def test_a_credential_that_may_list_but_not_read_names_the_blob_and_never_the_signature(
        fetch_project: dict) -> None:
    ds, location = _located(fetch_project, "listonly")
    files = list_remote(ds, location.path, False, location.uri)
    with pytest.raises(DataError) as caught:
        fetch_into_cache(ds, files, fetch_project["data"].cache, "inputs.x")
    text = f"{caught.value.message}\n{caught.value.hint}"
    assert "was refused (403" in text and "/in/part" in text and "amlrun datastores" in text
    signature = os.environ["FETCH_SAS_LIST_ONLY"].split("sig=")[1].split("&")[0]
    assert signature not in text and "sig=" not in text
    assert not _cache_files(fetch_project)


def test_a_missing_container_or_a_wrong_key_fails_the_run_in_one_paragraph(
        amlrun, azurite: Azurite, write, tmp_path: Path) -> None:
    azurite.fill("present", {"in/a.txt": b"a\n"})
    wrong_key = KEY1[:-8] + "AAAAAAA="
    write("proj/amlrun.yaml", f"""
        datastores:
          gone: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: nosuchcontainer,
                  endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{account_key_env: GOOD_KEY}}}}
          badkey: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: present,
                    endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{account_key_env: WRONG_KEY}}}}
          garbled: {{type: azure_blob, account_name: {ACCOUNT1}, container_name: present,
                     endpoint: "{azurite.endpoint(ACCOUNT1)}", credential: {{account_key_env: GARBLED_KEY}}}}
    """)
    env = {"GOOD_KEY": KEY1, "WRONG_KEY": wrong_key, "GARBLED_KEY": "paste-error: not a key!"}
    for store, expected in (("gone", "container 'nosuchcontainer' of datastore 'gone'"),
                            ("garbled", "account key of datastore 'garbled' (account key from $GARBLED_KEY) is not "
                                        "valid base64"),
                            ("badkey", "in datastore 'badkey'")):
        job = write(f"proj/{store}.yml", f"""
            type: command
            command: ls ${{{{inputs.x}}}}
            inputs:
              x: {{type: uri_folder, path: azureml://datastores/{store}/paths/in/}}
        """)
        result = amlrun("run", job, env=env, cwd=tmp_path / "proj")
        assert result.code == 1, result.text
        assert expected in result.err and ("amlrun datastores" in result.err or store == "garbled"), result.err
        assert "Traceback" not in result.text and "internal error" not in result.text
        assert KEY1 not in result.text and wrong_key not in result.text
    assert "was refused (403" in result.err


def test_retried_requests_never_log_the_sas_signature(tmp_path: Path, caplog) -> None:
    """A throttling store (503 on every GET): urllib3 retries and logs each retry's URL; the signature is scrubbed."""
    import http.server
    import logging
    import threading

    from amlrun.data.blob_get import download_all
    from amlrun.data.blob_http import ContainerAccess

    class Throttled(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(503)
            self.send_header("Retry-After", "1")  # honoured: five 1 s waits, not back-off up to 8 s
            self.send_header("x-ms-error-code", "ServerBusy")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    access = ContainerAccess(f"http://127.0.0.1:{server.server_port}/acct/box", "sv=2024-01-01&sp=r&sig=TOPSECRETSIG%3D", {})
    try:
        with caplog.at_level(logging.DEBUG, logger="urllib3"), pytest.raises(DataError) as caught:
            download_all(access, "box", [BlobGet("a/b.bin", tmp_path / "b.bin")])
    finally:
        server.shutdown()
    assert "box/a/b.bin failed: HTTP 503 ServerBusy" in caught.value.message
    assert "Incremented Retry" in caplog.text and "sig=***" in caplog.text  # the retries were logged, scrubbed
    assert "TOPSECRETSIG" not in caplog.text and "TOPSECRETSIG" not in str(caught.value.message)


def test_a_big_blob_arrives_whole_through_parallel_ranges(fetch_project: dict, azurite: Azurite, monkeypatch) -> None:
    import amlrun.data.blob_get as blob_get

    monkeypatch.setattr(blob_get, "RANGED_ABOVE", 64 * 1024)
    monkeypatch.setattr(blob_get, "PART", 24 * 1024)  # 250,007 bytes: ten full parts and a short one
    payload = os.urandom(250_007)
    azurite.fill(fetch_project["keyed"], {"in/big/model.bin": payload})
    ds, location = _located(fetch_project, "keyed")
    files = [f for f in list_remote(ds, location.path, False, location.uri) if f.relative == "big/model.bin"]
    assert len(BlobGet(files[0].remote, Path("x"), files[0].etag, files[0].size).spans()) == 11
    stats = fetch_into_cache(ds, files, fetch_project["data"].cache, "inputs.x")
    assert (stats.files, stats.bytes) == (1, 250_007)
    assert fetch_project["data"].cache.path(files[0].key).read_bytes() == payload


def test_the_listing_names_sizes_and_cache_keys_every_blob_as_the_sdk_would(
        fetch_project: dict, azurite: Azurite, monkeypatch) -> None:
    """amlrun reads the List Blobs XML itself (pages followed); the SDK's listing must agree on every field."""
    from azure.storage.blob import BlobServiceClient

    import amlrun.data.blob_list as blob_list
    import amlrun.data.transfer as transfer

    container = BlobServiceClient.from_connection_string(azurite.connection_string()).get_container_client(
        fetch_project["keyed"])
    odd = {"in/a b+c.txt": b"spaces and plus\n", "in/ünï/çødé.bin": b"\x00\x01", "in/x%2Fy&z=1.txt": b"escaped\n",
           "in/deep/er/still.txt": b"deep\n"}
    for name, data in odd.items():
        container.upload_blob(name, data, overwrite=True)
    container.upload_blob("in/dirmarker", b"", metadata={"hdi_isfolder": "true"})  # an ADLS Gen2 directory
    appended = container.get_blob_client("in/appended.log")
    appended.create_append_blob()
    appended.append_block(b"no md5 here\n")
    ds, location = _located(fetch_project, "keyed")
    monkeypatch.setattr(blob_list, "PAGE", 3)  # several pages, each continued from the last one's marker
    listed = blob_list.list_blobs(container_access(ds), "in/")
    assert listed is not None and sum(b.folder_marker for b in listed) == 1, "the XML listing itself must work"
    ours = list_remote(ds, location.path, False, location.uri)
    monkeypatch.setattr(transfer, "list_blobs", lambda access, prefix: None)  # as when the fast listing fails
    sdk = list_remote(ds, location.path, False, location.uri)
    assert ours == sdk
    assert {f.relative for f in ours} == {name.removeprefix("in/") for name in [*fetch_project["files"], *odd]} | \
        {"appended.log"}
    unhashed = next(f for f in ours if f.relative == "appended.log")  # append blobs have no Content-MD5
    assert unhashed.key == object_key("etag", ds.account_name, unhashed.remote, unhashed.etag, unhashed.size)
    stats = fetch_into_cache(ds, ours, fetch_project["data"].cache, "inputs.x")
    assert stats.files == len(ours)
    assert fetch_project["data"].cache.path(next(f.key for f in ours if f.relative == "ünï/çødé.bin")).read_bytes() \
        == b"\x00\x01"
