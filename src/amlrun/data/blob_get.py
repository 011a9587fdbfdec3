"""Blob downloads as plain HTTP GETs (whole, or in ranges for big blobs) over one shared, bounded pool.

Why not adlfs' `get` or the SDK's `download_blob`: per blob they run a policy pipeline and copy the
body through several buffers, about 2.5x the client CPU per byte of a plain GET (measured with
bench/staging.py). On a small machine that CPU, not the network, limits how fast a step's inputs
arrive. The SDK still does what only it should: it builds the container URL for every endpoint
form and credential; this module signs nothing itself. An account key becomes a short-lived,
read-only container SAS signed locally by azure-storage-blob; a SAS is used as given; a token
credential becomes a bearer header.

The SAS and bearer header are secrets: they live only in `ReadAccess` and in the requests; no error
built here contains a URL, and urllib3's own log lines have `sig=` scrubbed. Access is made once per
datastore and reused while valid (a bearer token until ten minutes before it expires).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from amlrun.data.blob_errors import storage_errors
from amlrun.data.datastores import BlobDatastore
from amlrun.errors import DataError

__all__ = ["FETCH_CONCURRENCY", "BlobGet", "Http", "ReadAccess", "download_all", "read_access"]

# in flight at once, for the whole process: past ~4 per core, more threads only fight over the GIL
FETCH_CONCURRENCY = int(os.environ.get("AMLRUN_FETCH_CONCURRENCY") or min(32, 4 * (os.cpu_count() or 2)))
CHUNK = 1 << 20
RANGED_ABOVE = 64 << 20  # a bigger blob is fetched as parallel ranges: one stream to cloud storage is slow
PART = 16 << 20
ATTEMPTS = 3  # whole-blob attempts when a connection drops mid-body (status retries are urllib3's)
SAS_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class ReadAccess:
    """How to GET blobs of one container: its URL, and the SAS query or headers that authorise it."""

    container_url: str
    query: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)

    def target(self, blob: str = "", params: str = "") -> str:
        """The request target (path and query, no host) of a blob, or of the container with `params`."""
        path = urlsplit(self.container_url).path + (f"/{quote(blob, safe='/~')}" if blob else "")
        query = "&".join(q for q in (params, self.query) if q)
        return f"{path}?{query}" if query else path


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


def read_access(ds: BlobDatastore, doing: str = "signing in") -> ReadAccess:
    """Read and list access to the datastore's container, from the credential amlrun.yaml names.

    Made once and reused while it stays valid (a run lists, then fetches, often several inputs of one
    datastore): signing a SAS is cheap, but a token from `az login` costs a process. `doing` names the
    work in a sign-in failure.
    """
    with _pool_lock:
        known = _accesses.get(id(ds))
    if known is not None and known[0] is ds and time.time() < known[1]:
        return known[2]
    service = ds.service()
    url, _, query = service.get_container_client(ds.container_name).url.partition("?")
    headers = {"x-ms-version": service.api_version}
    shared = ds.shared_key()
    valid_until = float("inf")  # a SAS the user gave: as long as they made it
    if shared is not None:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        now = datetime.now(timezone.utc)
        query = generate_container_sas(shared[0], ds.container_name, account_key=shared[1],
                                       permission=ContainerSasPermissions(read=True, list=True),
                                       start=now - timedelta(minutes=5), expiry=now + SAS_LIFETIME)
        valid_until = time.time() + SAS_LIFETIME.total_seconds() / 2
    elif not query and hasattr(service.credential, "get_token"):  # DefaultAzureCredential: the client's own
        with storage_errors(ds, doing):
            token = service.credential.get_token("https://storage.azure.com/.default")
        headers["Authorization"] = f"Bearer {token.token}"
        valid_until = token.expires_on - 10 * 60
    access = ReadAccess(url, query, headers)
    with _pool_lock:
        _accesses[id(ds)] = (ds, valid_until, access)
    return access


class _ScrubSignatures(logging.Filter):
    """urllib3 logs request URLs (on retries, at WARNING); a SAS signature in one must never reach a log."""

    _SIG = re.compile(r"(?i)(sig=)[^&\s'\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sig=" in message.lower():
            record.msg, record.args = self._SIG.sub(r"\1***", message), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "urllib3.connection"):
    logging.getLogger(_name).addFilter(_ScrubSignatures())

_pool_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_http: dict[str, Any] = {}
_accesses: dict[int, tuple[BlobDatastore, float, ReadAccess]] = {}  # id(datastore) -> (it, valid until, access)


def _forget_after_fork() -> None:
    """A forked child (a parallel worker) must not reuse the parent's threads or sockets."""
    global _executor, _pool_lock
    _executor, _pool_lock = None, threading.Lock()
    _http.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _shared_executor() -> ThreadPoolExecutor:
    """One pool for every fetch in the process: concurrency stays bounded however many inputs fetch at once."""
    global _executor
    with _pool_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, FETCH_CONCURRENCY), thread_name_prefix="amlrun-fetch")
        return _executor


def _manager_for(url: str) -> Any:
    """A urllib3 pool manager for this URL: direct, or through the proxy the environment names."""
    import urllib3

    parts = urlsplit(url)
    proxy = None if urllib.request.proxy_bypass(parts.hostname or "") else urllib.request.getproxies().get(parts.scheme)
    key = proxy or ""
    with _pool_lock:
        if key not in _http:
            ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            options: dict[str, Any] = {
                "maxsize": max(1, FETCH_CONCURRENCY), "block": False, "ca_certs": ca,
                "timeout": urllib3.Timeout(connect=20, read=120),
                "retries": urllib3.Retry(total=5, backoff_factor=0.5, raise_on_status=False, respect_retry_after_header=True,
                                         status_forcelist=(408, 429, 500, 502, 503, 504)),
            }
            _http[key] = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        return _http[key]


class Http:
    """Requests to one storage host: straight to the host's urllib3 connection pool when no proxy is in the way.

    A PoolManager parses and re-encodes every URL it is given, a character at a time in Python: about
    0.5 ms of CPU a request here, as much as the rest of a small blob's GET. A target given to the
    host's pool is only encoded. Retries, timeouts and pool size are the manager's either way.
    """

    def __init__(self, base_url: str) -> None:
        import urllib3

        self._manager = _manager_for(base_url)
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._pool = None if isinstance(self._manager, urllib3.ProxyManager) else \
            self._manager.connection_from_url(base_url)

    def request(self, method: str, target: str, headers: dict[str, str], preload_content: bool = True) -> Any:
        """`target` is a path and query (`ReadAccess.target`)."""
        if self._pool is not None:
            return self._pool.urlopen(method, target, headers=headers, preload_content=preload_content,
                                      assert_same_host=False, redirect=False)
        return self._manager.request(method, self._origin + target, headers=headers, preload_content=preload_content)


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


def _get(http: Http, access: ReadAccess, container: str, item: BlobGet, span: tuple[int, int | None],
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


def download_all(access: ReadAccess, container: str, items: Iterable[BlobGet],
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
