"""`amlrun datastores`: every datastore a project can use, where it points and whether it answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amlrun.data.locations import DataContext

__all__ = ["DatastoreStatus", "check_datastores", "data_assets"]


@dataclass(frozen=True)
class DatastoreStatus:
    name: str
    kind: str
    where: str
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_datastores(store_root: Path, near: Path | None = None) -> list[DatastoreStatus]:
    """The default datastore plus every declared one, each checked (secrets never in the result)."""
    data = DataContext.for_project(store_root, near)
    out = []
    for ds in data.all_datastores():
        problem = ds.check()
        kind = ds.kind + ("" if ds.kind != "local" or ds.name in data.config.datastores else " (default)")
        out.append(DatastoreStatus(ds.name, kind, ds.describe(), data.redact(problem) if problem else None))
    return out


def data_assets(store_root: Path, near: Path | None = None) -> list[tuple[str, str]]:
    """(`azureml:<name>:<version>`, where it points) for each `data:` entry of amlrun.yaml, in file order."""
    config = DataContext.for_project(store_root, near).config
    rows = []
    for name, entry in config.data.items():
        if isinstance(entry, dict):
            rows += [(f"azureml:{name}:{version}", str(target)) for version, target in entry.items()]
        else:
            rows.append((f"azureml:{name} (any version)", str(entry)))
    return rows
