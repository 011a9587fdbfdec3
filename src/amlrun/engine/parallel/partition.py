"""Split a parallel job's input into mini-batches the way the service does.

`uri_folder` input: lists of file paths, `mini_batch_size` files each (or, given a size like "10mb",
as many files as fit). `mltable` input: pandas DataFrames of about `mini_batch_size` bytes of the
source files, cut at row boundaries and never across files; with `partition_keys`, one mini-batch per
distinct key combination. Tables are read with the `mltable` library; each DataFrame mini-batch is
pickled to disk once, so workers get a path (cheap IPC) and the driver never holds them all.

Partitioning is deterministic: the same input gives the same mini-batch indices, which is what lets a
resumed run skip the mini-batches its journal already committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.engine.parallel.plan import DEFAULT_FILE_BATCH, DEFAULT_TABLE_BATCH, parse_mini_batch_size
from amlrun.errors import DataError

__all__ = ["MiniBatch", "iter_file_batches", "iter_mini_batches", "iter_table_batches"]

_PATH_COLUMN = "Path"  # the column mltable adds with include_path_column


@dataclass
class MiniBatch:
    """A descriptor small enough to send to a worker: file paths, or the path of a pickled DataFrame."""

    index: int
    kind: str  # "files" | "table"
    items: int
    files: list[str] = field(default_factory=list)
    table_path: str | None = None
    partition_key_value: dict[str, Any] = field(default_factory=dict)

    def message(self) -> tuple[Any, ...]:
        return (self.index, self.kind, self.files or self.table_path, self.partition_key_value)


def iter_mini_batches(input_type: str, source: Path, mini_batch_size: str | None, partition_keys: list[str],
                      work_dir: Path) -> Iterator[MiniBatch]:
    """Mini-batches of the input at `source`, in a stable order."""
    if input_type == "mltable":
        yield from iter_table_batches(source, mini_batch_size or DEFAULT_TABLE_BATCH, partition_keys, work_dir)
    else:
        yield from iter_file_batches(source, mini_batch_size or DEFAULT_FILE_BATCH)


def _list_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    files: list[Path] = []
    for root, dirs, names in os.walk(source):
        dirs.sort()
        files.extend(Path(root) / n for n in sorted(names))
    return files


def iter_file_batches(source: Path, mini_batch_size: str) -> Iterator[MiniBatch]:
    try:
        amount, is_bytes = parse_mini_batch_size(mini_batch_size)
    except ValueError as exc:
        raise DataError(str(exc), hint="use a file count like '10'") from None
    amount = max(1, amount)
    batch: list[str] = []
    size = 0
    index = 0
    for file in _list_files(source):
        batch.append(str(file))
        size += file.stat().st_size if is_bytes else 1
        if size >= amount:
            yield MiniBatch(index, "files", len(batch), files=batch)
            index += 1
            batch, size = [], 0
    if batch:
        yield MiniBatch(index, "files", len(batch), files=batch)


def _table_folder(source: Path) -> Path:
    folder = source.parent if source.is_file() and source.name == "MLTable" else source
    if not (folder / "MLTable").is_file():
        raise DataError(f"mltable input {source} has no MLTable file",
                        hint="point the input at the folder that contains the MLTable file")
    return folder


def _load_with_paths(folder: Path, work_dir: Path) -> tuple[Any, bool]:
    """The whole table as a DataFrame with a source-file column; (frame, user_asked_for_that_column)."""
    import mltable
    import yaml

    table = mltable.load(str(folder))
    copy = work_dir / "table"
    copy.mkdir(parents=True, exist_ok=True)
    table.save(str(copy), overwrite=True)  # rewrites paths relative to the copy: a public way to edit it
    spec = yaml.safe_load((copy / "MLTable").read_text())
    user_asked = False
    for step in spec.get("transformations") or []:
        for name, options in step.items():
            if name.startswith("read_") and isinstance(options, dict):
                user_asked = user_asked or bool(options.get("include_path_column"))
                options["include_path_column"] = True
    (copy / "MLTable").write_text(yaml.safe_dump(spec, sort_keys=False))
    return mltable.load(str(copy)).to_pandas_dataframe(), user_asked


def _file_size(path: str) -> int | None:
    local = path[len("file://"):] if path.startswith("file://") else path
    try:
        return os.path.getsize(local)
    except OSError:
        return None


def iter_table_batches(source: Path, mini_batch_size: str, partition_keys: list[str],
                       work_dir: Path) -> Iterator[MiniBatch]:
    try:
        target, _ = parse_mini_batch_size(mini_batch_size)
    except ValueError as exc:
        raise DataError(str(exc), hint="use a size like '1mb' for mltable input") from None
    frame, keep_path = _load_with_paths(_table_folder(source), work_dir)
    batches_dir = work_dir / "minibatches"
    batches_dir.mkdir(parents=True, exist_ok=True)
    has_paths = _PATH_COLUMN in frame.columns
    index = 0

    def emit(part: Any, key_value: dict[str, Any]) -> MiniBatch:
        nonlocal index
        if has_paths and not keep_path:
            part = part.drop(columns=[_PATH_COLUMN])
        path = batches_dir / f"{index}.pkl"
        part.reset_index(drop=True).to_pickle(path)
        batch = MiniBatch(index, "table", len(part), table_path=str(path), partition_key_value=key_value)
        index += 1
        return batch

    if partition_keys:
        missing = [k for k in partition_keys if k not in frame.columns]
        if missing:
            raise DataError(f"partition_keys {missing} are not columns of the table",
                            hint="columns: " + ", ".join(map(str, frame.columns)))
        for key, part in frame.groupby(partition_keys, sort=False, dropna=False):
            values = key if isinstance(key, tuple) else (key,)
            yield emit(part, {k: _plain(v) for k, v in zip(partition_keys, values, strict=False)})
        return
    groups = frame.groupby(_PATH_COLUMN, sort=False) if has_paths else [(None, frame)]
    for file, part in groups:
        size = _file_size(str(file)) if file is not None else None
        if size is None:
            size = int(part.memory_usage(deep=True).sum())
        rows = len(part)
        per_batch = max(1, int(rows * target / size)) if size else rows
        for start in range(0, rows, per_batch):
            yield emit(part.iloc[start:start + per_batch], {})


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values, so the context prints and pickles plainly."""
    return value.item() if hasattr(value, "item") else value
