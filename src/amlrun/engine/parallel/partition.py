"""Split a parallel job's input into mini-batches the way the service does.

`uri_folder` input: lists of file paths, `mini_batch_size` files each (or, given a size like "10mb",
as many files as fit). `mltable` input: pandas DataFrames of about `mini_batch_size` bytes of the
source files, cut at row boundaries and never across files; with `partition_keys`, one mini-batch per
distinct key combination. Common MLTables are read by pyarrow (`data/table_reader`): delimited files
stream, each mini-batch cut as soon as its rows are parsed; others are read a file at a time, and the
rest with the `mltable` library. Each mini-batch is written to disk once, as an Arrow IPC file (the
workers turn it into a DataFrame: the reading process never imports pandas) or, for workers that may lack
pyarrow and for frames the `mltable` library made, a pickled DataFrame; workers get its path (cheap IPC)
and the driver never holds them. A worker in another Python (a job's venv, a container) has its own pandas
and numpy, which cannot unpickle another version's DataFrame: it gets the columns as plain Python values
(`<i>.cols`, `write_portable_frame`) instead. Rows per mini-batch come from each file's bytes (`rows_per_batch`).

Partitioning is deterministic: the same input gives the same mini-batch indices, which is what lets a
resumed run skip the mini-batches its journal already committed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.table_reader import PATH_COLUMN as _PATH_COLUMN
from amlrun.data.table_reader import NativeTable, open_native, rows_per_batch
from amlrun.errors import AmlrunError, DataError

__all__ = ["MiniBatch", "PartitionRequest", "iter_file_batches", "iter_mini_batches", "iter_table_batches",
           "parse_mini_batch_size", "serve_partition", "stream_mini_batches"]

# This module stays light (standard library + amlrun.errors; pyarrow, pandas, mltable imported when used):
# the process that reads tables (spawn.start_partitioner) imports it, and must not wait for pandas.

DEFAULT_FILE_BATCH = "10"  # PRS defaults: 10 files per mini-batch, 1 MB of a table
DEFAULT_TABLE_BATCH = "1mb"
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_mini_batch_size(text: str | int) -> tuple[int, bool]:
    """`"10"` -> (10, False): a count; `"10kb"` -> (10240, True): bytes (binary multipliers)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)([bB]?)\s*", str(text))
    if match is None:
        raise ValueError(f"mini_batch_size {text!r} is neither a count nor a size like '10kb'")
    number, unit, b = match.groups()
    if not unit and not b:
        return int(number), False
    return int(number) * _UNITS[unit.lower()], True


@dataclass
class PartitionRequest:
    """What to split, as plain values (it crosses into the process that reads tables)."""

    input_type: str
    source: str
    mini_batch_size: str | None
    partition_keys: list[str]
    work_dir: str
    arrow: bool = False  # table mini-batches as Arrow IPC files (the workers' Python has pyarrow)
    portable: bool = False  # not a pickled DataFrame: the workers' pandas is not this one (a venv, a container)

    @property
    def tabular(self) -> bool:
        return self.input_type == "mltable"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def batches(self) -> Iterator[MiniBatch]:
        return iter_mini_batches(self.input_type, Path(self.source), self.mini_batch_size, self.partition_keys,
                                 Path(self.work_dir), self.arrow, self.portable)


def serve_partition() -> None:
    """The body of the process that reads a table: the request in AMLRUN_PRS_PARTITION (JSON), descriptors
    sent over the inherited pipe AMLRUN_PRS_FEED_FD. It starts with the workers, not after them."""
    from multiprocessing.connection import Connection

    request = PartitionRequest(**json.loads(os.environ["AMLRUN_PRS_PARTITION"]))
    stream_mini_batches(request, Connection(int(os.environ["AMLRUN_PRS_FEED_FD"]), readable=False))


def stream_mini_batches(request: PartitionRequest, feed: Any) -> None:
    """Send descriptors over `feed` in small chunks as soon as they exist (a fast first mini-batch),
    then ("done", time.monotonic()); a failure is sent as ("error", message)."""
    chunk: list[MiniBatch] = []
    last = time.monotonic()
    try:
        for batch in request.batches():
            chunk.append(batch)
            if len(chunk) >= 256 or time.monotonic() - last > 0.05 or batch.index < 4:
                feed.send(chunk)
                chunk, last = [], time.monotonic()
        if chunk:
            feed.send(chunk)
        feed.send(("done", time.monotonic()))  # when: the driver may read it later (system-wide clock)
    except Exception as exc:  # noqa: BLE001 - reported by the driver as the job's error
        message = exc.render() if isinstance(exc, AmlrunError) else f"{type(exc).__name__}: {exc}"
        feed.send(("error", message))


@dataclass
class MiniBatch:
    """A descriptor small enough to send to a worker: file paths, or the path of a table's rows
    (`<i>.arrow`: Arrow IPC, `<i>.pkl`: a pickled DataFrame, `<i>.cols`: its columns as plain values)."""

    index: int
    kind: str  # "files" | "table"
    items: int
    files: list[str] = field(default_factory=list)
    table_path: str | None = None
    partition_key_value: dict[str, Any] = field(default_factory=dict)

    def message(self) -> tuple[Any, ...]:
        return (self.index, self.kind, self.files or self.table_path, self.partition_key_value)


def iter_mini_batches(input_type: str, source: Path, mini_batch_size: str | None, partition_keys: list[str],
                      work_dir: Path, arrow: bool = False, portable: bool = False) -> Iterator[MiniBatch]:
    """Mini-batches of the input at `source`, in a stable order."""
    if input_type == "mltable":
        yield from iter_table_batches(source, mini_batch_size or DEFAULT_TABLE_BATCH, partition_keys, work_dir,
                                      arrow, portable)
    else:
        yield from iter_file_batches(source, mini_batch_size or DEFAULT_FILE_BATCH)


def _list_files(source: Path) -> list[str]:
    if source.is_file():
        return [str(source)]
    files: list[str] = []
    for root, dirs, names in os.walk(source):
        dirs.sort()
        names.sort()
        files.extend([os.path.join(root, n) for n in names])
    return files


def iter_file_batches(source: Path, mini_batch_size: str) -> Iterator[MiniBatch]:
    try:
        amount, is_bytes = parse_mini_batch_size(mini_batch_size)
    except ValueError as exc:
        raise DataError(str(exc), hint="use a file count like '10'") from None
    amount = max(1, amount)
    files = _list_files(source)
    if not is_bytes:  # a count: slices of the listing, no per-file stat
        for index, start in enumerate(range(0, len(files), amount)):
            batch = files[start:start + amount]
            yield MiniBatch(index, "files", len(batch), files=batch)
        return
    batch: list[str] = []
    size = 0
    index = 0
    for file in files:
        batch.append(file)
        size += os.path.getsize(file)
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
    steps = spec.get("transformations") or []
    for i, step in enumerate(steps):
        if isinstance(step, str):  # `- read_parquet`
            step = steps[i] = {step: {}}
        for name, options in list(step.items()):
            if name.startswith("read_"):
                options = step[name] = options if isinstance(options, dict) else {}
                user_asked = user_asked or bool(options.get("include_path_column"))
                options["include_path_column"] = True
            elif name == "keep_columns":  # the source-file column must survive, to cut per file
                names = [options] if isinstance(options, str) else list(options or [])
                user_asked = user_asked and _PATH_COLUMN in names
                step[name] = names if _PATH_COLUMN in names else [_PATH_COLUMN, *names]
    (copy / "MLTable").write_text(yaml.safe_dump(spec, sort_keys=False))
    return mltable.load(str(copy)).to_pandas_dataframe(), user_asked


def _source_frames(folder: Path, work_dir: Path, native: NativeTable | None) -> tuple[Iterator[tuple[str | None, Any]], bool]:
    """The table one source file at a time, each frame with a `Path` column (or one frame without), and
    whether the user asked for that column. pyarrow reads the MLTables it understands (the first file's
    rows arrive before the others are read); the `mltable` library reads the rest, whole."""
    if native is not None:
        return native.frames(), native.user_path_column
    frame, user_asked = _load_with_paths(folder, work_dir)
    if _PATH_COLUMN not in frame.columns:
        return iter([(None, frame)]), user_asked
    return iter(frame.groupby(_PATH_COLUMN, sort=False)), user_asked


def iter_table_batches(source: Path, mini_batch_size: str, partition_keys: list[str],
                       work_dir: Path, arrow: bool = False, portable: bool = False) -> Iterator[MiniBatch]:
    try:
        target, _ = parse_mini_batch_size(mini_batch_size)
    except ValueError as exc:
        raise DataError(str(exc), hint="use a size like '1mb' for mltable input") from None
    folder = _table_folder(source)
    native = None if os.environ.get("AMLRUN_MLTABLE_READER") == "mltable" else open_native(folder)
    batches_dir = work_dir / "minibatches"
    batches_dir.mkdir(parents=True, exist_ok=True)
    if native is not None and native.streams and not partition_keys:
        yield from _stream_batches(native, target, batches_dir, arrow, portable)
        return
    frames, keep_path = _source_frames(folder, work_dir, native)
    index = 0

    def emit(part: Any, key_value: dict[str, Any]) -> MiniBatch:
        nonlocal index
        if _PATH_COLUMN in part.columns and not keep_path:
            part = part.drop(columns=[_PATH_COLUMN])
        path = _write_frame(part.reset_index(drop=True), batches_dir, index, portable)
        batch = MiniBatch(index, "table", len(part), table_path=str(path), partition_key_value=key_value)
        index += 1
        return batch

    if partition_keys:
        import pandas

        parts = [part for _, part in frames]
        frame = pandas.concat(parts) if len(parts) > 1 else parts[0]
        missing = [k for k in partition_keys if k not in frame.columns]
        if missing:
            raise DataError(f"partition_keys {missing} are not columns of the table",
                            hint="columns: " + ", ".join(map(str, frame.columns)))
        for key, part in frame.groupby(partition_keys, sort=False, dropna=False):
            values = key if isinstance(key, tuple) else (key,)
            yield emit(part, {k: _plain(v) for k, v in zip(partition_keys, values, strict=False)})
        return
    for file, part in frames:
        per_batch = rows_per_batch(str(file), target) if file is not None else None
        if per_batch is None:  # not a local file: its rows' size in memory instead
            size = int(part.memory_usage(deep=True).sum())
            per_batch = max(1, int(len(part) * target / size)) if size else len(part)
        for start in range(0, len(part), per_batch):
            yield emit(part.iloc[start:start + per_batch], {})


def _stream_batches(native: NativeTable, target: int, batches_dir: Path, arrow: bool,
                    portable: bool = False) -> Iterator[MiniBatch]:
    """Cut a delimited table's mini-batches from pyarrow's stream: each is written as soon as its last row
    is parsed, the same rows the frames of the other readers give."""
    import pyarrow as pa
    import pyarrow.ipc

    index = 0

    def emit(table: Any) -> MiniBatch:
        nonlocal index
        if arrow:
            path = batches_dir / f"{index}.arrow"
            with pa.OSFile(str(path), "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        else:  # the workers' Python may lack pyarrow: a DataFrame, as the worker would have made it
            path = _write_frame(table.to_pandas(), batches_dir, index, portable)
        batch = MiniBatch(index, "table", table.num_rows, table_path=str(path))
        index += 1
        return batch

    current: str | None = None
    pending: list[Any] = []  # rows of `current` not yet in a mini-batch
    held = per_batch = 0
    for file, chunk in native.arrow_chunks():
        if file != current:
            if held:
                yield emit(_concat(pending))
            current, pending, held = file, [], 0
            per_batch = rows_per_batch(file, target) or 1
        pending.append(chunk)
        held += chunk.num_rows
        if held >= per_batch:
            rows = _concat(pending)
            start = 0
            while held - start >= per_batch:
                yield emit(rows.slice(start, per_batch))
                start += per_batch
            pending, held = ([rows.slice(start)] if start < held else []), held - start
    if held:
        yield emit(_concat(pending))


def _concat(tables: list[Any]) -> Any:
    """One Table of a file's consecutive rows; rows read before the reader widened a column's type (see
    `NativeTable._csv_blocks`) are cast to the wider type."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    schema = tables[-1].schema
    return pa.concat_tables([t if t.schema == schema else t.cast(schema) for t in tables])


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values, so the context prints and pickles plainly."""
    return value.item() if hasattr(value, "item") else value


def _write_frame(frame: Any, batches_dir: Path, index: int, portable: bool) -> Path:
    if portable:
        path = batches_dir / f"{index}.cols"
        write_portable_frame(frame, path)
    else:
        path = batches_dir / f"{index}.pkl"
        frame.to_pickle(path)
    return path


def write_portable_frame(frame: Any, path: Path) -> None:
    """A DataFrame as (name, dtype, plain Python values, extra) per column, pickled: any pandas and numpy
    in the worker's Python rebuild it (worker.read_table_batch), where a pickled DataFrame needs the
    writer's versions. Datetimes travel as integers in their unit (and time zone), categories as values."""
    import pickle

    columns = []
    for position, name in enumerate(frame.columns):
        col = frame.iloc[:, position]
        dtype, extra = str(col.dtype), {}
        if col.dtype.kind in "mM":
            tz = getattr(col.dtype, "tz", None)
            if tz is not None:
                col = col.dt.tz_convert("UTC").dt.tz_localize(None)
                extra["tz"] = str(tz)
            array = col.to_numpy()
            extra["numpy"] = str(array.dtype)
            values = array.view("int64").tolist()
        elif dtype == "category" or not hasattr(col.dtype, "str") or col.dtype.kind == "O":
            # extension and object columns: Python objects, missing values as None
            values = col.astype(object).where(col.notna(), None).tolist()
        else:
            values = col.tolist()
        columns.append((name, dtype, values, extra))
    with open(path, "wb") as fh:
        pickle.dump({"format": 1, "columns": columns}, fh, protocol=4)
