"""Plain HTTP to a blob container: who may do what (a SAS or a bearer header), and shared connection pools.

The SDK still does what only it should: it builds the container URL for every endpoint form and
credential, and signs. An account key becomes a short-lived container SAS signed locally by
azure-storage-blob (read+list for inputs, create+write for outputs); a SAS is used as given; a token
credential becomes a bearer header. Access is made once per datastore and purpose, and reused while
valid (a bearer token until ten minutes before it expires).

The SAS and bearer header are secrets: they live only in `ContainerAccess` and in the requests; no
error built on them contains a URL, and urllib3's own log lines have `sig=` scrubbed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from amlrun.data.blob_errors import storage_errors
from amlrun.data.datastores import BlobDatastore

__all__ = ["FETCH_CONCURRENCY", "ContainerAccess", "Http", "container_access"]

# in flight at once, for the whole process: past ~4 per core, more threads only fight over the GIL
FETCH_CONCURRENCY = int(os.environ.get("AMLRUN_FETCH_CONCURRENCY") or min(32, 4 * (os.cpu_count() or 2)))
SAS_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class ContainerAccess:
    """How to reach one container: its URL, and the SAS query or headers that authorise the requests."""

    container_url: str
    query: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)

    def target(self, blob: str = "", params: str = "") -> str:
        """The request target (path and query, no host) of a blob, or of the container with `params`."""
        path = urlsplit(self.container_url).path + (f"/{quote(blob, safe='/~')}" if blob else "")
        query = "&".join(q for q in (params, self.query) if q)
        return f"{path}?{query}" if query else path


def container_access(ds: BlobDatastore, doing: str = "signing in", write: bool = False) -> ContainerAccess:
    """Access to the datastore's container (to read and list, or with `write` to create and write blobs).

    Made once and reused while it stays valid (a run lists, then fetches, often several inputs of one
    datastore): signing a SAS is cheap, but a token from `az login` costs a process. `doing` names the
    work in a sign-in failure.
    """
    with _lock:
        known = _accesses.get((id(ds), write))
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
        allowed = ContainerSasPermissions(create=True, write=True) if write else \
            ContainerSasPermissions(read=True, list=True)
        query = generate_container_sas(shared[0], ds.container_name, account_key=shared[1], permission=allowed,
                                       start=now - timedelta(minutes=5), expiry=now + SAS_LIFETIME)
        valid_until = time.time() + SAS_LIFETIME.total_seconds() / 2
    elif not query and hasattr(service.credential, "get_token"):  # DefaultAzureCredential: the client's own
        with storage_errors(ds, doing):
            token = service.credential.get_token("https://storage.azure.com/.default")
        headers["Authorization"] = f"Bearer {token.token}"
        valid_until = token.expires_on - 10 * 60
    access = ContainerAccess(url, query, headers)
    with _lock:
        _accesses[(id(ds), write)] = (ds, valid_until, access)
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

_lock = threading.Lock()
_http: dict[str, Any] = {}
_accesses: dict[tuple[int, bool], tuple[BlobDatastore, float, ContainerAccess]] = {}  # (id(ds), write) -> access


def _forget_after_fork() -> None:
    """A forked child (a parallel worker) must not reuse the parent's sockets."""
    global _lock
    _lock = threading.Lock()
    _http.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _manager_for(url: str) -> Any:
    """A urllib3 pool manager for this URL: direct, or through the proxy the environment names."""
    import urllib3

    parts = urlsplit(url)
    proxy = None if urllib.request.proxy_bypass(parts.hostname or "") else urllib.request.getproxies().get(parts.scheme)
    key = proxy or ""
    with _lock:
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

    def request(self, method: str, target: str, headers: dict[str, str], preload_content: bool = True,
                body: Any = None) -> Any:
        """`target` is a path and query (`ContainerAccess.target`); a file `body` is rewound on a retry."""
        if self._pool is not None:
            return self._pool.urlopen(method, target, body=body, headers=headers, preload_content=preload_content,
                                      assert_same_host=False, redirect=False)
        return self._manager.urlopen(method, self._origin + target, body=body, headers=headers,
                                     preload_content=preload_content)
