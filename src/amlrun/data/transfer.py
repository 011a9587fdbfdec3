"""Move bytes between blob datastores and local folders with bounded concurrency.

Listing uses an azure-storage-blob client (bounded retries). Downloads are plain GETs on one
process-wide pool (`blob_get`, at most `FETCH_CONCURRENCY` in flight), each into a temp file in the
shared object cache, committed only when complete and only if the blob still has the etag it was
listed with; what is already cached is not fetched again. Uploads use azure-storage-blob clients on a
thread pool, so progress counts whole files. Storage failures become DataErrors (`blob_errors`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.data.blob_errors import error_code, storage_errors
from amlrun.data.blob_get import BlobGet, download_all, read_access
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


def _remote_file(ds: BlobDatastore, blob: Any, relative: str) -> RemoteFile:
    """A listed blob; its cache key is its content MD5 when the service has one, else its etag."""
    size = int(blob.size)
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    remote = f"{ds.container_name}/{blob.name}"
    key = object_key("md5", bytes(md5).hex(), size) if md5 else \
        object_key("etag", ds.account_name, remote, blob.etag, size)
    return RemoteFile(remote, relative, size, key, blob.etag)


def _is_folder_marker(blob: Any) -> bool:
    """Hierarchical-namespace (ADLS Gen2) accounts list their directories as empty marker blobs."""
    return (blob.metadata or {}).get("hdi_isfolder") == "true"


def list_remote(ds: BlobDatastore, path: str, want_file: bool, uri: str) -> list[RemoteFile]:
    """The blobs at a location: the one file, or everything below the folder (or the file it names)."""
    from azure.core.exceptions import ResourceNotFoundError

    container = ds.service().get_container_client(ds.container_name)
    path = path.strip("/")
    leaf = path.rsplit("/", 1)[-1]
    with storage_errors(ds, f"listing {uri}"):
        below = [] if want_file else [
            _remote_file(ds, blob, blob.name[len(path):].lstrip("/"))
            for blob in container.list_blobs(name_starts_with=f"{path}/" if path else None, include=["metadata"])
            if not _is_folder_marker(blob)]
        if not below and path:
            try:
                blob = container.get_blob_client(path).get_blob_properties()
            except ResourceNotFoundError as exc:
                if error_code(exc) == "ContainerNotFound":
                    raise
                blob = None
            if blob is not None and not _is_folder_marker(blob):
                below = [_remote_file(ds, blob, leaf)]
            elif want_file and (blob is not None or next(iter(container.list_blobs(name_starts_with=f"{path}/")),
                                                         None)):
                raise DataError(f"{uri} is a folder, the input is a uri_file", hint="use `type: uri_folder`")
    if not below:
        raise DataError(f"nothing found at {uri} (datastore {ds.name!r}, {ds.describe()})",
                        hint="check the path and that the data was uploaded to that container")
    return sorted(below, key=lambda f: f.relative)


def fetch_into_cache(ds: BlobDatastore, files: list[RemoteFile], cache: ObjectCache, label: str) -> TransferStats:
    """Make every file present in the cache; fetch only the missing ones."""
    started = time.monotonic()
    stats = TransferStats()
    missing = []
    for f in files:
        if cache.has(f.key, f.size):
            stats.cached_files += 1
            stats.cached_bytes += f.size
        else:
            missing.append(f)
    unique = list({f.key: f for f in missing}.values())
    if unique:
        total = sum(f.size for f in unique)
        prefix = ds.container_name + "/"
        wanted = {cache.temp_path(): f for f in unique}

        def commit(item: BlobGet) -> None:  # on the download thread, as each file completes
            f = wanted[item.dest]
            if item.dest.stat().st_size != f.size:
                raise DataError(f"{f.remote} changed while it was fetched", hint="run again")
            cache.commit(f.key, item.dest)

        gets = [BlobGet(f.remote.removeprefix(prefix), temp, f.etag, f.size) for temp, f in wanted.items()]
        with Transfer(f"fetching {label}", len(unique), total) as progress:
            try:
                download_all(read_access(ds), ds.container_name, gets, lambda n: progress.advance(0, n), commit)
            finally:
                for temp in wanted:
                    temp.unlink(missing_ok=True)
        stats.files, stats.bytes = len(unique), total
    stats.seconds = time.monotonic() - started
    return stats


def upload_files(ds: BlobDatastore, pairs: list[tuple[Path, str]], label: str) -> TransferStats:
    """Upload (local file, path in the datastore) pairs; overwrites what is there."""
    started = time.monotonic()
    service = ds.service()
    total = sum(p.stat().st_size for p, _ in pairs)

    with Transfer(f"uploading {label}", len(pairs), total) as progress:
        def put(pair: tuple[Path, str]) -> None:
            local, remote = pair
            with open(local, "rb") as data:
                service.get_blob_client(ds.container_name, remote).upload_blob(data, overwrite=True)
            progress.advance(1, local.stat().st_size)

        with storage_errors(ds, f"uploading {label}"), ThreadPoolExecutor(max_workers=UPLOAD_CONCURRENCY) as pool:
            list(pool.map(put, pairs))
    return TransferStats(files=len(pairs), bytes=total, seconds=time.monotonic() - started)
