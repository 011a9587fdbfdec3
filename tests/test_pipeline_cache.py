"""Content hashes with a stat fast path, and the live view rendered into a buffer."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from amlrun.engine import cache as cache_module
from amlrun.engine.cache import StepCache
from amlrun.engine.live import LiveReporter


@pytest.fixture
def counted(monkeypatch):
    """Count files whose content is really read."""
    reads: list[str] = []
    real = cache_module._file_digest

    def digest(path: Path) -> str:
        reads.append(path.name)
        return real(path)

    monkeypatch.setattr(cache_module, "_file_digest", digest)
    return reads


def test_unchanged_files_are_not_read_again(tmp_path: Path, counted: list[str]) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    for i in range(20):
        (folder / "sub" / f"f{i}.txt").write_text(f"row {i}\n")
        _age(folder / "sub" / f"f{i}.txt")
    cache = StepCache(tmp_path)
    first = cache.hash_path(folder)
    assert len(counted) == 20
    counted.clear()
    assert StepCache(tmp_path).hash_path(folder) == first  # a new process: remembered in cache.db
    assert counted == []


def _age(file: Path, seconds: int = 60) -> None:
    st = file.stat()
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_content_decides_not_timestamps(tmp_path: Path, counted: list[str]) -> None:
    file = tmp_path / "data.csv"
    file.write_text("a,b\n1,2\n")
    _age(file, 120)
    cache = StepCache(tmp_path)
    original = cache.hash_path(file)
    _age(file, -60)
    counted.clear()
    assert cache.hash_path(file) == original and counted == ["data.csv"]  # stats changed: read, same digest
    file.write_text("a,b\n1,3\n")  # same size, new content
    assert cache.hash_path(file) != original


def test_just_written_files_are_read_again(tmp_path: Path, counted: list[str]) -> None:
    """Within a coarse timestamp tick a rewrite can keep size and mtime: recent stats are not trusted."""
    file = tmp_path / "fresh.txt"
    file.write_text("v1")
    cache = StepCache(tmp_path)
    first = cache.hash_path(file)
    st = file.stat()
    file.write_text("v2")
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime, new content
    assert cache.hash_path(file) != first and counted == ["fresh.txt", "fresh.txt"]


def test_folder_digest_covers_names_and_missing_paths(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a.txt").write_text("x")
    (two / "b.txt").write_text("x")
    assert cache.hash_path(one) != cache.hash_path(two)
    assert cache.hash_path(tmp_path / "nope") == "missing"


def test_step_results_round_trip_and_can_be_forgotten(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    cache.remember("k1", "run_a_train", {"model": {"path": str(out), "hash": "h"}})
    entry = cache.lookup("k1")
    assert entry is not None and entry.run_name == "run_a_train" and entry.outputs_exist()
    out.rmdir()
    assert not entry.outputs_exist()
    cache.forget("k1")
    assert cache.lookup("k1") is None


def test_live_view_shows_each_step_state(tmp_path: Path) -> None:
    buffer = io.StringIO()
    live = LiveReporter(err=buffer)
    live.console.width = 100
    live.event("started", steps=["prep", "train", "score"], message="pipeline p: 3 steps")
    live.event("step", step="prep", state="Reused", reused_from="old_prep")
    live.event("step", step="train", state="Running")
    live.log_line("train", "epoch 3/10\n")
    live.event("step", step="score", state="Skipped", message="skipped: upstream step train did not finish")
    live.close()
    text = buffer.getvalue()
    for expected in ("prep", "Reused", "from old_prep", "train", "Running", "epoch 3/10", "Skipped"):
        assert expected in text
