"""Run records: one folder per run plus a sqlite index that concurrent runs can share.

Layout under the store root (`.amlrun/` or `$AMLRUN_HOME`):

    runs.db                         index of all runs and steps
    runs/<run-name>/                one folder per run (steps nest under their pipeline's folder)
        record.json                 the row below, for humans and for copying a run elsewhere
        spec.yml                    the spec as submitted, overrides applied
        user_logs/std_log.txt       stdout+stderr
    datastores/workspaceblobstore/  the default local datastore (outputs land here)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from amlrun.errors import RunError, UsageError, scrub_secrets

__all__ = ["RunRecord", "RunStore", "TERMINAL_STATES", "find_store_root", "refuse_file_as_store"]

TERMINAL_STATES = {"Completed", "Failed", "Canceled", "Skipped", "Reused"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    parent TEXT,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    run_dir TEXT NOT NULL,
    spec_path TEXT,
    reused_from TEXT,
    exit_code INTEGER,
    error TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
"""


@dataclass
class RunRecord:
    name: str
    type: str
    status: str
    run_dir: str
    parent: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    spec_path: str | None = None
    reused_from: str | None = None
    exit_code: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def find_store_root(start: Path | None = None) -> Path:
    """`$AMLRUN_HOME`, else `.amlrun/` in the project root (nearest folder with amlrun.yaml, .git or pyproject)."""
    env = os.environ.get("AMLRUN_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in ("amlrun.yaml", ".git", "pyproject.toml")):
            return folder / ".amlrun"
    return here / ".amlrun"


def refuse_file_as_store(root: Path) -> None:
    """Looking at runs creates nothing, but a store path that is a file is still an error, not 'no runs'."""
    if root.is_file():
        raise _store_folder_error(root, NotADirectoryError(str(root)))


def _store_folder_error(root: Path, exc: OSError) -> UsageError:
    what = "is a file, not a folder" if root.is_file() else f"cannot be created ({exc.strerror or exc})"
    return UsageError(f"the run store {root} {what}",
                      hint="point AMLRUN_HOME (or --store) at a folder you can write, or unset it to use "
                           ".amlrun/ in the project root")


def _index_error(db_path: Path, exc: sqlite3.Error) -> RunError:
    """A sqlite failure of the run index as one paragraph: what happened to the file and what to do."""
    text = str(exc).lower()
    moved = f"{db_path.name}.broken"
    if db_path.is_dir():
        return RunError(f"the run index {db_path} is a folder, not amlrun's sqlite file",
                        hint=f"move it aside (`mv {db_path} {db_path.parent / moved}`) and retry")
    if "locked" in text or "busy" in text:
        return RunError(f"the run index {db_path} stayed locked by another process for 30s",
                        hint="wait for the other amlrun (or sqlite tool) to finish, then retry")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return RunError(f"the run index {db_path} cannot be written ({exc})",
                        hint=f"make {db_path.parent} writable, or point AMLRUN_HOME (or --store) at a folder "
                             "you can write")
    if "not a database" in text or "malformed" in text or "no such" in text or "corrupt" in text:
        return RunError(f"the run index {db_path} is damaged or not amlrun's ({exc})",
                        hint=f"move it aside (`mv {db_path} {db_path.parent / moved}`) and retry: amlrun starts a "
                             "new index; each run's folder under runs/ keeps its record.json")
    if "disk" in text or "full" in text:
        return RunError(f"the run index {db_path} cannot be written: {exc}",
                        hint=f"free space on the disk holding {db_path.parent}")
    return RunError(f"the run index {db_path} failed: {exc}",
                    hint=f"check the file; moving it aside (`mv {db_path} {db_path.parent / moved}`) starts a "
                         "new index")


class RunStore:
    """The run index. Every method opens its own short connection: safe across processes.

    Every sqlite failure (a damaged, locked or read-only index) surfaces as a RunError naming the file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _store_folder_error(root, exc) from None
        self.db_path = root / "runs.db"
        self._held: sqlite3.Connection | None = None
        self._held_lock = threading.Lock()
        # a store on a read-only disk can still be read (`runs`, `show`, `logs`); writing says why it fails
        self._read_only = self.db_path.is_file() and not os.access(root, os.W_OK)
        columns = self._open_schema()
        missing = {"name", "parent", "status", "run_dir", "extra"} - columns
        if missing:
            raise _index_error(self.db_path, sqlite3.DatabaseError(f"no such column: {sorted(missing)[0]}"))

    def _open_schema(self) -> set[str]:
        """Create the tables if needed; the `runs` columns.

        Several processes opening a new index at once can meet SQLITE_BUSY where sqlite does not wait
        (switching to WAL, creating the schema): that is retried briefly, not reported as a locked index.
        """
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._connect() as db:
                    if not self._read_only:
                        db.executescript(_SCHEMA)
                    return {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            except RunError as exc:
                if not isinstance(exc.__context__, sqlite3.OperationalError) or time.monotonic() > deadline \
                        or not any(word in str(exc.__context__).lower() for word in ("locked", "busy")):
                    raise
                time.sleep(0.05)

    @contextmanager
    def hold(self) -> Iterator[RunStore]:
        """Keep one connection open (shared by threads) while many records change, e.g. a pipeline's.

        Opening and closing per write costs a WAL checkpoint each time; holding costs nothing.
        """
        if self._held is not None:
            yield self
            return
        try:
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise _index_error(self.db_path, exc) from None
        self._held = db
        try:
            yield self
        finally:
            with self._held_lock:
                self._held = None
                db.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._held is not None:
            with self._held_lock, _translated(self.db_path):
                yield self._held
            return
        with _translated(self.db_path):
            if self._read_only:
                db = sqlite3.connect(f"{self.db_path.as_uri()}?immutable=1", uri=True, isolation_level=None)
            else:
                db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            try:
                if not self._read_only:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                yield db
            finally:
                db.close()

    def run_dir(self, name: str, parent_dir: Path | None = None) -> Path:
        return (parent_dir / "steps" / name) if parent_dir else (self.root / "runs" / name)

    def exists(self, name: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone() is not None

    def save(self, record: RunRecord, write_json: bool = True) -> None:
        """Index the record; `write_json=False` skips record.json for short-lived states (hot paths)."""
        row = _row(record)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as db:
            db.execute(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))
        if write_json:
            _write_json(record)

    def save_many(self, records: list[RunRecord], write_json: bool = False) -> None:
        """Index several records in one transaction; `write_json`: their record.json files too (else
        they follow with results)."""
        if not records:
            return
        rows = [_row(record) for record in records]
        cols = ", ".join(rows[0])
        marks = ", ".join("?" for _ in rows[0])
        with self._connect() as db:
            db.execute("BEGIN")
            try:
                db.executemany(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})",
                               [tuple(r.values()) for r in rows])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        if write_json:
            for record in records:
                _write_json(record)

    def update(self, record: RunRecord, **changes: Any) -> RunRecord:
        for key, value in changes.items():
            setattr(record, key, value)
        self.save(record)
        return record

    def any_extra(self, names: list[str], key: str) -> bool:
        """Whether any of the runs `names` has `key` in its extra fields (one query for many runs)."""
        with self._connect() as db:
            for start in range(0, len(names), 500):
                chunk = names[start:start + 500]
                marks = ", ".join("?" for _ in chunk)
                for (extra,) in db.execute(f"SELECT extra FROM runs WHERE name IN ({marks})", chunk):
                    if key in json.loads(extra or "{}"):
                        return True
        return False

    def get(self, name: str) -> RunRecord:
        if not name.strip():
            raise UsageError("the run name is empty", hint="`amlrun runs` lists the runs")
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM runs WHERE name=?", (name,)).fetchone()
            rows = [] if row is not None else db.execute(  # a unique prefix will do, as in git
                "SELECT * FROM runs WHERE substr(name, 1, ?) = ? ORDER BY created DESC LIMIT 6",
                (len(name), name)).fetchall()
        if row is None and len(rows) == 1:
            row = rows[0]
        if row is None and rows:
            shown = ", ".join(r["name"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise RunError(f"{name!r} is the start of several runs: {shown}", hint="give more of the name")
        if row is None:
            raise RunError(f"no run named {name!r} in {self.root}", hint="`amlrun runs` lists the runs")
        return _to_record(row)

    def create(self, record: RunRecord) -> None:
        """Index a new run; a UsageError if its name is taken (also by a concurrent run)."""
        row = _row(record)
        try:
            with self._connect() as db:
                db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                           tuple(row.values()))
        except sqlite3.IntegrityError:
            raise UsageError(f"a run named {record.name!r} already exists",
                             hint="choose another --name or omit it") from None
        self.save(record)
        if record.parent is None:
            from amlrun.store.run_index import remember_run

            remember_run(record.name, self.root)


    def children(self, parent: str) -> list[RunRecord]:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM runs WHERE parent=? ORDER BY created", (parent,)).fetchall()
        return [_to_record(r) for r in rows]

    def unfinished(self) -> list[RunRecord]:
        """Top-level runs not in a terminal state (running, or left so by an amlrun that died)."""
        marks = ", ".join("?" for _ in TERMINAL_STATES)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT * FROM runs WHERE parent IS NULL AND status NOT IN ({marks})",
                              tuple(TERMINAL_STATES)).fetchall()
        return [_to_record(r) for r in rows]

    def recent(self, limit: int = 20, top_level_only: bool = True) -> list[RunRecord]:
        where = "WHERE parent IS NULL" if top_level_only else ""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT * FROM runs {where} ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [_to_record(r) for r in rows]


def _row(record: RunRecord) -> dict[str, Any]:
    """The index row of a record; text that could carry a credential (errors, URIs, commands) scrubbed."""
    row = _fields(record)
    row["extra"] = scrub_secrets(json.dumps(record.extra, default=str))
    for key in ("error", "spec_path"):
        if isinstance(row[key], str):
            row[key] = scrub_secrets(row[key])
    return row


def _write_json(record: RunRecord) -> None:
    """record.json in the run's folder: the row, for humans and for copying a run elsewhere."""
    run_dir = Path(record.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = os.path.join(run_dir, "record.json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # (half the cost of Path.write_text)
    try:
        os.write(fd, scrub_secrets(json.dumps(_fields(record), indent=2, default=str)).encode())
    finally:
        os.close(fd)
    os.replace(tmp, os.path.join(run_dir, "record.json"))


@contextmanager
def _translated(db_path: Path) -> Iterator[None]:
    """sqlite errors -> RunError; a duplicate name (IntegrityError) is left to the caller."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as exc:
        raise _index_error(db_path, exc) from None


def _to_record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data["extra"] = json.loads(data.get("extra") or "{}")
    return RunRecord(**data)


def _fields(record: RunRecord) -> dict[str, Any]:
    """The record's fields, shallow (dataclasses.asdict deep-copies `extra` on every save of every step)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}
