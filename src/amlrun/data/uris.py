"""Parse the URI forms AzureML jobs use to name data, without touching any storage.

    azureml://datastores/<ds>/paths/<p>                                    DatastoreUri
    azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<ds>/paths/<p>
    wasbs://<container>@<account>.blob.core.windows.net/<p>                StorageUri
    abfss://<container>@<account>.dfs.core.windows.net/<p>                 StorageUri
    https://<account>.blob.core.windows.net/<container>/<p>                StorageUri
    azureml:<name>:<version>, azureml:<name>@latest                        AssetRef

Paths inside a store are normalised here, so every caller gets the same refusal of `..` escapes.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from amlrun.errors import DataError

__all__ = [
    "AssetRef",
    "DatastoreUri",
    "StorageUri",
    "clean_store_path",
    "is_remote_url",
    "parse_asset_ref",
    "parse_datastore_uri",
    "parse_storage_url",
    "substitute_default_datastore",
]

_SHORT = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths(?:/(?P<path>.*))?$", re.IGNORECASE)
_LONG = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/(?P<ws>[^/]+)/"
    r"datastores/(?P<ds>[^/]+)/paths(?:/(?P<path>.*))?$",
    re.IGNORECASE,
)
_ASSET = re.compile(r"^azureml:(?P<name>[A-Za-z0-9_.-]+)(?::(?P<version>[^:@/]+)|@(?P<label>[A-Za-z0-9_-]+))?$")
_DEFAULT_DS = re.compile(r"\$\{\{\s*default_datastore\s*\}\}")


@dataclass(frozen=True)
class DatastoreUri:
    datastore: str
    path: str
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class StorageUri:
    """A URL naming a blob container directly; `host` is set for non-Azure endpoints (Azurite)."""

    account: str
    container: str
    path: str
    host: str | None = None


@dataclass(frozen=True)
class AssetRef:
    name: str
    version: str | None = None
    label: str | None = None


def clean_store_path(path: str, uri: str) -> str:
    """A path inside a datastore as `a/b/c` (no leading slash); `..` that leaves the root is refused."""
    text = unquote(path or "").replace("\\", "/")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise DataError(f"{uri!r} escapes its datastore root",
                                hint="remove `..` from the path; paths are relative to the datastore's root")
            parts.pop()
            continue
        if part.startswith("~"):
            raise DataError(f"{uri!r}: `~` is not allowed inside a datastore path",
                            hint="paths are relative to the datastore's root")
        parts.append(part)
    return posixpath.join(*parts) if parts else ""


def substitute_default_datastore(uri: str, default_datastore: str) -> str:
    return _DEFAULT_DS.sub(default_datastore, uri)


def parse_datastore_uri(uri: str) -> DatastoreUri | None:
    """`azureml://datastores/<ds>/paths/<p>` or the long workspace form; None for anything else."""
    for pattern in (_SHORT, _LONG):
        match = pattern.match(uri)
        if match:
            groups = match.groupdict()
            return DatastoreUri(groups["ds"], clean_store_path(groups.get("path") or "", uri),
                                groups.get("sub"), groups.get("rg"), groups.get("ws"))
    if uri.lower().startswith("azureml://") and "/datastores/" in uri.lower():
        raise DataError(f"malformed datastore URI {uri!r}",
                        hint="use azureml://datastores/<datastore>/paths/<path> (or the long "
                             "azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/... form)")
    return None


def parse_storage_url(uri: str) -> StorageUri | None:
    """wasb(s)://, abfs(s)://, az:// and http(s):// blob URLs; None when `uri` is none of them."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("wasb", "wasbs", "abfs", "abfss"):
        if "@" not in parts.netloc:
            raise DataError(f"malformed storage URL {uri!r}", hint=f"use {scheme}://<container>@<account>.../<path>")
        container, host = parts.netloc.split("@", 1)
        account = host.split(".", 1)[0]
        return StorageUri(account, container, clean_store_path(parts.path, uri))
    if scheme in ("http", "https"):
        host = parts.netloc
        segments = [s for s in parts.path.split("/") if s]
        if re.match(r"^[a-z0-9]+\.(blob|dfs)\.core\.windows\.net$", host, re.IGNORECASE):
            if not segments:
                raise DataError(f"{uri!r} names no container", hint="use https://<account>.blob.core.windows.net/<container>/<path>")
            return StorageUri(host.split(".", 1)[0], segments[0], clean_store_path("/".join(segments[1:]), uri))
        if len(segments) >= 2:  # emulator style: http://host:port/<account>/<container>/<path>
            return StorageUri(segments[0], segments[1], clean_store_path("/".join(segments[2:]), uri),
                              host=f"{scheme}://{host}")
    return None


def parse_asset_ref(uri: str) -> AssetRef | None:
    """`azureml:<name>:<version>`, `azureml:<name>@<label>` or `azureml:<name>`; None otherwise."""
    if not uri.startswith("azureml:") or uri.startswith("azureml://"):
        return None
    match = _ASSET.match(uri)
    if not match:
        raise DataError(f"malformed data asset reference {uri!r}", hint="use azureml:<name>:<version> or azureml:<name>@latest")
    return AssetRef(match["name"], match["version"], match["label"])


def is_remote_url(uri: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri)) and not uri.startswith("file://")
