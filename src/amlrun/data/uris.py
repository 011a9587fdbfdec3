"""Parse the URI forms AzureML jobs use to name data."""

from __future__ import annotations

import re
from dataclasses import dataclass

from amlrun.errors import DataError

__all__ = ["DatastoreUri", "is_remote_url", "parse_datastore_uri"]

_SHORT = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/?(?P<path>.*)$", re.IGNORECASE)
_LONG = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/(?P<ws>[^/]+)/"
    r"datastores/(?P<ds>[^/]+)/paths/?(?P<path>.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DatastoreUri:
    datastore: str
    path: str
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None


def parse_datastore_uri(uri: str) -> DatastoreUri | None:
    """`azureml://datastores/<ds>/paths/<p>` or the long workspace form; None for anything else."""
    for pattern in (_SHORT, _LONG):
        match = pattern.match(uri)
        if match:
            groups = match.groupdict()
            return DatastoreUri(groups["ds"], groups["path"], groups.get("sub"), groups.get("rg"), groups.get("ws"))
    if uri.startswith("azureml://datastores/") or "/datastores/" in uri and uri.startswith("azureml://"):
        raise DataError(f"malformed datastore URI {uri!r}",
                        hint="use azureml://datastores/<datastore>/paths/<path>")
    return None


def is_remote_url(uri: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri)) and not uri.startswith("file://")
