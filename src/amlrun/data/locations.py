"""Turn a URI or path written in a job into a concrete location on a local disk.

This is the seam the engine uses for all data. The local-folder datastores live under the store
(`<store>/datastores/<name>/`); `workspaceblobstore` and undeclared datastores default there, so a
project needs no configuration to run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amlrun.data.uris import is_remote_url, parse_datastore_uri
from amlrun.errors import DataError

__all__ = ["DataContext", "Location"]


@dataclass(frozen=True)
class Location:
    """Where data lives: `local_path` for local data, else `url` + fsspec `storage_options`."""

    uri: str
    local_path: Path | None = None
    url: str | None = None
    datastore: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None


@dataclass
class DataContext:
    """Everything needed to resolve data references for one run."""

    store_root: Path
    default_datastore: str = "workspaceblobstore"

    def datastore_root(self, name: str) -> Path:
        return self.store_root / "datastores" / name

    def resolve(self, uri: str, base_dir: Path) -> Location:
        """Resolve a path or URI. Relative local paths are relative to `base_dir` (the YAML's folder)."""
        ds = parse_datastore_uri(uri)
        if ds is not None:
            root = self.datastore_root(ds.datastore)
            target = _inside(root, ds.path, uri)
            return Location(uri, local_path=target, datastore=ds.datastore)
        if uri.startswith("file://"):
            return Location(uri, local_path=Path(uri[len("file://"):]))
        if uri.startswith("azureml:") and not uri.startswith("azureml://"):
            raise DataError(f"data asset {uri!r} is not known locally",
                            hint="map it to a path or URI in the `data:` section of amlrun.yaml")
        if is_remote_url(uri):
            raise DataError(f"remote URI {uri!r} has no local datastore",
                            hint="declare the storage account as a datastore in amlrun.yaml")
        path = Path(os.path.expanduser(uri))
        return Location(uri, local_path=(path if path.is_absolute() else (base_dir / path)).resolve())

    def default_output(self, run_name: str, output_name: str) -> Location:
        uri = f"azureml://datastores/{self.default_datastore}/paths/azureml/{run_name}/{output_name}/"
        return self.resolve(uri, self.store_root)


def _inside(root: Path, relative: str, uri: str) -> Path:
    root = root.resolve()
    target = (root / relative.lstrip("/")).resolve()
    if target != root and root not in target.parents:
        raise DataError(f"{uri!r} escapes its datastore root", hint="remove `..` from the path")
    return target
