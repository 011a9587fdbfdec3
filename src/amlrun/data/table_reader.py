"""Read the common MLTables natively with pyarrow, a source file at a time, as the `mltable` library would.

`import mltable` alone takes 1-2 s and its `to_pandas_dataframe()` reads a whole table before giving a
row back. Most parallel-job tables are a few CSV, Parquet or JSON-lines files with simple
transformations, which pyarrow reads (multi-threaded) far faster. `open_native(folder)` understands:

    paths:           file / folder / pattern (local)
    read_delimited:  delimiter, header (all_files_same_headers), encoding utf8, include_path_column,
                     support_multi_line, infer_column_types: true, empty_as_string: false
    read_parquet, read_json_lines: include_path_column
    take, skip, drop_columns, keep_columns, extract_columns_from_partition_format

and returns None for anything else, which callers then read with the `mltable` library. Frames come
one per source file, in mltable's file order, with mltable's `Path` column first, so both readers cut
the same mini-batches (tests/test_table_reader.py compares them). Delimited files also stream
(`arrow_chunks`): pyarrow Tables of about a MiB each as the bytes are parsed, so the first mini-batch is
cut before the rest of the file is read. How many rows make a mini-batch comes from the file's raw bytes
(`rows_per_batch`), the same whichever reader reads the rows.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PATH_COLUMN", "NativeTable", "open_native", "rows_per_batch"]

PATH_COLUMN = "Path"  # the column mltable adds with include_path_column
_READERS = {"read_delimited", "read_parquet", "read_json_lines"}
_DELIMITED_OPTIONS = {"delimiter", "header", "encoding", "include_path_column", "support_multi_line",
                      "infer_column_types", "empty_as_string"}
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
SAMPLE_BYTES = 1 << 20  # the head of a file whose rows per byte set its rows per mini-batch
BLOCK_BYTES = 1 << 20  # what the streaming CSV reader parses at a time (and infers column types from)


def rows_per_batch(path: str, target: int) -> int | None:
    """Rows of `path` per mini-batch of about `target` bytes, or None when `path` is not a local file.

    Read from the file's bytes alone (lines in its first MiB; a Parquet file's row count in its footer), not
    from parsed rows, so the native reader and the `mltable` library cut identical mini-batches, and a
    stream can cut its first mini-batch before the rest of the file is read.
    """
    local = path.removeprefix("file://")
    try:
        size = os.path.getsize(local)
        with open(local, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError:
        return None
    if head[:4] == b"PAR1":
        import pyarrow.parquet as pq

        rows, sampled = pq.ParquetFile(local).metadata.num_rows, size
    else:
        rows, sampled = head.count(b"\n"), len(head)
        if sampled == size and head and not head.endswith(b"\n"):
            rows += 1  # the last line has no newline
    return max(1, int(rows * target / sampled)) if rows and sampled else 1


@dataclass
class NativeTable:
    """An MLTable this module reads itself: its source files and what to do with their rows."""

    files: list[str]
    reader: str
    options: dict[str, Any]
    steps: list[tuple[str, Any]] = field(default_factory=list)  # after reading, in the file's order

    @property
    def user_path_column(self) -> bool:
        """Whether the user's mini-batches keep `Path` (asked for, and not left out by keep_columns)."""
        return bool(self.options.get("include_path_column")) and all(
            PATH_COLUMN in _names(value) for name, value in self.steps if name == "keep_columns")

    def frames(self) -> Iterator[tuple[str, Any]]:
        """(source file, its rows as a DataFrame with `Path` first), transformations applied, in order."""
        state = [0] * len(self.steps)  # rows each skip/take has seen so far
        for path in self.files:
            frame = self._read(path)
            frame.insert(0, PATH_COLUMN, path)
            done = False
            for i, (name, value) in enumerate(self.steps):
                frame, done_here = _apply(name, value, frame, state, i, path)
                done = done or done_here
            yield path, frame
            if done:  # a take has all its rows: the other files are never read
                return

    @property
    def streams(self) -> bool:
        """Whether `arrow_chunks` reads this table (delimited text); the others are read a file at a time."""
        return self.reader == "read_delimited"

    def arrow_chunks(self) -> Iterator[tuple[str, Any]]:
        """(source file, a pyarrow Table of its next rows, transformations applied, with `Path` first if the
        user keeps it), as pyarrow parses them; rows of one file arrive in order, files in mltable's order."""
        state = [0] * len(self.steps)
        with_path = self.user_path_column  # otherwise mini-batches drop it: never built
        for path in self.files:
            for table in self._csv_blocks(path):
                if with_path:
                    table = table.add_column(0, PATH_COLUMN, _repeat(path, table.num_rows))
                done = False
                for i, (name, value) in enumerate(self.steps):
                    table, done_here = _apply_arrow(name, value, table, state, i, path)
                    done = done or done_here
                if table.num_rows:
                    yield path, table
                if done:  # a take has all its rows: nothing after them is read
                    return

    def _csv_blocks(self, path: str) -> Iterator[Any]:
        """A delimited file's rows, a block at a time. The streaming reader fixes column types from the first
        block; when a later block disagrees (numbers, then text), the file is read again whole, its types
        inferred from every block as `read_csv` does, and its remaining rows come from that."""
        import pyarrow as pa
        import pyarrow.csv as pc

        given = 0
        try:
            reader = pc.open_csv(path, read_options=pc.ReadOptions(block_size=BLOCK_BYTES),
                                 parse_options=self._parse_options(), convert_options=_convert_options())
            for batch in reader:
                given += batch.num_rows
                yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid:
            whole = pc.read_csv(path, read_options=pc.ReadOptions(block_size=BLOCK_BYTES),
                                parse_options=self._parse_options(), convert_options=_convert_options())
            if whole.num_rows > given:
                yield whole.slice(given)

    def _parse_options(self) -> Any:
        import pyarrow.csv as pc

        return pc.ParseOptions(delimiter=self.options.get("delimiter", ","),
                               newlines_in_values=bool(self.options.get("support_multi_line")))

    def _read(self, path: str) -> Any:
        if self.reader == "read_parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pandas()
        if self.reader == "read_json_lines":
            import pyarrow.json as pj

            return pj.read_json(path).to_pandas()
        import pyarrow.csv as pc

        return pc.read_csv(path, read_options=pc.ReadOptions(block_size=BLOCK_BYTES),
                           parse_options=self._parse_options(), convert_options=_convert_options()).to_pandas()


def _convert_options() -> Any:
    import pyarrow.csv as pc

    return pc.ConvertOptions(strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True)


def _repeat(text: str, rows: int) -> Any:
    """A string column of `rows` times `text`, built from buffers: pyarrow converting Python objects
    (pa.array, pa.repeat) imports pandas, which the reading process must not wait for."""
    import array

    import pyarrow as pa

    data = text.encode()
    offsets = array.array("i", range(0, (rows + 1) * len(data), len(data)) if data else [0] * (rows + 1))
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data * rows))


def _apply_arrow(name: str, value: Any, table: Any, state: list[int], i: int, path: str) -> tuple[Any, bool]:
    """`_apply` on a pyarrow Table: the same rows and columns, in the same order."""
    import pyarrow as pa

    if name == "skip":
        drop = max(0, min(table.num_rows, int(value) - state[i]))
        state[i] += drop
        return table.slice(drop), False
    if name == "take":
        keep = max(0, min(table.num_rows, int(value) - state[i]))
        state[i] += keep
        return table.slice(0, keep), state[i] >= int(value)
    if name == "drop_columns":
        return table.drop_columns([c for c in _names(value) if c in table.column_names]), False
    if name == "keep_columns":
        first = [PATH_COLUMN] if PATH_COLUMN in table.column_names else []
        return table.select([*first, *[c for c in _names(value) if c != PATH_COLUMN]]), False
    if name == "extract_columns_from_partition_format":
        pattern, names = _partition_regex(value["partition_format"])
        match = pattern.search(path)
        for column in names:
            values = _repeat(match[column], table.num_rows) if match else pa.nulls(table.num_rows)
            where = table.schema.get_field_index(column)
            table = table.set_column(where, column, values) if where >= 0 else table.append_column(column, values)
        return table, False
    raise AssertionError(name)


def _apply(name: str, value: Any, frame: Any, state: list[int], i: int, path: str) -> tuple[Any, bool]:
    """One transformation on one file's rows; True when no later file can contribute rows."""
    if name == "skip":
        drop = max(0, min(len(frame), int(value) - state[i]))
        state[i] += drop
        return frame.iloc[drop:], False
    if name == "take":
        keep = max(0, min(len(frame), int(value) - state[i]))
        state[i] += keep
        return frame.iloc[:keep], state[i] >= int(value)
    if name == "drop_columns":
        return frame.drop(columns=[c for c in _names(value) if c in frame.columns]), False
    if name == "keep_columns":
        return frame[[PATH_COLUMN, *[c for c in _names(value) if c != PATH_COLUMN]]], False
    if name == "extract_columns_from_partition_format":
        pattern, names = _partition_regex(value["partition_format"])
        match = pattern.search(path)
        for column in names:
            frame[column] = match[column] if match else None
        return frame, False
    raise AssertionError(name)


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _partition_regex(fmt: str) -> tuple[re.Pattern[str], list[str]]:
    """`/year={year}/{file}.csv` -> a regex matching the end of a path, and its column names."""
    names: list[str] = []
    parts = re.split(r"\{([^{}]+)\}", fmt)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2:
            names.append(part)
            regex += f"(?P<{part}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex + "$"), names


def open_native(folder: Path) -> NativeTable | None:
    """The MLTable in `folder` as a NativeTable, or None when it needs the `mltable` library."""
    import yaml

    try:
        doc = yaml.safe_load((folder / "MLTable").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict) or set(doc) - {"paths", "transformations", "type", "$schema"}:
        return None
    files = _files(folder, doc.get("paths"))
    steps = doc.get("transformations") or []
    if files is None or not isinstance(steps, list) or not steps:
        return None
    reader: str | None = None
    options: dict[str, Any] = {}
    later: list[tuple[str, Any]] = []
    for step in steps:
        if isinstance(step, str):
            step = {step: {}}
        if not isinstance(step, dict) or len(step) != 1:
            return None
        ((name, value),) = step.items()
        if name in _READERS:
            if reader is not None or later:
                return None
            reader, options = name, dict(value or {})
            if not _options_supported(name, options):
                return None
        elif reader is None or not _step_supported(name, value):
            return None
        else:
            later.append((name, value))
    if reader is None:
        return None
    return NativeTable(files, reader, options, later)


def _options_supported(reader: str, options: dict[str, Any]) -> bool:
    if reader != "read_delimited":
        return set(options) <= {"include_path_column"}
    delimiter = options.get("delimiter", ",")
    return (set(options) <= _DELIMITED_OPTIONS and isinstance(delimiter, str) and len(delimiter) == 1
            and options.get("header", "all_files_same_headers") == "all_files_same_headers"
            and str(options.get("encoding", "utf8")).replace("-", "").lower() == "utf8"
            and options.get("infer_column_types", True) is True and not options.get("empty_as_string"))


def _step_supported(name: str, value: Any) -> bool:
    if name in ("take", "skip"):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if name in ("drop_columns", "keep_columns"):
        names = _names(value) if isinstance(value, str | list) else None
        if not names or not all(isinstance(n, str) for n in names):
            return False
        return PATH_COLUMN not in names if name == "drop_columns" else True  # Path drives the cuts
    if name == "extract_columns_from_partition_format":
        fmt = value.get("partition_format") if isinstance(value, dict) else None
        return isinstance(fmt, str) and ":" not in fmt and "{" in fmt  # no datetime parts
    return False


def _files(folder: Path, paths: Any) -> list[str] | None:
    """Every source file, in the order mltable reads them; None for a kind of path not read here."""
    if not isinstance(paths, list) or not paths:
        return None
    files: list[str] = []
    for entry in paths:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        ((kind, value),) = entry.items()
        if not isinstance(value, str) or kind not in ("file", "folder", "pattern"):
            return None
        value = value.removeprefix("file://")
        if _REMOTE.match(value):
            return None
        where = os.path.normpath(folder / value)
        if kind == "file":
            if not os.path.isfile(where):
                return None
            files.append(where)
        elif kind == "folder":
            if not os.path.isdir(where):
                return None
            files.extend(_walk_in_place(where))
        else:
            files.extend(sorted(p for p in glob.glob(where, recursive=True) if os.path.isfile(p)))
    if str(folder / "MLTable") in files or os.path.normpath(folder / "MLTable") in files:
        return None  # mltable would read the MLTable file itself as data: leave that to it
    return files


def _walk_in_place(folder: str) -> Iterator[str]:
    """A folder's files in directory order, each sub-folder's where it is listed (how mltable lists them)."""
    with os.scandir(folder) as entries:
        listed = list(entries)
    for entry in listed:
        if entry.is_dir():
            yield from _walk_in_place(entry.path)
        elif entry.is_file():
            yield entry.path
