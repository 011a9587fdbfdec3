"""A command job's artifacts: what it writes under `./outputs/` and `./logs/` of its working directory.

AzureML creates both folders before the command starts and uploads them to the run's artifact store,
`azureml://datastores/workspaceartifactstore/paths/ExperimentRun/dcid.<run>/`, whether the job
succeeds or fails. A pipeline step exposes that folder as its default output `artifacts` (also
`default`), declared or not, so a downstream step reading `${{parent.jobs.X.outputs.artifacts}}` finds
`outputs/<file>` inside.
Locally the artifact store is a datastore like any other (a folder under the store unless amlrun.yaml
maps `workspaceartifactstore`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from amlrun.data.locations import DataContext, Location

__all__ = ["ARTIFACT_FOLDERS", "artifacts_location", "collect_artifacts", "prepare_working_dir"]

ARTIFACT_STORE = "workspaceartifactstore"
ARTIFACT_FOLDERS = ("outputs", "logs")


def artifacts_location(data: DataContext, run_name: str) -> Location:
    """Where run `run_name`'s artifacts are kept, as the service lays them out."""
    uri = f"azureml://datastores/{ARTIFACT_STORE}/paths/ExperimentRun/dcid.{run_name}/"
    return data.resolve(uri, data.store_root)


def prepare_working_dir(cwd: Path) -> None:
    """`./outputs/` and `./logs/` exist before the command starts, as on AzureML."""
    for name in ARTIFACT_FOLDERS:
        folder = cwd / name
        if not folder.is_dir():
            folder.unlink(missing_ok=True)  # a file of that name in the snapshot: the service's folder wins
            folder.mkdir(parents=True)


def collect_artifacts(cwd: Path, location: Location) -> list[str]:
    """Move what the job wrote under ./outputs and ./logs into its artifact folder; the files, relative to it.

    Runs after every attempt, failed or not (the service uploads a failed job's artifacts too). A
    blob artifact store receives an upload; a local one receives the files themselves (moved, not copied:
    models can be large).
    """
    files = [(path, path.relative_to(cwd).as_posix()) for name in ARTIFACT_FOLDERS
             for path in _files_below(cwd / name)]
    if location.local_path is not None:  # a downstream step binding `artifacts` finds the folders, even empty
        for name in ARTIFACT_FOLDERS:
            (location.local_path / name).mkdir(parents=True, exist_ok=True)
    if not files:
        return []
    if location.is_blob:
        from amlrun.data.transfer import upload_files

        upload_files(location.datastore_obj, [(p, f"{location.path}/{rel}".strip("/")) for p, rel in files],
                     "artifacts")
        return [rel for _, rel in files]
    assert location.local_path is not None
    for path, rel in files:
        target = location.local_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        shutil.move(path, target)
    return [rel for _, rel in files]


def _files_below(folder: Path) -> list[Path]:
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names))
    return found
