"""Blob downloads as plain HTTP GETs (whole, or in ranges for big blobs) over one shared, bounded pool.

Why not adlfs' `get` or the SDK's `download_blob`: per blob they run a policy pipeline and copy the
body through several buffers, about 2.5x the client CPU per byte of a plain GET (measured with
bench/staging.py). On a small machine that CPU, not the network, limits how fast a step's inputs
arrive. Who may read, and the connections, are `blob_http`'s; no error built here contains a URL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from amlrun.data.blob_http import FETCH_CONCURRENCY, ContainerAccess, Http
from amlrun.errors import DataError

__all__ = ["BlobGet", "download_all"]

CHUNK = 1 << 20
RANGED_ABOVE = 64 << 20  # a bigger blob is fetched as parallel ranges: one stream to cloud storage is slow
PART = 16 << 20
ATTEMPTS = 3  # whole-blob attempts when a connection drops mid-body (status retries are urllib3's)


@dataclass(frozen=True)
class BlobGet:
    """One download: `blob` (its name in the container) into `dest`, only if it still has `etag`.

    With its `size` known, a blob above `RANGED_ABOVE` bytes is fetched as `PART`-sized ranges side by side.
    """

    blob: str
    dest: Path
    etag: str | None = None
    size: int | None = None

    def spans(self) -> list[tuple[int, int | None]]:
        """(first byte, last byte) of each request; (0, None) is the whole blob in one."""
        if self.size is None or self.size <= RANGED_ABOVE:
            return [(0, None)]
        return [(start, min(start + PART, self.size) - 1) for start in range(0, self.size, PART)]


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child (a parallel worker) must not reuse the parent's threads."""
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _shared_executor() -> ThreadPoolExecutor:
    """One pool for every fetch in the process: concurrency stays bounded however many inputs fetch at once."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, FETCH_CONCURRENCY), thread_name_prefix="amlrun-fetch")
        return _executor


def _failure(status: int, blob: str, container: str, error_code: str | None) -> DataError:
    where = f"{container}/{blob}"
    if status == 412:
        return DataError(f"{where} changed while it was fetched", hint="run again")
    if status == 404:
        return DataError(f"{where} was listed but is gone", hint="run again once the data is stable")
    if status in (401, 403):
        return DataError(f"reading {where} was refused ({status} {error_code or ''})".rstrip(),
                         hint="the datastore's credential needs read access; check it with `amlrun datastores`")
    return DataError(f"reading {where} failed: HTTP {status} {error_code or ''}".rstrip(),
                     hint="check the datastore with `amlrun datastores`")


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _get(http: Http, access: ContainerAccess, container: str, item: BlobGet, span: tuple[int, int | None],
         on_bytes: Callable[[int], None], finished: Callable[[BlobGet], None]) -> None:
    """Fetch one span of one blob into its place in `item.dest`; `finished(item)` once it is there."""
    import urllib3

    target = access.target(item.blob)
    headers = dict(access.headers)
    if item.etag:
        headers["If-Match"] = item.etag if item.etag.startswith('"') else f'"{item.etag}"'
    start, end = span
    if end is not None:
        headers["x-ms-range"] = f"bytes={start}-{end}"
    for attempt in range(1, ATTEMPTS + 1):
        written = 0
        try:
            response = http.request("GET", target, headers, preload_content=False)
            try:
                if response.status != (200 if end is None else 206):
                    raise _failure(response.status, item.blob, container, response.headers.get("x-ms-error-code"))
                fd = os.open(item.dest, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if end is None else 0), 0o644)
                try:
                    while chunk := response.read(CHUNK):
                        _write_at(fd, chunk, start + written)
                        written += len(chunk)
                        on_bytes(len(chunk))
                finally:
                    os.close(fd)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:  # connection lost, timed out, body cut short
            on_bytes(-written)
            if attempt == ATTEMPTS:
                raise DataError(f"reading {container}/{item.blob} failed: {type(exc).__name__}",
                                hint="check the network and the datastore with `amlrun datastores`") from None
        except OSError as exc:
            raise _write_failure(container, item, exc) from None
        else:
            finished(item)
            return


def _write_failure(container: str, item: BlobGet, exc: OSError) -> DataError:
    return DataError(f"could not write {container}/{item.blob} to {item.dest.parent}: {exc.strerror or exc}",
                     hint="free some disk space, or set a smaller cache limit in amlrun.yaml")


def download_all(access: ContainerAccess, container: str, items: Iterable[BlobGet],
                 on_bytes: Callable[[int], None] = lambda n: None,
                 on_done: Callable[[BlobGet], None] = lambda item: None) -> None:
    """Download every item on the shared pool; on the first failure, raise it once all have ended.

    `on_done(item)` runs on the pool thread right after the item's file is complete (committing it to
    a cache there overlaps that work with the transfers still running).
    """
    http = Http(access.container_url)  # one proxy decision per container, not per blob
    spans_left: dict[Path, int] = {}
    lock = threading.Lock()

    def span_done(item: BlobGet) -> None:
        with lock:
            spans_left[item.dest] -= 1
            complete = spans_left[item.dest] == 0
        if complete:
            on_done(item)

    futures: list[Future[None]] = []
    first: BaseException | None = None
    for item in items:
        spans = item.spans()
        spans_left[item.dest] = len(spans)
        if len(spans) > 1:  # ranges land in place: the file has its full size from the start
            try:
                with open(item.dest, "wb") as out:
                    out.truncate(item.size)
            except OSError as exc:
                first = _write_failure(container, item, exc)
                break
        futures += [_shared_executor().submit(_get, http, access, container, item, span, on_bytes, span_done)
                    for span in spans]
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - collected, re-raised below after the others end
            first = first or exc
            for other in futures:
                other.cancel()
    if first is not None:
        raise first
