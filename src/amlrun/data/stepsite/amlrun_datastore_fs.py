"""The `azureml://` fsspec protocol for code running inside a local amlrun step.

Standalone on purpose (only the standard library, fsspec and, for blob stores, adlfs): the folder
holding this file is put on a step's PYTHONPATH, and a step may run in an interpreter without amlrun.
Credentials are read by `amlrun_datastore_credentials` (beside this file), which amlrun imports too,
without fsspec: they are read one way only.

The datastore map arrives as JSON in `AMLRUN_DATASTORES` and never holds a secret: a blob datastore
names the environment variables that do (`account_key_env`, `sas_token_env`, `connection_string_env`).

`AzureMachineLearningFileSystem` follows the rules of the real azureml-fsspec (azureml/fsspec/spec.py),
so a script that works here works there, and one that would fail there fails here, saying why:
- it is built on one datastore: its root (`azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/
  <ws>/datastores/<ds>`, no `/paths/`) or a folder below it (`.../paths/<folder>`); amlrun also takes the
  short `azureml://datastores/<ds>[/paths/<p>]` form;
- relative paths are relative to the datastore's root (a leading `/` and `..` at the root are dropped);
  a call without a path (or with `""`) means the folder it was built on; full URIs must name the same
  datastore (and workspace);
- listings name entries by their path in the datastore (`seq_001/recording.bin`);
- `open` reads only (`r`, `rb`); writes go through `upload`/`put`;
- `download`/`get` put files *into* the local folder `lpath`: a file as `lpath/<name>`, a folder with
  `recursive=True` as its contents, without it as `lpath/<folder>/...`; `upload`/`put` put a local file
  or a folder's contents into the remote folder `rpath`; both refuse to replace an existing file unless
  `overwrite="MERGE_WITH_OVERWRITE"` (`"APPEND"` keeps the existing file);
- `cat_file`/`cat`/`read_bytes` and deleting are not implemented by the real package either.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from glob import has_magic
from typing import Any
from urllib.parse import unquote

from amlrun_datastore_credentials import CredentialMissing, blob_filesystem_kwargs
from fsspec.spec import AbstractFileSystem

__all__ = ["AzureMachineLearningFileSystem", "CredentialMissing", "blob_filesystem_kwargs", "load_datastore_map",
           "parse_fs_uri"]

ENV_VAR = "AMLRUN_DATASTORES"
_URI = re.compile(
    r"^azureml://(?:subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/(?P<ws>[^/]+)/)?"
    r"datastores/(?P<ds>[^/]+)(?:/paths(?:/(?P<path>.*))?)?/?$", re.IGNORECASE)
_FORMS = ("azureml://subscriptions/<subscription>/resourcegroups/<group>/workspaces/<workspace>/datastores/"
          "<datastore>[/paths/<folder>] (or azureml://datastores/<datastore>[/paths/<folder>])")
_OVERWRITE = ("APPEND", "FAIL_ON_FILE_CONFLICT", "MERGE_WITH_OVERWRITE")


def load_datastore_map() -> dict[str, dict[str, Any]]:
    return json.loads(os.environ.get(ENV_VAR) or "{}")


def in_store(path: str) -> str:
    """A path inside a datastore as azureml-fsspec reads it: no leading `/`, `.` or `..` above the root."""
    path = posixpath.normpath(unquote(str(path)).replace("\\", "/").strip("/"))
    while path.startswith("../"):
        path = path[3:]
    return "" if path in (".", "..") else path


def parse_fs_uri(uri: str) -> tuple[str, str, tuple[str | None, str | None, str | None]]:
    """`azureml://...datastores/<ds>[/paths/<p>]` -> (datastore, path in it, (subscription, group, workspace))."""
    match = _URI.match(str(uri))
    if not match:
        raise ValueError(f"{uri!r} is not a datastore URI; AzureMachineLearningFileSystem takes {_FORMS}")
    return match["ds"], in_store(match["path"] or ""), (match["sub"], match["rg"], match["ws"])


_BLOB_FS: dict[str, Any] = {}


def _backend(datastores: dict[str, dict[str, Any]], name: str) -> tuple[AbstractFileSystem, str]:
    """The real filesystem behind datastore `name` and the path of its root there."""
    spec = datastores.get(name)
    if spec is None:
        root = os.environ.get("AMLRUN_DEFAULT_DATASTORE_ROOT")
        if not root:
            raise FileNotFoundError(f"datastore {name!r} is not in this run's datastore map")
        spec = {"type": "local", "path": os.path.join(root, name)}
    if spec["type"] == "local":
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), os.path.abspath(spec["path"]).replace(os.sep, "/").rstrip("/")
    if name not in _BLOB_FS:
        from adlfs import AzureBlobFileSystem

        _BLOB_FS[name] = AzureBlobFileSystem(**blob_filesystem_kwargs(name, spec))
    return _BLOB_FS[name], spec["container_name"]


def _overwrite_mode(value: Any) -> str:
    mode = str(value).upper()
    if mode not in _OVERWRITE:
        raise ValueError(f"overwrite={value!r}: azureml-fsspec takes one of {', '.join(_OVERWRITE)}")
    return mode


class AzureMachineLearningFileSystem(AbstractFileSystem):
    """`AzureMachineLearningFileSystem(uri)` as in azureml-fsspec, backed by amlrun's datastore map."""

    protocol = ("azureml",)
    root_marker = ""

    def __init__(self, uri: str | None = None, **kwargs: Any) -> None:
        if not uri:
            raise ValueError(f"AzureMachineLearningFileSystem needs a datastore URI: {_FORMS}")
        for ignored in ("auth_dict", "ml_client"):  # the real package's sign-in options: nothing to sign in to here
            kwargs.pop(ignored, None)
        super().__init__(**kwargs)
        self.uri = str(uri)
        self.datastore, self.folder, self.workspace = parse_fs_uri(self.uri)
        self._fs, self._root = _backend(load_datastore_map(), self.datastore)

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return {"uri": path}  # fsspec.open("azureml://..."): a filesystem on that URI, as the real package does

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list | tuple):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        return parse_fs_uri(path)[1] if path.lower().startswith("azureml://") else path.rstrip("/")

    # paths ---------------------------------------------------------------------------------------

    def _rel(self, path: Any) -> str:
        """`path` (a full URI on this datastore, or relative to its root) as a path in the datastore."""
        if path is None or str(path) in ("", "/"):
            return self.folder if path is None or str(path) == "" else ""
        path = str(path)
        if not path.lower().startswith("azureml://"):
            return in_store(path)
        datastore, inner, workspace = parse_fs_uri(path)
        same_workspace = all(a is None or b is None or a.lower() == b.lower()
                             for a, b in zip(workspace, self.workspace, strict=True))
        if datastore != self.datastore or not same_workspace:
            raise ValueError(f"{path!r} is not on datastore {self.datastore!r} of this filesystem: azureml-fsspec "
                             "needs one AzureMachineLearningFileSystem per datastore (AzureML refuses this too)")
        return inner

    def _real(self, rel: str) -> str:
        return f"{self._root}/{rel}" if rel else self._root

    def _name(self, real: str) -> str:
        real = real.rstrip("/")
        return real[len(self._root) + 1:] if real.startswith(self._root + "/") else ("" if real == self._root else real)

    def _entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        is_dir = entry.get("type") == "directory"
        return {"name": self._name(entry["name"]), "type": "directory" if is_dir else "file",
                "size": None if is_dir else entry.get("size")}

    # reading -------------------------------------------------------------------------------------

    def ls(self, path: Any = None, detail: bool = False, **kwargs: Any) -> list[Any]:
        entries = [self._entry(e) for e in self._fs.ls(self._real(self._rel(path)), detail=True)]
        return entries if detail else sorted(e["name"] for e in entries)

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        return self._entry(self._fs.info(self._real(self._rel(path))))

    def exists(self, path: Any, **kwargs: Any) -> bool:
        rel = self._rel(path)  # a path on another datastore is an error, not False
        try:
            self.info(rel)
        except (FileNotFoundError, OSError):
            return False
        return True

    def glob(self, path: Any = None, **kwargs: Any) -> Any:
        return super().glob(self._rel(path), **kwargs)

    def find(self, path: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().find(self._rel(path), *args, **kwargs)

    def open(self, path: Any = None, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        return super().open(self._rel(path), mode, *args, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise ValueError(f"Invalid mode {mode!r}: azureml-fsspec opens files read-only ('r', 'rb'); write a local "
                             "file and `fs.upload(local_file, remote_folder)` it, or write to a job output")
        options = {k: v for k, v in kwargs.items() if k in ("block_size", "cache_options")}
        return self._fs.open(self._real(self._rel(path)), "rb", **options)

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        raise NotImplementedError("azureml-fsspec does not implement cat_file (nor cat or read_bytes): "
                                  "read with `with fs.open(path) as f: f.read()`")

    # copying -------------------------------------------------------------------------------------

    def get(self, rpath: Any, lpath: Any, recursive: bool = False, callback: Any = None,
            overwrite: str = "FAIL_ON_FILE_CONFLICT", **kwargs: Any) -> None:
        """Copy remote file(s) into the local folder `lpath` (`download` is the same)."""
        mode = _overwrite_mode(overwrite)
        rel = self._rel(rpath)
        if has_magic(rel):
            files = [p for p in self.glob(rel) if self.info(p)["type"] == "file"]
            if not files:
                raise FileNotFoundError(f"nothing on datastore {self.datastore!r} matches {rel!r}")
            base = posixpath.dirname(rel[:min(rel.find(c) for c in "*?[" if c in rel)])
        elif self.info(rel)["type"] == "file":
            if recursive:
                raise ValueError(f"{rel!r} is a file: download a single file without recursive=True")
            files, base = [rel], posixpath.dirname(rel)
        else:
            files, base = self.find(rel), (rel if recursive else posixpath.dirname(rel))
        pairs = [(f, os.path.join(os.path.abspath(lpath), *posixpath.relpath(f, base or ".").split("/")))
                 for f in files]
        for remote, local in self._copy_plan(pairs, os.path.exists, mode, "local"):
            os.makedirs(os.path.dirname(local), exist_ok=True)
            if os.path.exists(local):
                os.remove(local)
            self._fs.get_file(self._real(remote), local)

    def put(self, lpath: Any, rpath: Any = None, recursive: bool = False, callback: Any = None,
            overwrite: str = "FAIL_ON_FILE_CONFLICT", **kwargs: Any) -> None:
        """Copy a local file, or a local folder's contents, into the remote folder `rpath` (`upload` is the same)."""
        mode = _overwrite_mode(overwrite)
        folder = self._rel(rpath)
        source = os.path.abspath(str(lpath))
        if os.path.isdir(source):
            files = [os.path.join(root, n) for root, _, names in os.walk(source) for n in sorted(names)]
            base = source
        elif os.path.isfile(source):
            files, base = [source], os.path.dirname(source)
        else:
            raise FileNotFoundError(f"{lpath}: no such local file or folder")
        pairs = [(local, posixpath.join(folder, os.path.relpath(local, base).replace(os.sep, "/"))) for local in files]
        for local, remote in self._copy_plan(pairs, lambda r: self._fs.exists(self._real(r)), mode, "remote"):
            target = self._real(remote)
            if self._root.startswith("/"):  # a local datastore: the folder must exist
                os.makedirs(posixpath.dirname(target), exist_ok=True)
            self._fs.put_file(local, target)

    @staticmethod
    def _copy_plan(pairs: list[tuple[str, str]], exists: Any, mode: str, side: str) -> list[tuple[str, str]]:
        """The copies to make, after azureml-fsspec's overwrite rule (checked before anything is copied)."""
        existing = [dest for _, dest in pairs if exists(dest)]
        if existing and mode == "FAIL_ON_FILE_CONFLICT":
            raise FileExistsError(f"{len(existing)} {side} file(s) exist already, e.g. {existing[0]}: azureml-fsspec "
                                  "refuses to replace them by default; pass overwrite='MERGE_WITH_OVERWRITE' "
                                  "(replace) or overwrite='APPEND' (keep them)")
        return [(src, dest) for src, dest in pairs if mode != "APPEND" or dest not in existing]

    def get_file(self, rpath: Any, lpath: Any, **kwargs: Any) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(str(lpath))), exist_ok=True)
        self._fs.get_file(self._real(self._rel(rpath)), str(lpath))

    def put_file(self, lpath: Any, rpath: Any, **kwargs: Any) -> None:
        self.put(lpath, posixpath.dirname(self._rel(rpath)), overwrite="MERGE_WITH_OVERWRITE")

    # what azureml-fsspec leaves out --------------------------------------------------------------

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        """Folders exist by having files in them (as in the real package, a no-op)."""

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        """A no-op, as in the real package."""

    def rm_file(self, path: Any) -> None:
        raise NotImplementedError("azureml-fsspec cannot delete files; outputs of a job are replaced by the next run")

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        self.rm_file(path)
