"""The dispatch-table example runs end to end: three stores, an MLTable, a shell tool, one result file."""

from __future__ import annotations

from pathlib import Path

from conftest import EXAMPLES
from parallel_fixtures import read_rows


def test_dispatch_table_example_validates_every_sequence_once(amlrun, store: Path) -> None:
    result = amlrun("run", EXAMPLES / "dispatch_table" / "job.yml", "--name", "dispatch1")
    assert result.code == 0, result.text
    rows = sorted(read_rows(store, "dispatch1"))
    assert [r.split()[0] for r in rows] == [f"seq_{i:03d}" for i in range(1, 9)]
    verdicts = dict(r.split(" ", 1) for r in rows)
    assert verdicts["seq_004"].startswith("FAIL wrong-sequence seq_004.rad")
    assert verdicts["seq_001"] == "OK frames:4 4 4"
    assert sum(v.startswith("OK") for v in verdicts.values()) == 7
