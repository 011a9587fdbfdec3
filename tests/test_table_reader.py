"""The native MLTable reader cuts exactly the mini-batches the `mltable` library would.

Each table is partitioned twice, by pyarrow (the default for the MLTables it understands) and by the
`mltable` library (AMLRUN_MLTABLE_READER=mltable), and every mini-batch is compared: index, item count,
partition key values and the DataFrame itself (values, dtypes, column order).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas
import pytest
from pandas.testing import assert_frame_equal

from amlrun.data import table_reader
from amlrun.data.table_reader import open_native
from amlrun.engine.parallel.partition import iter_table_batches
from amlrun.engine.parallel.worker import read_table_batch


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


def _csv_rows(start: int, n: int) -> str:
    lines = ["id,name,value,flag"]
    for i in range(start, start + n):
        name = "" if i % 7 == 3 else f'"n, {i}"' if i % 5 == 0 else f"n{i}"
        value = "" if i % 11 == 4 else f"{i * 0.25}"
        lines.append(f"{i},{name},{value},{'True' if i % 2 else 'False'}")
    return "\n".join(lines) + "\n"


def _tables(root: Path) -> dict[str, tuple[Path, str, list[str]]]:
    """name -> (folder, mini_batch_size, partition_keys)"""
    csv = root / "csv"
    _write(csv / "year=2024" / "a.csv", _csv_rows(0, 40))
    _write(csv / "year=2025" / "b.csv", _csv_rows(40, 25))
    _write(csv / "year=2025" / "c.csv", _csv_rows(65, 30))
    _write(csv / "MLTable", """
        paths:
          - pattern: ./**/*.csv
        transformations:
          - read_delimited:
              delimiter: ','
              header: all_files_same_headers
              include_path_column: true
          - extract_columns_from_partition_format:
              partition_format: /year={year}/{file}.csv
    """)
    cut = root / "cut"
    _write(cut / "data" / "a.csv", _csv_rows(0, 30))
    _write(cut / "data" / "b.csv", _csv_rows(30, 30))
    _write(cut / "data" / "c.csv", _csv_rows(60, 30))
    _write(cut / "MLTable", """
        paths:
          - folder: ./data
        transformations:
          - read_delimited: {delimiter: ','}
          - skip: 10
          - take: 55
          - drop_columns: [flag]
    """)
    parquet = root / "parquet"
    parquet.mkdir()
    for i in range(2):
        frame = pandas.DataFrame({"id": range(i * 50, i * 50 + 50), "label": [f"l{j % 3}" for j in range(50)],
                                  "score": [j / 3 for j in range(50)]})
        frame.to_parquet(parquet / f"part{i}.parquet")
    _write(parquet / "MLTable", """
        paths:
          - pattern: ./*.parquet
        transformations:
          - read_parquet
          - keep_columns: [id, label]
    """)
    jsonl = root / "jsonl"
    _write(jsonl / "rows.jsonl", "".join(f'{{"id": {i}, "text": "t{i}", "x": {"null" if i % 4 == 0 else i / 2}}}\n'
                                         for i in range(60)))
    _write(jsonl / "MLTable", """
        paths:
          - file: ./rows.jsonl
        transformations:
          - read_json_lines:
              include_path_column: true
    """)
    return {"csv": (csv, "1kb", []), "cut": (cut, "300b", []), "parquet": (parquet, "2kb", []),
            "jsonl": (jsonl, "500b", []), "csv_keys": (csv, "1kb", ["year", "flag"])}


def _batches(folder: Path, size: str, keys: list[str], work: Path, arrow: bool = False) -> list[tuple]:
    """(index, items, key values, the DataFrame a worker hands run()) of every mini-batch."""
    found = []
    for batch in iter_table_batches(folder, size, keys, work, arrow):
        found.append((batch.index, batch.items, batch.partition_key_value, read_table_batch(batch.table_path)))
    return found


def test_native_and_mltable_readers_cut_identical_mini_batches(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("mltable")
    for name, (folder, size, keys) in _tables(tmp_path).items():
        assert open_native(folder) is not None, name
        monkeypatch.delenv("AMLRUN_MLTABLE_READER", raising=False)
        with monkeypatch.context() as small:  # pyarrow's stream in blocks of a few rows: mini-batches span blocks
            small.setattr(table_reader, "BLOCK_BYTES", 512)
            native = _batches(folder, size, keys, tmp_path / "work" / name / "native", arrow=True)  # Arrow files
        pickled = _batches(folder, size, keys, tmp_path / "work" / name / "pickled")  # for workers without pyarrow
        monkeypatch.setenv("AMLRUN_MLTABLE_READER", "mltable")
        library = _batches(folder, size, keys, tmp_path / "work" / name / "mltable")
        assert len(native) == len(pickled) == len(library) > 1, name
        for ours, plain, theirs in zip(native, pickled, library, strict=True):
            assert ours[:3] == plain[:3] == theirs[:3], name
            assert_frame_equal(ours[3], theirs[3], obj=f"{name} mini-batch {ours[0]}")
            assert_frame_equal(plain[3], theirs[3], obj=f"{name} pickled mini-batch {ours[0]}")


def test_tables_the_native_reader_does_not_understand_go_to_mltable(tmp_path: Path) -> None:
    table = tmp_path / "t"
    _write(table / "a.csv", "a;b\n1;2\n3;4\n")
    for transformations in ("- read_delimited: {delimiter: ';', header: no_header}",
                            "- read_delimited: {delimiter: ';'}\n  - filter: 'col(\"a\") > 1'",
                            "- read_delimited: {delimiter: ';'}\n  - drop_columns: Path"):
        _write(table / "MLTable", f"paths:\n  - file: ./a.csv\ntransformations:\n  {transformations}\n")
        assert open_native(table) is None, transformations
    _write(table / "MLTable", "paths:\n  - file: https://example.com/a.csv\ntransformations:\n  - read_parquet\n")
    assert open_native(table) is None


def test_a_column_that_turns_to_text_after_the_first_block_streams_every_row(tmp_path: Path, monkeypatch) -> None:
    """pyarrow's streaming reader fixes types from its first block; later text in a number column must not
    fail the job: the file's remaining rows are read with types from the whole file, the cuts unchanged."""
    pytest.importorskip("mltable")
    table = tmp_path / "late"
    _write(table / "a.csv", "id,code\n" + "".join(f"{i},{i if i < 150 else f'x{i}'}\n" for i in range(200)))
    _write(table / "MLTable", "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {delimiter: ','}\n")
    monkeypatch.setattr(table_reader, "BLOCK_BYTES", 256)
    native = _batches(table, "300b", [], tmp_path / "native", arrow=True)
    monkeypatch.setenv("AMLRUN_MLTABLE_READER", "mltable")
    library = _batches(table, "300b", [], tmp_path / "mltable")
    assert [b[:2] for b in native] == [b[:2] for b in library] and len(native) > 3
    for ours, theirs in zip(native, library, strict=True):
        assert list(ours[3]["id"]) == list(theirs[3]["id"])
        assert [str(v) for v in ours[3]["code"]] == [str(v) for v in theirs[3]["code"]]
