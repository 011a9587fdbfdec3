"""MLTable files whose `paths:` name datastores: rewrite them to local paths the `mltable` library reads.

The mltable library (azureml-dataprep) would try to reach Azure for `azureml://` paths. Locally, each
such path is resolved through the run's datastore map: a local datastore's folder is used in place, a
blob datastore's data is fetched through the shared cache. Interface for engines:

    localize_mltable(folder, data, work_dir) -> Path   # a folder whose MLTable has only local paths
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from amlrun.errors import DataError

if TYPE_CHECKING:
    from amlrun.data.locations import DataContext

__all__ = ["localize_mltable", "localize_mltable_file"]

_REMOTE = re.compile(r"^(azureml://|wasbs?://|abfss?://|https?://)", re.IGNORECASE)
_GLOB = re.compile(r"[*?\[]")


def _fetch_local(uri: str, data: DataContext, work_dir: Path, index: int, want_file: bool) -> Path:
    location = data.resolve(uri, data.config.folder)
    if location.local_path is not None:
        return location.local_path
    from amlrun.data.datastores import BlobDatastore
    from amlrun.data.transfer import fetch_into_cache, list_remote

    ds = location.datastore_obj
    assert isinstance(ds, BlobDatastore)
    files = list_remote(ds, location.path, want_file, uri)
    fetch_into_cache(ds, files, data.cache, uri)
    target = work_dir / str(index)
    for f in files:
        data.cache.link(f.key, target / f.relative)
    return target / files[0].relative if want_file else target


def _localize_entry(entry: dict[str, Any], data: DataContext, work_dir: Path, index: int) -> bool:
    for kind in ("file", "folder", "pattern"):
        value = entry.get(kind)
        if not isinstance(value, str) or not _REMOTE.match(value):
            continue
        if kind == "pattern":
            match = _GLOB.search(value)
            cut = value.rfind("/", 0, match.start()) if match else len(value)
            local = _fetch_local(value[:cut] + "/", data, work_dir, index, want_file=False)
            entry[kind] = str(local) + value[cut:]
        else:
            entry[kind] = str(_fetch_local(value, data, work_dir, index, want_file=kind == "file"))
        return True
    return False


def localize_mltable_file(path: Path, data: DataContext, work_dir: Path) -> bool:
    """Rewrite one MLTable file in place (replacing, never writing through, the file); True if changed."""
    if not path.is_file():
        return False
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path} is not valid YAML: {exc}", hint="fix the MLTable file") from None
    paths = doc.get("paths") if isinstance(doc, dict) else None
    if not isinstance(paths, list):
        return False
    changed = [_localize_entry(e, data, work_dir, i) for i, e in enumerate(paths) if isinstance(e, dict)]
    if not any(changed):
        return False
    path.unlink()  # it may be a hardlink into the cache: replace it, do not write through it
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return True


def localize_mltable(folder: Path, data: DataContext, work_dir: Path) -> Path:
    """`folder` itself when its MLTable has no remote paths, else a copy under `work_dir` that has none."""
    source = folder / "MLTable"
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    if not _REMOTE.search(text) and "azureml://" not in text:
        return folder
    target = work_dir / "mltable_folder"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)
    localize_mltable_file(target / "MLTable", data, work_dir / "mltable_data")
    return target
