"""Table mini-batches for workers in another Python (a job's venv, a container): their pandas and numpy
are not amlrun's, and cannot unpickle a DataFrame pickled by another version (1a_oj_sales_prediction's
venv has pandas 1.5 and numpy 1.26 beside amlrun's pandas 3: every mini-batch failed). The `.cols` file
holds plain Python values only, and the worker rebuilds the frame with its own pandas."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amlrun.engine.parallel.partition import write_portable_frame
from amlrun.engine.parallel.worker import read_table_batch


class _PlainOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - any class means a version dependency
        raise pickle.UnpicklingError(f"{module}.{name} in a portable mini-batch")


def test_a_portable_mini_batch_holds_no_pandas_or_numpy_object_and_reads_back_as_the_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "WeekStarting": pd.to_datetime(["1990-06-14", None]).astype("datetime64[ns]"),
        "Brand": ["tropicana", None],
        "Quantity": [12003, 10239],
        "Price": [2.59, np.nan],
        "Advert": [True, False],
        "Store": pd.array([1000, None], dtype="Int64"),
        "Kind": pd.Categorical(["x", "y"]),
        "Local": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("Europe/Paris"),
        "Gap": pd.to_timedelta([0, 7], unit="D"),
    })
    path = tmp_path / "0.cols"
    write_portable_frame(frame, path)
    _PlainOnly(io.BytesIO(path.read_bytes())).load()  # loads with no pandas/numpy class at all

    back = read_table_batch(str(path))
    assert list(back.columns) == list(frame.columns)
    for name in frame.columns:
        if name == "Brand":  # strings: None stays missing (never the text "None")
            assert back[name].iloc[0] == "tropicana" and pd.isna(back[name].iloc[1])
            continue
        pd.testing.assert_series_equal(back[name], frame[name], check_names=False)


def test_a_worker_in_another_python_gets_portable_mini_batches(tmp_path: Path) -> None:
    from amlrun.engine.parallel.partition import iter_table_batches

    table = tmp_path / "table"
    table.mkdir()
    (table / "t.csv").write_text("id,group\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(6)))
    (table / "MLTable").write_text("paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited:\n"
                                   "      delimiter: ','\n      header: all_files_same_headers\n")
    batches = list(iter_table_batches(table, "1kb", ["group"], tmp_path / "work", portable=True))
    assert [Path(b.table_path or "").suffix for b in batches] == [".cols", ".cols"]
    assert sorted(len(read_table_batch(b.table_path or "")) for b in batches) == [3, 3]
    with pytest.raises(pickle.UnpicklingError):  # a DataFrame pickle would need this very pandas
        _PlainOnly(io.BytesIO(pickle.dumps(pd.DataFrame({"a": [1]})))).load()
