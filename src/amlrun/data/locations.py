"""Turn a URI or path written in a job into a Location: a local folder or a place in a blob container.

This is the seam the engine uses for all data. `DataContext.for_project(store_root, job_file)` reads
the amlrun.yaml nearest the job file; with none, every datastore is a local folder under the store
(`<store>/datastores/<name>/`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlrun.data.datastores import BlobDatastore, Datastore, LocalDatastore, redact
from amlrun.data.uris import (
    is_remote_url,
    parse_asset_ref,
    parse_datastore_uri,
    parse_storage_url,
    substitute_default_datastore,
)
from amlrun.errors import DataError, NotHereError
from amlrun.spec.azmlops import azmlops_for
from amlrun.spec.project import ProjectConfig, load_project_config, parse_size

if TYPE_CHECKING:
    from amlrun.data.cache import ObjectCache

__all__ = ["DataContext", "Location"]

DEFAULT_CACHE_SIZE = 20 * 1024**3
STEPSITE = Path(__file__).resolve().parent / "stepsite"


@dataclass(frozen=True)
class Location:
    """Where data lives: `local_path` for local data; for blob data `datastore_obj` + `path` in the container.

    `uri` is what the job wrote (passed as is for `direct` mode). `context` lets staging reach the
    cache; it is not part of equality and never printed.
    """

    uri: str
    local_path: Path | None = None
    url: str | None = None
    datastore: str | None = None
    path: str = ""
    datastore_obj: Datastore | None = field(default=None, compare=False, repr=False)
    context: DataContext | None = field(default=None, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def is_blob(self) -> bool:
        return isinstance(self.datastore_obj, BlobDatastore)

    def child(self, name: str) -> Location:
        """The location of `name` inside this folder location."""
        joined = f"{self.path}/{name}".strip("/")
        return Location(self.uri.rstrip("/") + "/" + name, self.local_path / name if self.local_path else None,
                        self.url, self.datastore, joined, self.datastore_obj, self.context)


@dataclass
class DataContext:
    """Everything needed to resolve data references for one run: the store, the datastores, assets."""

    store_root: Path
    default_datastore: str = "workspaceblobstore"
    config: ProjectConfig = field(default_factory=ProjectConfig)
    _datastores: dict[str, Datastore] = field(default_factory=dict, repr=False)
    _cache: Any = field(default=None, repr=False)

    @classmethod
    def for_project(cls, store_root: Path, near: Path | None = None) -> DataContext:
        """The context for the project containing `near` (a job file or folder). Reads amlrun.yaml only."""
        config = load_project_config(near)
        job = azmlops_for(near) if near is not None and near.suffix in (".yml", ".yaml") else None
        for name, spec in (job.datastores.items() if job else ()):
            config.datastores.setdefault(name, spec)  # an azmlops file's own datastores; amlrun.yaml wins
        return cls(Path(store_root), config=config)

    # datastores -------------------------------------------------------------------------------

    def datastore_root(self, name: str) -> Path:
        return self.store_root / "datastores" / name

    def datastore(self, name: str) -> Datastore:
        if name not in self._datastores:
            self._datastores[name] = self._build(name)
        return self._datastores[name]

    def _build(self, name: str) -> Datastore:
        spec = self.config.datastores.get(name)
        if spec is None:
            return LocalDatastore(name, self.datastore_root(name).resolve())
        if spec["type"] == "local":
            root = Path(os.path.expanduser(spec["path"]))
            root = root if root.is_absolute() else self.config.datastore_folder(name) / root
            return LocalDatastore(name, root.resolve(), declared=True)
        return BlobDatastore(name, spec.get("account_name"), spec["container_name"], spec.get("endpoint"),
                             spec.get("credential"))

    def all_datastores(self) -> list[Datastore]:
        names = dict.fromkeys([self.default_datastore, *self.config.datastores])
        return [self.datastore(n) for n in names]

    def redact(self, text: str) -> str:
        """`text` with every configured secret value replaced by `***`."""
        blobs = [ds for ds in self.all_datastores() if isinstance(ds, BlobDatastore)]
        return redact(text, blobs) if blobs else text

    @property
    def cache(self) -> ObjectCache:
        if self._cache is None:
            from amlrun.data.cache import ObjectCache

            limit = parse_size(self.config.cache.get("max_size", DEFAULT_CACHE_SIZE))
            env = os.environ.get("AMLRUN_CACHE_MAX_SIZE")
            self._cache = ObjectCache(self.store_root / "cache" / "data", parse_size(env) if env else limit)
        return self._cache

    # resolution -------------------------------------------------------------------------------

    def resolve(self, uri: str, base_dir: Path, *, run_name: str | None = None,
                output_name: str | None = None) -> Location:
        """Resolve a path or URI. Relative local paths are relative to `base_dir` (the YAML's folder).

        `${{default_datastore}}` is always substituted; `${{name}}` and `${{output_name}}` when given."""
        uri = substitute_default_datastore(str(uri), self.default_datastore)
        if run_name is not None:
            uri = re.sub(r"\$\{\{\s*name\s*\}\}", run_name, uri)
        if output_name is not None:
            uri = re.sub(r"\$\{\{\s*output_name\s*\}\}", output_name, uri)
        asset = parse_asset_ref(uri)
        if asset is not None:
            return self._resolve_asset(uri, asset)
        ds_uri = parse_datastore_uri(uri)
        if ds_uri is not None:
            return self._on_datastore(uri, self.datastore(ds_uri.datastore), ds_uri.path)
        if uri.startswith("file://"):
            return Location(uri, local_path=Path(uri[len("file://"):]).resolve(), context=self)
        storage = parse_storage_url(uri)
        if storage is not None:
            for name in self.config.datastores:
                ds = self.datastore(name)
                if isinstance(ds, BlobDatastore) and ds.matches(storage):
                    return self._on_datastore(uri, ds, storage.path)
            raise NotHereError(f"no datastore in amlrun.yaml is the container {storage.container!r} of account "
                            f"{storage.account!r} ({uri})",
                            hint="declare it: `datastores: {name: {type: azure_blob, account_name: "
                                 f"{storage.account}, container_name: {storage.container}, credential: ...}}}}` "
                                 "(a public container, like the examples' datasets: `credential: anonymous`)")
        if is_remote_url(uri):
            raise NotHereError(f"remote URI {uri!r} has no local datastore",
                            hint="use an azureml://datastores/... URI, or declare the storage account in amlrun.yaml")
        path = Path(os.path.expanduser(uri))
        return Location(uri, local_path=(path if path.is_absolute() else (base_dir / path)).resolve(), context=self)

    def _on_datastore(self, uri: str, ds: Datastore, path: str) -> Location:
        if isinstance(ds, LocalDatastore):
            target = (ds.root / path).resolve() if path else ds.root
            if target != ds.root and ds.root not in target.parents:
                raise DataError(f"{uri!r} escapes the root of datastore {ds.name!r}",
                                hint="a symlink or `..` leads outside the datastore's folder")
            return Location(uri, local_path=target, datastore=ds.name, path=path, datastore_obj=ds, context=self)
        return Location(uri, url=f"az://{ds.remote_path(path)}", datastore=ds.name, path=path,
                        datastore_obj=ds, context=self)

    def _resolve_asset(self, uri: str, asset: Any) -> Location:
        entry = self.config.data.get(asset.name)
        known = ", ".join(sorted(self.config.data)) or "none"
        if entry is None:
            raise NotHereError(f"data asset {uri!r} is not known locally (known assets: {known})",
                            hint=f"map it in the `data:` section of amlrun.yaml: `data: {{{asset.name}: <path or URI>}}`")
        if isinstance(entry, dict):
            versions = {str(k): v for k, v in entry.items()}
            if asset.version is None:
                version = max(versions, key=lambda v: (v.isdigit(), int(v) if v.isdigit() else 0, v))
            elif asset.version in versions:
                version = asset.version
            else:
                raise DataError(f"data asset {asset.name!r} has no version {asset.version!r} "
                                f"(known: {', '.join(sorted(versions))})", hint="add it under `data:` in amlrun.yaml")
            target = versions[version]
        else:
            target = entry
        if str(target).startswith("azureml:") and not str(target).startswith("azureml://"):
            raise DataError(f"data asset {asset.name!r} points at another asset", hint="map it to a path or URI")
        return self.resolve(str(target), self.config.folder)

    def default_output(self, run_name: str, output_name: str) -> Location:
        uri = f"azureml://datastores/{self.default_datastore}/paths/azureml/{run_name}/{output_name}/"
        return self.resolve(uri, self.store_root)

    # step processes ----------------------------------------------------------------------------

    def step_env(self) -> dict[str, str]:
        """Variables a step process needs to open `azureml://` URIs itself (no secret values)."""
        mapping = {ds.name: ds.public() for ds in self.all_datastores()}
        env = {"AMLRUN_DATASTORES": json.dumps(mapping, sort_keys=True),
               "AMLRUN_DEFAULT_DATASTORE_ROOT": str((self.store_root / "datastores").resolve())}
        if not self.config.fsspec.get("real_azureml_fsspec") and os.environ.get("AMLRUN_REAL_AZUREML_FSSPEC") != "1":
            env["AMLRUN_STEPSITE"] = str(STEPSITE)
        return env
