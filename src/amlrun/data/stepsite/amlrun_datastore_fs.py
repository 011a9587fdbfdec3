"""The `azureml://` fsspec protocol for code running inside a local amlrun step.

Standalone on purpose (only the standard library, fsspec and, for blob stores, adlfs): the folder
holding this file is put on a step's PYTHONPATH, and a step may run in an interpreter without amlrun.
Credentials are read by `amlrun_datastore_credentials` (beside this file), which amlrun imports too,
without fsspec: they are read one way only.

The datastore map arrives as JSON in `AMLRUN_DATASTORES` and never holds a secret: a blob datastore
names the environment variables that do (`account_key_env`, `sas_token_env`, `connection_string_env`).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import unquote

from amlrun_datastore_credentials import CredentialMissing, blob_filesystem_kwargs
from fsspec.spec import AbstractFileSystem

__all__ = ["AzureMachineLearningFileSystem", "CredentialMissing", "blob_filesystem_kwargs", "load_datastore_map",
           "split_uri"]

ENV_VAR = "AMLRUN_DATASTORES"
_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths(?:/(?P<path>.*))?$", re.IGNORECASE)


def load_datastore_map() -> dict[str, dict[str, Any]]:
    return json.loads(os.environ.get(ENV_VAR) or "{}")


def split_uri(uri: str) -> tuple[str, str]:
    """`azureml://.../datastores/<ds>/paths/<p>` -> (ds, p) with `p` normalised; `..` escapes refused."""
    match = _URI.match(uri)
    if not match:
        raise ValueError(f"not a datastore URI: {uri!r} (expected azureml://datastores/<ds>/paths/<p>)")
    parts: list[str] = []
    for part in unquote(match["path"] or "").replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PermissionError(f"{uri!r} escapes its datastore root")
            parts.pop()
        else:
            parts.append(part)
    return match["ds"], "/".join(parts)


_BLOB_FS: dict[str, Any] = {}


def _target(datastores: dict[str, dict[str, Any]], uri: str) -> tuple[AbstractFileSystem, str]:
    """The real filesystem and path behind one `azureml://` URI."""
    name, path = split_uri(uri)
    spec = datastores.get(name)
    if spec is None:
        root = os.environ.get("AMLRUN_DEFAULT_DATASTORE_ROOT")
        if not root:
            raise FileNotFoundError(f"datastore {name!r} is not in this run's datastore map")
        spec = {"type": "local", "path": os.path.join(root, name)}
    if spec["type"] == "local":
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), os.path.join(spec["path"], path) if path else spec["path"]
    if name not in _BLOB_FS:
        from adlfs import AzureBlobFileSystem

        _BLOB_FS[name] = AzureBlobFileSystem(**blob_filesystem_kwargs(name, spec))
    return _BLOB_FS[name], f"{spec['container_name']}/{path}".rstrip("/")


class AzureMachineLearningFileSystem(AbstractFileSystem):
    """`AzureMachineLearningFileSystem(uri)` as in azureml-fsspec, backed by amlrun's datastore map.

    Paths may be full `azureml://` URIs or relative to the URI the filesystem was created with.
    Listings return full `azureml://datastores/<ds>/paths/<p>` names.
    """

    protocol = ("azureml",)
    root_marker = ""

    def __init__(self, uri: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base = uri.rstrip("/") + "/" if uri else None
        self.datastores = load_datastore_map()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return str(path).rstrip("/") if str(path).rstrip("/").lower() != "azureml:" else str(path)

    def _full(self, path: str) -> str:
        path = str(path)
        if path.lower().startswith("azureml://"):
            return path
        if self.base is None:
            raise ValueError(f"{path!r} is relative but this filesystem was created without a datastore URI")
        return self.base + path.lstrip("./") if path not in ("", ".", "./") else self.base

    def _resolve(self, path: str) -> tuple[AbstractFileSystem, str, str]:
        uri = self._full(path)
        fs, target = _target(self.datastores, uri)
        name, inner = split_uri(uri)
        return fs, target, f"azureml://datastores/{name}/paths/{inner}".rstrip("/")

    def _wrap(self, entry: dict[str, Any], fs: AbstractFileSystem, target: str, uri: str) -> dict[str, Any]:
        name = entry["name"]
        base = target.rstrip("/")
        rest = name[len(base):].lstrip("/") if name.startswith(base) else name.rsplit("/", 1)[-1]
        out = dict(entry)
        out["name"] = f"{uri}/{rest}" if rest else uri
        return out

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        fs, target, uri = self._resolve(path)
        entries = [self._wrap(e, fs, target, uri) for e in fs.ls(target, detail=True)]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        fs, target, uri = self._resolve(path)
        return self._wrap(fs.info(target), fs, target, uri)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        fs, target, _ = self._resolve(path)
        if "w" in mode or "a" in mode:
            parent = target.rsplit("/", 1)[0]
            if parent:
                fs.makedirs(parent, exist_ok=True)
        return fs.open(target, mode, **{k: v for k, v in kwargs.items() if k in ("block_size", "cache_options")})

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        fs, target, _ = self._resolve(path)
        return fs.cat_file(target, start=start, end=end)

    def get_file(self, rpath: str, lpath: str, **kwargs: Any) -> None:
        fs, target, _ = self._resolve(rpath)
        fs.get_file(target, lpath)

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        fs, target, _ = self._resolve(rpath)
        fs.put_file(lpath, target)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        fs, target, _ = self._resolve(path)
        fs.makedirs(target, exist_ok=True)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        fs, target, _ = self._resolve(path)
        fs.makedirs(target, exist_ok=exist_ok)

    def rm_file(self, path: str) -> None:
        fs, target, _ = self._resolve(path)
        fs.rm_file(target)

    def rmdir(self, path: str) -> None:
        fs, target, _ = self._resolve(path)
        fs.rmdir(target)

    def download(self, rpath: str, lpath: str, recursive: bool = False, **kwargs: Any) -> None:
        """azureml-fsspec's name for `get` (a folder `lpath` receives the file under its own name)."""
        if not recursive and os.path.isdir(lpath):
            lpath = os.path.join(lpath, str(rpath).rstrip("/").rsplit("/", 1)[-1])
        self.get(rpath, lpath, recursive=recursive)

    def upload(self, lpath: str, rpath: str, recursive: bool = False, **kwargs: Any) -> None:
        """azureml-fsspec's name for `put` (into the folder `rpath`)."""
        target = f"{self._full(rpath).rstrip('/')}/{os.path.basename(str(lpath).rstrip('/'))}"
        self.put(lpath, target, recursive=recursive)
