"""`amlrun submit --dry-run`: everything `submit` would send, shown, with no network at all.

Prints (stdout) the request body azure-ai-ml builds for the job, secrets redacted, and the code
snapshot each `code` folder would upload; warns (stderr) about AzureML's snapshot limits, files
`.amlignore` should exclude, and local-only settings that stay behind.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.azureml.compile import CompiledJob, request_body
from amlrun.azureml.redact import redact, secret_values_from_config
from amlrun.data.uris import parse_datastore_uri
from amlrun.engine.snapshot import list_snapshot_files
from amlrun.errors import DataError, SpecError
from amlrun.spec.overrides import Override, apply_overrides
from amlrun.spec.project import ProjectConfig
from amlrun.spec.source import read_yaml

__all__ = ["MAX_SNAPSHOT_BYTES", "MAX_SNAPSHOT_FILES", "CodeSnapshot", "code_snapshots", "dry_run",
           "local_only_notes", "snapshot_warnings"]

MAX_SNAPSHOT_BYTES = 300 * 1024 * 1024
MAX_SNAPSHOT_FILES = 2000
LARGE_FILE_BYTES = 10 * 1024 * 1024

_ENV_DIRS = {"venv", "env", ".venv", ".env", "node_modules", "site-packages", ".tox", ".mypy_cache",
             ".pytest_cache", ".ruff_cache", "mlruns", "wandb", ".conda"}
_DATA_SUFFIXES = {".csv", ".tsv", ".parquet", ".jsonl", ".pkl", ".pickle", ".h5", ".hdf5", ".npy", ".npz",
                  ".feather", ".arrow", ".zip", ".tar", ".gz", ".tgz", ".7z", ".pt", ".pth", ".ckpt",
                  ".onnx", ".safetensors", ".bin", ".joblib"}

Write = Callable[[str], None]


@dataclass
class CodeSnapshot:
    """The files a `code` folder uploads, after `.amlignore` (else `.gitignore`)."""

    folder: Path
    files: list[tuple[Path, int]] = field(default_factory=list)  # relative path, size
    ignore_file: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _code_folders(file: Path, overrides: list[Override]) -> list[Path]:
    """Every local `code` (and parallel `task.code`) folder the job and its component files name."""
    data = apply_overrides(read_yaml(file).data, overrides) if overrides else read_yaml(file).data
    folders: list[Path] = []
    _collect(file.parent, data, folders, {file.resolve()})
    return folders


def _collect(base: Path, data: dict[str, Any], folders: list[Path], seen: set[Path]) -> None:
    task = data.get("task") if isinstance(data.get("task"), dict) else {}
    for code in (data.get("code"), task.get("code")):
        if isinstance(code, str) and not code.startswith("azureml:"):
            folder = (base / code).resolve()
            if folder not in folders:
                folders.append(folder)
    for step in (data.get("jobs") or {}).values():
        if not isinstance(step, dict):
            continue
        component = step.get("component")
        if isinstance(component, dict):
            _collect(base, component, folders, seen)
        elif isinstance(component, str):
            if component.startswith("azureml:"):
                continue  # registered in the workspace: nothing local to upload
            path = (base / component.removeprefix("file:")).resolve()
            if path.is_file() and path not in seen:
                with contextlib.suppress(SpecError):
                    _collect(path.parent, read_yaml(path).data, folders, seen | {path})
        else:
            _collect(base, step, folders, seen)


def code_snapshots(file: Path, overrides: list[Override]) -> list[CodeSnapshot]:
    snapshots = []
    for folder in _code_folders(file, overrides):
        if not folder.is_dir():
            continue
        files, ignore_file = list_snapshot_files(folder)
        snapshots.append(CodeSnapshot(folder, [(rel, (folder / rel).stat().st_size) for rel in files],
                                      ignore_file))
    return snapshots


def _examples(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def snapshot_warnings(snapshot: CodeSnapshot) -> list[str]:
    """AzureML's snapshot limits, and files that belong in `.amlignore`."""
    warnings = []
    where = snapshot.folder.name or str(snapshot.folder)
    if len(snapshot.files) > MAX_SNAPSHOT_FILES:
        warnings.append(f"code folder {where!r} has {len(snapshot.files)} files; AzureML refuses snapshots "
                        f"over {MAX_SNAPSHOT_FILES:,} files (exclude some in .amlignore)")
    if snapshot.total_bytes > MAX_SNAPSHOT_BYTES:
        warnings.append(f"code folder {where!r} is {_size(snapshot.total_bytes)}; AzureML refuses snapshots "
                        f"over 300 MB (exclude data and binaries in .amlignore)")
    env_dirs: dict[str, None] = {}
    secrets, data, large = [], [], []
    for rel, size in snapshot.files:
        parts = rel.parts
        env_dir = next((p for p in parts[:-1] if p in _ENV_DIRS), None)
        if env_dir is not None:
            env_dirs[env_dir] = None
        elif rel.name == ".env" or rel.name.startswith(".env."):
            secrets.append(rel.as_posix())
        elif size > LARGE_FILE_BYTES:
            large.append(f"{rel.as_posix()} ({_size(size)})")
        elif rel.suffix.lower() in _DATA_SUFFIXES:
            data.append(rel.as_posix())
    for name in env_dirs:
        warnings.append(f"code folder {where!r} uploads the environment folder {name}/ "
                        f"(add `{name}/` to .amlignore)")
    if secrets:
        warnings.append(f"code folder {where!r} uploads {_examples(secrets)}, which usually holds secrets "
                        f"(add `.env*` to .amlignore)")
    if large:
        warnings.append(f"code folder {where!r} uploads large files: {_examples(large)} "
                        f"(add them to .amlignore; pass data as inputs)")
    if data:
        warnings.append(f"code folder {where!r} uploads data files: {_examples(data)} "
                        f"(add them to .amlignore; pass data as job inputs instead)")
    return warnings


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def local_only_notes(source_data: dict[str, Any], project: ProjectConfig) -> list[str]:
    """What amlrun.yaml maps locally for this job and what the service uses instead."""
    notes: list[str] = []
    local_uris: dict[str, list[str]] = {}  # one note per local datastore, naming every URI that uses it
    for text in dict.fromkeys(_strings(source_data)):
        try:
            ds = parse_datastore_uri(text)
        except DataError:
            ds = None
        if ds is not None and ds.datastore in project.datastores:
            kind = str(project.datastores[ds.datastore].get("type", ""))
            if kind == "local":
                local_uris.setdefault(ds.datastore, []).append(text)
        elif text.startswith("azureml:") and not text.startswith("azureml://"):
            asset = text.removeprefix("azureml:").split(":")[0].split("@")[0]
            if asset in project.data:
                notes.append(f"data asset {text} is mapped locally in amlrun.yaml; AzureML resolves the "
                             f"registered asset instead")
    for name, uris in local_uris.items():
        notes.insert(0, f"datastore {name!r} is a local folder in amlrun.yaml; on AzureML the workspace's "
                        f"datastore {name!r} is used instead, for {', '.join(uris)}")
    return list(dict.fromkeys(notes))


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def dry_run(compiled: CompiledJob, overrides: list[Override], project: ProjectConfig,
            out: Write, err: Write) -> dict[str, Any]:
    """Print what submitting `compiled` would send; return the redacted body. Touches no network."""
    body = redact(request_body(compiled.job), secret_values_from_config(project.datastores))
    out("# request body (PUT .../jobs/" + str(body.get("name") or compiled.job.name) + "); "
        "local code and components become asset ids when uploaded")
    out(json.dumps(body, indent=2, sort_keys=False))
    for snapshot in code_snapshots(compiled.file, overrides):
        source = f", honouring {snapshot.ignore_file}" if snapshot.ignore_file else ""
        out(f"# code snapshot {snapshot.folder}: {len(snapshot.files)} file{'s' if len(snapshot.files) != 1 else ''}, "
            f"{_size(snapshot.total_bytes)}{source}")
        for rel, size in snapshot.files:
            out(f"  {rel.as_posix()}  {_size(size)}")
        for warning in snapshot_warnings(snapshot):
            err(f"warning: {warning}")
    for note in local_only_notes(compiled.source.data, project):
        err(f"note: {note}")
    if compiled.wrapped_step:
        err(f"note: the parallel job is sent as a one-step pipeline (step {compiled.wrapped_step!r}); "
            "AzureML runs parallel jobs only inside pipelines")
    return body
