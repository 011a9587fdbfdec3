"""Move bytes between blob datastores and local folders with bounded concurrency.

Listing reads the List Blobs XML with plain GETs (`blob_list`); when that fails, an azure-storage-blob
client lists again (bounded retries) so the failure is explained as every storage error is. Downloads are plain GETs on one
process-wide pool (`blob_get`, at most `FETCH_CONCURRENCY` in flight), each into a temp file in the
shared object cache, committed only when complete and only if the blob still has the etag it was
listed with; what is already cached is not fetched again. Uploads are plain PUTs on a thread pool
(`blob_put`; big files through azure-storage-blob, in blocks), so progress counts whole files.
Storage failures become DataErrors (`blob_errors`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.data.blob_errors import error_code, storage_errors
from amlrun.data.blob_get import BlobGet, download_all
from amlrun.data.blob_http import Http, container_access
from amlrun.data.blob_list import list_blobs
from amlrun.data.blob_put import SINGLE_PUT_MAX, BlobPut, put
from amlrun.data.cache import ObjectCache, object_key
from amlrun.data.datastores import BlobDatastore
from amlrun.data.progress import Transfer, TransferStats
from amlrun.errors import DataError

__all__ = ["RemoteFile", "fetch_into_cache", "list_remote", "upload_files"]

UPLOAD_CONCURRENCY = int(os.environ.get("AMLRUN_UPLOAD_CONCURRENCY", "8"))


@dataclass(frozen=True)
class RemoteFile:
    """One blob: `remote` is `container/path`, `relative` its path below the listed location."""

    remote: str
    relative: str
    size: int
    key: str
    etag: str | None = None


def _remote_file(ds: BlobDatastore, name: str, size: int, md5: bytes | None, etag: str | None,
                 relative: str) -> RemoteFile:
    """A listed blob; its cache key is its content MD5 when the service has one, else its etag."""
    remote = f"{ds.container_name}/{name}"
    key = object_key("md5", md5.hex(), size) if md5 else object_key("etag", ds.account_name, remote, etag, size)
    return RemoteFile(remote, relative, size, key, etag)


def _from_sdk(ds: BlobDatastore, blob: Any, relative: str) -> RemoteFile:
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    return _remote_file(ds, blob.name, int(blob.size), bytes(md5) if md5 else None, blob.etag, relative)


def _is_folder_marker(blob: Any) -> bool:
    """Hierarchical-namespace (ADLS Gen2) accounts list their directories as empty marker blobs."""
    return (blob.metadata or {}).get("hdi_isfolder") == "true"


def _list_below(ds: BlobDatastore, container: Any, path: str, uri: str) -> list[RemoteFile]:
    """Every file below the folder `path` (the whole container for ""), in one or a few listing calls."""
    prefix = f"{path}/" if path else None
    listed = list_blobs(container_access(ds, f"listing {uri}"), prefix)
    if listed is not None:
        return [_remote_file(ds, b.name, b.size, b.content_md5, b.etag, b.name[len(path):].lstrip("/"))
                for b in listed if not b.folder_marker]
    # refused or unreachable: the SDK lists again, so the failure reads as every other storage error does
    return [_from_sdk(ds, blob, blob.name[len(path):].lstrip("/"))
            for blob in container.list_blobs(name_starts_with=prefix, include=["metadata"])
            if not _is_folder_marker(blob)]


def list_remote(ds: BlobDatastore, path: str, want_file: bool, uri: str) -> list[RemoteFile]:
    """The blobs at a location: the one file, or everything below the folder (or the file it names)."""
    from azure.core.exceptions import ResourceNotFoundError

    container = ds.service().get_container_client(ds.container_name)
    path = path.strip("/")
    leaf = path.rsplit("/", 1)[-1]
    with storage_errors(ds, f"listing {uri}"):
        below = [] if want_file else _list_below(ds, container, path, uri)
        if not below and path:
            try:
                blob = container.get_blob_client(path).get_blob_properties()
            except ResourceNotFoundError as exc:
                if error_code(exc) == "ContainerNotFound":
                    raise
                blob = None
            if blob is not None and not _is_folder_marker(blob):
                below = [_from_sdk(ds, blob, leaf)]
            elif want_file and (blob is not None or next(iter(container.list_blobs(name_starts_with=f"{path}/")),
                                                         None)):
                raise DataError(f"{uri} is a folder, the input is a uri_file", hint="use `type: uri_folder`")
    if not below:
        raise DataError(f"nothing found at {uri} (datastore {ds.name!r}, {ds.describe()})",
                        hint="check the path and that the data was uploaded to that container")
    return sorted(below, key=lambda f: f.relative)


def fetch_into_cache(ds: BlobDatastore, files: list[RemoteFile], cache: ObjectCache, label: str,
                     on_ready: Callable[[str], None] | None = None) -> TransferStats:
    """Make every file present in the cache; fetch only the missing ones.

    `on_ready(key)` runs once per object as soon as it is in the cache: at once for what was cached
    already, on the download thread for what is fetched (so the caller's copies and links overlap
    the transfers still running).
    """
    started = time.monotonic()
    stats = TransferStats()
    missing: dict[str, RemoteFile] = {}
    present: set[str] = set()
    for f in files:
        if f.key in present or (f.key not in missing and cache.has(f.key, f.size)):
            present.add(f.key)
            stats.cached_files += 1
            stats.cached_bytes += f.size
        else:
            missing[f.key] = f
    if on_ready is not None:
        for key in present:
            on_ready(key)
    if missing:
        total = sum(f.size for f in missing.values())
        prefix = ds.container_name + "/"
        wanted = {cache.temp_path(): f for f in missing.values()}

        def commit(item: BlobGet) -> None:  # on the download thread, as each file completes
            f = wanted[item.dest]
            if item.dest.stat().st_size != f.size:
                raise DataError(f"{f.remote} changed while it was fetched", hint="run again")
            cache.commit(f.key, item.dest, f.size)
            del wanted[item.dest]  # nothing left to clean up for it
            if on_ready is not None:
                on_ready(f.key)

        gets = [BlobGet(f.remote.removeprefix(prefix), temp, f.etag, f.size) for temp, f in wanted.items()]
        with Transfer(f"fetching {label}", len(missing), total) as progress:
            try:
                download_all(container_access(ds), ds.container_name, gets, lambda n: progress.advance(0, n), commit)
            finally:
                for temp in list(wanted):
                    temp.unlink(missing_ok=True)
        stats.files, stats.bytes = len(missing), total
    stats.seconds = time.monotonic() - started
    return stats


def upload_files(ds: BlobDatastore, pairs: list[tuple[Path, str]], label: str) -> TransferStats:
    """Upload (local file, path in the datastore) pairs; overwrites what is there.

    Files up to `SINGLE_PUT_MAX` go up as one plain PUT each (`blob_put`); bigger ones, and any the
    service refused that way, through the SDK, whose failures `blob_errors` explains.
    """
    started = time.monotonic()
    items = [BlobPut(local, remote, local.stat().st_size) for local, remote in pairs]
    total = sum(item.size for item in items)
    with Transfer(f"uploading {label}", len(items), total) as progress, \
            storage_errors(ds, f"uploading {label}"):
        access = container_access(ds, f"uploading {label}", write=True) if items else None
        http = Http(access.container_url) if access else None

        failed = threading.Event()

        def send(item: BlobPut) -> None:
            if failed.is_set():  # one file failed: the output is not published, the rest need not go up
                return
            try:
                if item.size > SINGLE_PUT_MAX or not put(http, access, item):
                    with open(item.source, "rb") as data:
                        ds.service().get_blob_client(ds.container_name, item.blob).upload_blob(data, overwrite=True)
            except BaseException:
                failed.set()
                raise
            progress.advance(1, item.size)

        with ThreadPoolExecutor(max_workers=UPLOAD_CONCURRENCY) as pool:
            list(pool.map(send, items))
    return TransferStats(files=len(items), bytes=total, seconds=time.monotonic() - started)
