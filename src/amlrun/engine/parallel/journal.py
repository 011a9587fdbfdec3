"""Durable per-mini-batch state and exactly-once `append_row` output.

The driver is the only writer of the output file. A commit appends the rows of one or more finished
mini-batches to the output, fsyncs it, then appends one JSON line per mini-batch (with the byte range
its rows occupy) to `journal.jsonl` and fsyncs that. On open, the output is cut back to the end of the
last journaled range, so rows written by a driver killed between the two fsyncs vanish, and a
mini-batch's rows are either all there or not at all.

Resuming drops what did not succeed: the output is rewritten without the rows of partially failed
mini-batches (two-phase: `output.tmp` + `journal.new`, then two renames, finished on the next open if
interrupted), so re-running them cannot duplicate a row.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Commit", "Journal"]

HEADER_INDEX = -1


@dataclass
class Commit:
    """The final outcome of one mini-batch (status: ok | partial | failed | header)."""

    index: int
    status: str
    start: int = 0
    end: int = 0
    items: int = 0
    returned: int = 0
    attempts: int = 1
    duration: float = 0.0
    error: str | None = None
    what: list[str] | None = None  # a failed/partial mini-batch's items (files, partition), for `amlrun show`

    @property
    def failed_items(self) -> int:
        if self.status == "failed":
            return self.items
        return max(0, self.items - self.returned)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Open with `Journal(folder, output_file_or_None)`; `commits` holds what is durably done."""

    def __init__(self, folder: Path, output: Path | None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "journal.jsonl"
        self.output = output
        self._finish_rebase()
        self.commits: dict[int, Commit] = {}
        self._load()
        self._out = open(output, "ab") if output is not None else None  # noqa: SIM115 - lives with the journal
        self._log = open(self.path, "ab")  # noqa: SIM115

    # -- opening -------------------------------------------------------------------------------------
    def _load(self) -> None:
        good = 0
        if self.path.exists():
            data = self.path.read_bytes()
            for line in data.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break  # a line torn by a crash: never committed
                try:
                    commit = Commit(**json.loads(line))
                except (ValueError, TypeError):
                    break
                self.commits[commit.index] = commit
                good += len(line)
            if good != len(data):
                with open(self.path, "r+b") as fh:
                    fh.truncate(good)
                    os.fsync(fh.fileno())
        if self.output is not None:
            committed = max((c.end for c in self.commits.values()), default=0)
            self.output.parent.mkdir(parents=True, exist_ok=True)
            if not self.output.exists():
                self.output.touch()
            if self.output.stat().st_size != committed:
                with open(self.output, "r+b") as fh:
                    fh.truncate(committed)
                    os.fsync(fh.fileno())

    def _finish_rebase(self) -> None:
        new_journal = self.folder / "journal.new"
        tmp_output = self.output.with_name(self.output.name + ".amlrun-tmp") if self.output else None
        if not new_journal.exists():
            if tmp_output is not None and tmp_output.exists():
                tmp_output.unlink()
            return
        if tmp_output is not None and tmp_output.exists():  # the rebase never switched: undo it
            tmp_output.unlink()
            new_journal.unlink()
            return
        os.replace(new_journal, self.path)  # the output was switched: switch the journal too
        _fsync_dir(self.folder)

    # -- state ---------------------------------------------------------------------------------------
    def succeeded(self) -> set[int]:
        return {i for i, c in self.commits.items() if c.status == "ok"}

    def keep_only_succeeded(self) -> int:
        """Forget partial and failed mini-batches (and their rows) so they run again. Returns how many."""
        dropped = [c for c in self.commits.values() if c.status not in ("ok", "header")]
        if not dropped:
            return 0
        kept = sorted((c for c in self.commits.values() if c.status in ("ok", "header")), key=lambda c: c.start)
        self.close()
        new_commits: list[Commit] = []
        tmp_output = self.output.with_name(self.output.name + ".amlrun-tmp") if self.output else None
        if self.output is not None and tmp_output is not None:
            with open(self.output, "rb") as src, open(tmp_output, "wb") as dst:
                for commit in kept:
                    src.seek(commit.start)
                    chunk = src.read(commit.end - commit.start)
                    start = dst.tell()
                    dst.write(chunk)
                    new_commits.append(Commit(**{**asdict(commit), "start": start, "end": dst.tell()}))
                dst.flush()
                os.fsync(dst.fileno())
        else:
            new_commits = kept
        new_journal = self.folder / "journal.new"
        with open(new_journal, "wb") as fh:
            fh.write(b"".join(_line(c) for c in new_commits))
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.folder)
        if self.output is not None and tmp_output is not None:
            os.replace(tmp_output, self.output)
            _fsync_dir(self.output.parent)
        os.replace(new_journal, self.path)
        _fsync_dir(self.folder)
        self.commits = {c.index: c for c in new_commits}
        self._out = open(self.output, "ab") if self.output is not None else None  # noqa: SIM115
        self._log = open(self.path, "ab")  # noqa: SIM115
        return len(dropped)

    # -- committing ----------------------------------------------------------------------------------
    def commit(self, batch: list[tuple[Commit, str, str | None]]) -> None:
        """Durably record finished mini-batches with their rows (and header, written once, first)."""
        if not batch:
            return
        records: list[Commit] = []
        if self._out is not None:
            offset = self._out.tell()
            for commit, body, header in batch:
                if header and HEADER_INDEX not in self.commits and offset == 0:
                    data = header.encode()
                    self._out.write(data)
                    head = Commit(HEADER_INDEX, "header", offset, offset + len(data))
                    self.commits[HEADER_INDEX] = head
                    records.append(head)
                    offset += len(data)
                data = body.encode() if commit.status != "failed" else b""
                self._out.write(data)
                commit.start, commit.end = offset, offset + len(data)
                offset += len(data)
                records.append(commit)
            self._out.flush()
            os.fsync(self._out.fileno())
        else:
            records = [commit for commit, _, _ in batch]
        self._log.write(b"".join(_line(c) for c in records))
        self._log.flush()
        os.fsync(self._log.fileno())
        for commit in records:
            self.commits[commit.index] = commit

    def close(self) -> None:
        for fh in (getattr(self, "_out", None), getattr(self, "_log", None)):
            if fh is not None and not fh.closed:
                fh.close()


def _line(commit: Commit) -> bytes:
    return (json.dumps(asdict(commit), separators=(",", ":")) + "\n").encode()
