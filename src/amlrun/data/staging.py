"""Make inputs available to a step and outputs ready for it, per AzureML's modes.

Inputs
- `ro_mount`, `eval_mount`: a read-only *view*: hardlinks into the shared object cache, never the
  user's files. Local sources are snapshotted into the cache once (keyed by path, size, mtime, inode:
  a later run with unchanged files costs a stat walk and hardlinks, no copy); remote ones are fetched
  into it once (keyed by content MD5 or etag and size). After the step the view is compared with its
  stat manifest; a step that changed, added or removed files fails with those files named, and the
  objects it wrote through are dropped from the cache. Chmod alone cannot protect anything from a
  root process, which is why the view is never the source itself.
- `download`, `eval_download`: a private, writable copy in the run folder.
- `direct`: the URI itself (code opens it with fsspec; see stepenv), or the path for plain local data.
- `rw_mount`: local data is handed over as is; remote data is a private copy whose changed files are
  written back after the step.

Outputs
- `rw_mount` (the default) and `upload`, on any datastore: the step writes to a staging folder under
  the store, published (moved or uploaded) only when the step succeeds, so a failed, killed or
  orphaned step never leaves a partial output where downstream steps and users read it. (An
  `rw_mount` onto a local folder that already holds files is written in place: a mount shows those
  files, and steps that read them, as azmlops' pipelinedata joins do, need them.) The staging
  folder is named after the destination and the step run writing it (two steps sharing one
  destination never share a staging folder). A command step starts from an empty one (a resumed
  step never mixes an earlier attempt's files in); a resumed parallel step continues with what it
  had written. A failed step's files stay there, marked `FAILED`, and never reach the destination
  (on a nearly full disk they are removed instead).
- `direct` on a local path: the path itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amlrun.data.cache import SENTINEL_MTIME_NS, ObjectCache, object_key
from amlrun.data.datastores import BlobDatastore
from amlrun.data.locations import Location
from amlrun.data.progress import TransferStats
from amlrun.errors import DataError

__all__ = [
    "MaterializedInput", "PreparedOutput", "materialize_input", "materialize_inputs", "prepare_output", "report",
]

READ_ONLY_MODES = ("ro_mount", "eval_mount")
COPY_MODES = ("download", "eval_download")
KNOWN_INPUT_MODES = (*READ_ONLY_MODES, *COPY_MODES, "direct", "rw_mount")

Manifest = dict[str, tuple[int, int]]


def _label(step: str | None, port: str) -> str:
    """`inputs.x`, or `train: inputs.x` for a pipeline step (several steps stage at once)."""
    return f"{step}: {port}" if step else port


def report(line: str) -> None:
    """Data progress and summaries go to stderr, as the engine's own events do."""
    print(f"[amlrun] {line}", file=sys.stderr, flush=True)


def stat_tree(root: Path) -> dict[str, os.stat_result]:
    """relative path -> stat of every file below `root` (or of `root` itself if a file): one stat a file.

    Symlinks are followed for files, not walked into for folders (as os.walk does); a file that
    vanishes mid-walk is left out.
    """
    if root.is_file():
        return {root.name: root.stat()}
    out: dict[str, os.stat_result] = {}
    todo = [(str(root), "")]
    while todo:
        folder, prefix = todo.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            todo.append((entry.path, f"{prefix}{entry.name}/"))
                        continue
                    out[prefix + entry.name] = entry.stat()
                except FileNotFoundError:
                    continue
    return out


def scan(root: Path) -> Manifest:
    """relative path -> (size, mtime_ns) for every file below `root` (or `root` itself if a file)."""
    return {rel: (st.st_size, st.st_mtime_ns) for rel, st in stat_tree(root).items()}


@dataclass
class MaterializedInput:
    """What the command sees for one input (`value` goes into `${{inputs.x}}`)."""

    name: str
    value: str
    view: Path | None = None
    expected: Manifest | None = None
    keys: dict[str, str] = field(default_factory=dict)
    cache: ObjectCache | None = None
    after: Callable[[], None] | None = None
    stats: TransferStats | None = None
    ctimes: dict[str, int] = field(default_factory=dict)  # of each view file once the view was built
    sources: dict[str, tuple[Path, int, int]] = field(default_factory=dict)  # local: (source, size, mtime_ns)

    def verify(self) -> list[str]:
        """Files of a read-only input the step changed, added or removed (as `<input>/<path>`).

        Size and mtime catch most writes; a write that keeps the size and sets the mtime back still
        moves the inode's ctime, which no process can set. A moved ctime alone is not proof (another
        run linking the same cached object moves it too), so those files are compared with their
        source; a cached object that cannot be proven intact is dropped, never served again.
        """
        if self.after is not None:
            self.after()
        if self.view is None or self.expected is None:
            return []
        stats = stat_tree(self.view) if self.view.exists() else {}
        actual = {rel: (st.st_size, st.st_mtime_ns) for rel, st in stats.items()}
        changed = {rel for rel in set(actual) | set(self.expected) if actual.get(rel) != self.expected.get(rel)}
        doubtful = set()
        for rel, before in self.ctimes.items():
            if rel in changed or rel not in actual:
                continue
            if stats[rel].st_ctime_ns != before:
                verdict = self._same_as_source(rel)
                if verdict is False:
                    changed.add(rel)
                elif verdict is None:
                    doubtful.add(rel)
        if self.cache is not None:
            for rel in changed | doubtful:
                if rel in self.keys:
                    self.cache.discard(self.keys[rel])
        _remove_tree(self.view)
        return [f"{self.name}/{rel}" for rel in sorted(changed)]

    def _same_as_source(self, rel: str) -> bool | None:
        """Whether a view file still holds its source's bytes; None when the source cannot tell (remote, changed)."""
        import filecmp

        if rel not in self.sources or self.view is None:
            return None
        source, size, mtime = self.sources[rel]
        try:
            st = source.stat()
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                return None
            return filecmp.cmp(self.view / rel if self.view.is_dir() else self.view, source, shallow=False)
        except OSError:
            return None


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for folder, dirs, _ in os.walk(path):
        for d in dirs:
            with contextlib.suppress(OSError):
                os.chmod(Path(folder) / d, 0o755)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def materialize_input(name: str, type_: str, mode: str, location: Location, work_dir: Path,
                      step: str | None = None) -> MaterializedInput:
    """Make one data input available in `mode`; `work_dir` is the step's run folder.

    `step` names the pipeline step in progress and summary lines (several steps stage at once).
    """
    if mode not in KNOWN_INPUT_MODES:
        raise DataError(f"input {name!r}: unknown mode {mode!r}", hint=f"use one of {', '.join(KNOWN_INPUT_MODES)}")
    if mode == "direct":
        return MaterializedInput(name, str(location.local_path) if location.datastore is None and location.local_path
                                 else location.uri)
    target = work_dir / "inputs" / name
    _remove_tree(target)
    what = _label(step, f"inputs.{name}")
    if location.is_blob:
        item = _materialize_remote(name, type_, mode, location, target, what)
    else:
        item = _materialize_local(name, type_, mode, location, target, what)
    if type_ == "mltable" and location.context is not None and item.value != str(location.local_path):
        from amlrun.data.mltable import localize_mltable_file

        folder = Path(item.value)
        changed = localize_mltable_file(folder / "MLTable", location.context, work_dir / "mltable" / name)
        if changed and item.expected is not None:
            item.expected.update({k: v for k, v in scan(folder).items() if k == "MLTable"})
            item.keys.pop("MLTable", None)
    if item.view is not None:
        _protect(item.view)
        item.ctimes = {rel: st.st_ctime_ns for rel, st in stat_tree(item.view).items()}
    return item


def materialize_inputs(requests: dict[str, tuple[str, str, Location]], work_dir: Path,
                       step: str | None = None) -> dict[str, MaterializedInput]:
    """All of a step's data inputs (name -> (type, mode, location)) at once.

    Inputs in different stores fetch side by side rather than one store after another; the first
    error (in input order) is raised once every fetch has ended.
    """
    if len(requests) <= 1:
        return {n: materialize_input(n, t, m, loc, work_dir, step) for n, (t, m, loc) in requests.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(4, len(requests)), thread_name_prefix="amlrun-input") as pool:
        futures = {n: pool.submit(materialize_input, n, t, m, loc, work_dir, step)
                   for n, (t, m, loc) in requests.items()}
    return {n: f.result() for n, f in futures.items()}


def _check_local_source(name: str, type_: str, source: Path, location: Location | None = None) -> None:
    if not source.exists():
        if location is not None and location.datastore:  # an azureml:// URI on a local datastore
            root = str(source)[: len(str(source)) - len(location.path)].rstrip("/") if location.path else source
            raise DataError(f"input {name!r}: {location.uri} is not in datastore {location.datastore!r} "
                            f"(looked for {source})",
                            hint=f"put the data there (datastore {location.datastore!r} is the folder {root}), "
                                 "or point the datastore elsewhere under `datastores:` in amlrun.yaml "
                                 "(`amlrun datastores` lists them)")
        raise DataError(f"input {name!r}: {source} does not exist",
                        hint="check the path; relative paths are relative to the YAML file")
    if type_ == "uri_file" and source.is_dir():
        raise DataError(f"input {name!r} is a uri_file but {source} is a folder",
                        hint="use `type: uri_folder` or point at a file")


def _materialize_local(name: str, type_: str, mode: str, location: Location, target: Path,
                       what: str) -> MaterializedInput:
    assert location.local_path is not None
    source = location.local_path
    _check_local_source(name, type_, source, location)
    if mode == "rw_mount":
        return MaterializedInput(name, str(source))
    if mode in COPY_MODES:
        if source.is_dir():
            shutil.copytree(source, target)
            return MaterializedInput(name, str(target))
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
        return MaterializedInput(name, str(target / source.name))
    if location.context is None:  # no store to snapshot into: a private copy still protects the source
        return _materialize_local(name, type_, "download", location, target, what)
    return _snapshot_view(name, source, target, location.context.cache, what)


def _snapshot_view(name: str, source: Path, target: Path, cache: ObjectCache, what: str) -> MaterializedInput:
    started = time.monotonic()
    files = [(source.name, source)] if source.is_file() else [
        (Path(folder, f).relative_to(source).as_posix(), Path(folder, f))
        for folder, _, names in os.walk(source, followlinks=True) for f in names]
    stats = TransferStats()
    keys: dict[str, str] = {}
    sizes: dict[str, int] = {}
    to_copy: list[tuple[str, Path]] = []
    origins: dict[str, tuple[Path, int, int]] = {}
    for rel, path in files:
        st = path.stat()
        keys[rel] = object_key("local", path.resolve(), st.st_size, st.st_mtime_ns, st.st_ino)
        sizes[rel] = st.st_size
        origins[rel] = (path, st.st_size, st.st_mtime_ns)
        if cache.has(keys[rel], st.st_size):
            stats.cached_files += 1
            stats.cached_bytes += st.st_size
        else:
            to_copy.append((rel, path))
    from concurrent.futures import ThreadPoolExecutor  # (only when staging: a command job may have no data)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda item: cache.add_copy(keys[item[0]], item[1]), to_copy))
    stats.files, stats.bytes = len(to_copy), sum(sizes[r] for r, _ in to_copy)
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for folder, dirs, _ in os.walk(source, followlinks=True):
            for d in dirs:
                (target / Path(folder, d).relative_to(source)).mkdir(parents=True, exist_ok=True)
    for rel in keys:
        cache.link(keys[rel], target / rel)
    cache.evict(keep=set(keys.values()))
    stats.seconds = time.monotonic() - started
    if stats.files:
        report(stats.summary("snapshotted", what))
    expected = {rel: (sizes[rel], SENTINEL_MTIME_NS) for rel in keys}
    value = target / source.name if source.is_file() else target
    return MaterializedInput(name, str(value), view=target, expected=expected, keys=keys, cache=cache, stats=stats,
                             sources=origins)


def _protect(target: Path) -> None:
    """Folders of a view read-only: stops non-root steps from adding files (the manifest catches root)."""
    for folder, dirs, _ in os.walk(target, topdown=False):
        for d in dirs:
            os.chmod(Path(folder) / d, 0o555)
    os.chmod(target, 0o555)


def _materialize_remote(name: str, type_: str, mode: str, location: Location, target: Path,
                        what: str) -> MaterializedInput:
    from amlrun.data.transfer import fetch_into_cache, list_remote, upload_files

    ds = location.datastore_obj
    assert isinstance(ds, BlobDatastore) and location.context is not None
    cache = location.context.cache
    files = list_remote(ds, location.path, type_ == "uri_file", location.uri)
    keys = {f.relative: f.key for f in files}
    places: dict[str, list[Path]] = {}
    for f in files:
        places.setdefault(f.key, []).append(target / f.relative)
    for folder in {path.parent for paths in places.values() for path in paths}:
        folder.mkdir(parents=True, exist_ok=True)
    place = cache.link if mode in READ_ONLY_MODES else cache.copy_out

    def ready(key: str) -> None:  # as each object is in the cache: the step's copy or link, beside the transfers
        for path in places[key]:
            place(key, path, parent_ready=True)

    try:
        stats = fetch_into_cache(ds, files, cache, what, on_ready=ready)
    except BaseException:
        _remove_tree(target)
        raise
    report(stats.summary("fetched", what))
    cache.evict(keep=set(keys.values()))
    value = str(target / files[0].relative) if type_ == "uri_file" else str(target)
    if mode in READ_ONLY_MODES:
        expected = {f.relative: (f.size, SENTINEL_MTIME_NS) for f in files}
        return MaterializedInput(name, value, view=target, expected=expected, keys=keys, cache=cache, stats=stats)
    if mode == "rw_mount":
        before = scan(target)

        def write_back() -> None:
            after = scan(target)
            changed = [rel for rel in after if after[rel] != before.get(rel)]
            if changed:
                base = location.path if type_ != "uri_file" else location.path.rsplit("/", 1)[0]
                pairs = [(target / rel, f"{base}/{rel}".strip("/")) for rel in changed]
                report(upload_files(ds, pairs, what).summary("wrote back", what))

        return MaterializedInput(name, value, after=write_back, stats=stats)
    return MaterializedInput(name, value, stats=stats)


_KEEP_FAILED_BELOW = 64 * 1024 * 1024  # bytes free under which a failed step's staged files are removed


@dataclass
class PreparedOutput:
    """Where the step writes one output (`local_path`, a staging place) and how it is published."""

    name: str
    local_path: Path
    location: Location | None = None
    type_: str = "uri_folder"
    staging: Path | None = None
    published: bool = False
    stats: TransferStats | None = None
    step: str | None = None  # the pipeline step writing it, for the summary line

    def finalize(self, succeeded: bool) -> None:
        """Publish the output if the step succeeded; otherwise keep it aside, marked as failed."""
        if self.staging is None or self.location is None:
            return
        if not succeeded:
            try:
                if shutil.disk_usage(self.staging).free < _KEEP_FAILED_BELOW:
                    raise OSError("the disk is nearly full")
                (self.staging.parent / "FAILED").write_text(f"not published: the step writing {self.location.uri} "
                                                            "failed\n")
            except OSError:  # a full disk: what a failed step wrote is not worth keeping it full
                shutil.rmtree(self.staging.parent, ignore_errors=True)
            return
        if self.location.is_blob:
            self._upload()
        else:
            self._move_into_place()
        shutil.rmtree(self.staging.parent, ignore_errors=True)
        self.published = True

    def _move_into_place(self) -> None:
        dest = self.location.local_path if self.location else None
        assert dest is not None and self.staging is not None
        if self.type_ == "uri_file":  # the file, and anything the step wrote beside it (parallel's output_dir)
            if self.local_path.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(self.local_path, dest)
            dest = dest.parent
        dest.mkdir(parents=True, exist_ok=True)
        for folder, dirs, files in os.walk(self.staging):
            rel = Path(folder).relative_to(self.staging)
            for d in dirs:
                (dest / rel / d).mkdir(parents=True, exist_ok=True)
            for f in files:
                os.replace(Path(folder) / f, dest / rel / f) if _same_device(folder, dest) \
                    else shutil.move(Path(folder) / f, dest / rel / f)

    def _upload(self) -> None:
        from amlrun.data.transfer import upload_files

        assert self.location is not None and isinstance(self.location.datastore_obj, BlobDatastore)
        base = self.location.path
        if self.type_ == "uri_file":
            pairs = [(self.local_path, base)] if self.local_path.exists() else []
        else:
            assert self.staging is not None
            pairs = []
            for folder, _, files in os.walk(self.staging):
                rel = os.path.relpath(folder, self.staging)
                below = f"{base}/" if rel == "." else f"{base}/{rel.replace(os.sep, '/')}/"
                pairs += [(Path(folder, f), f"{below}{f}".strip("/")) for f in files]
        what = _label(self.step, f"outputs.{self.name}")
        self.stats = upload_files(self.location.datastore_obj, pairs, what)
        report(self.stats.summary("uploaded", what))


def _holds_data(path: Path | None) -> bool:
    """Whether an output's destination already has files, which an rw_mount step sees (and may read) in place."""
    if path is None:
        return False
    try:
        return path.is_file() or (path.is_dir() and any(path.iterdir()))
    except OSError:
        return False


def _same_device(a: str | Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def prepare_output(name: str, type_: str, mode: str, location: Location, fresh: bool = True,
                   owner: str | Path | None = None, step: str | None = None) -> PreparedOutput:
    """A staging place for one output; nothing reaches the destination before `finalize(True)`.

    The place is the same each time `owner` (the step's run folder) writes that destination, so a
    resumed parallel job finds its staged rows there; `fresh` empties what an earlier failed attempt
    left, so it is never published.
    """
    if mode not in ("rw_mount", "upload", "direct"):
        raise DataError(f"output {name!r}: unknown mode {mode!r}", hint="use rw_mount or upload")
    in_place = mode == "direct" or (mode == "rw_mount" and _holds_data(location.local_path))
    if location.local_path is not None and in_place:  # direct: the path; rw_mount onto existing data: a mount
        path = location.local_path
        (path.parent if type_ == "uri_file" else path).mkdir(parents=True, exist_ok=True)
        return PreparedOutput(name, path, location, type_)
    key = object_key("output", location.uri, location.local_path, owner)[:24]
    if location.context is not None:
        staging_root = location.context.store_root / "staging" / key
    elif location.local_path is not None:
        staging_root = location.local_path.parent / f".amlrun-staging-{key}"
    else:
        raise DataError(f"output {name!r}: {location.uri} is not writable locally",
                        hint="declare its datastore in amlrun.yaml")
    staging = staging_root / "data"
    if fresh:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    (staging_root / "FAILED").unlink(missing_ok=True)
    leaf = (location.local_path.name if location.local_path is not None else location.path.rsplit("/", 1)[-1]) \
        or name
    local_path = staging / leaf if type_ == "uri_file" else staging
    return PreparedOutput(name, local_path, location, type_, staging, step=step)
