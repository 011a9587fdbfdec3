"""Make inputs available to a process and outputs ready for it, per AzureML's modes.

Minimal local semantics (the data issue extends this): `ro_mount`/`eval_mount`/`direct` hand the
resolved path over as is, `download`/`eval_download` give the step a private copy, outputs are
folders created before the step starts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from amlrun.data.locations import Location
from amlrun.errors import DataError

__all__ = ["MaterializedInput", "PreparedOutput", "materialize_input", "prepare_output"]


@dataclass
class MaterializedInput:
    """What the command sees for one input (`value` goes into `${{inputs.x}}`)."""

    name: str
    value: str

    def verify(self) -> list[str]:
        """Files a read-only input had changed by the step (none: nothing to report)."""
        return []


@dataclass
class PreparedOutput:
    name: str
    local_path: Path

    def finalize(self, succeeded: bool) -> None:
        """Publish the output (local outputs are written in place)."""


def materialize_input(name: str, type_: str, mode: str, location: Location, work_dir: Path) -> MaterializedInput:
    if location.local_path is None:
        if mode == "direct" and location.url:
            return MaterializedInput(name, location.uri)
        raise DataError(f"input {name!r}: {location.uri} is not reachable locally",
                        hint="declare its datastore in amlrun.yaml")
    source = location.local_path
    if not source.exists():
        raise DataError(f"input {name!r}: {source} does not exist",
                        hint="check the path; relative paths are relative to the YAML file")
    if type_ == "uri_file" and source.is_dir():
        raise DataError(f"input {name!r} is a uri_file but {source} is a folder",
                        hint="use `type: uri_folder` or point at a file")
    if mode in ("download", "eval_download"):
        target = work_dir / "inputs" / name
        if target.exists():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir(parents=True)
            target = target / source.name
            shutil.copy2(source, target)
        return MaterializedInput(name, str(target))
    return MaterializedInput(name, str(source))


def prepare_output(name: str, type_: str, mode: str, location: Location) -> PreparedOutput:
    if location.local_path is None:
        raise DataError(f"output {name!r}: {location.uri} is not writable locally",
                        hint="declare its datastore in amlrun.yaml")
    path = location.local_path
    (path.parent if type_ == "uri_file" else path).mkdir(parents=True, exist_ok=True)
    return PreparedOutput(name, path)
