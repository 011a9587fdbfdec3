"""`amlrun package JOB [-o DIR]`, and the `--package` of `run` and `submit`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["fresh_package", "note_package", "package"]


def _report(result: Any) -> None:
    for warning in result.warnings:
        click.echo(f"[amlrun] warning: {warning}", err=True)
    click.echo(f"[amlrun] package {result.folder}: {result.files} files, {result.bytes / 1024:.1f} KB"
               + (f", components: {', '.join(result.units)}" if result.units else ""), err=True)


def fresh_package(file: Path) -> tuple[Path, dict[str, str]]:
    """Build the snapshot of `file` for `run/submit --package`: (the YAML inside it, what the record notes)."""
    from amlrun.projects.package import build_package

    result = build_package(file)
    _report(result)
    click.echo(f"[amlrun] package hash {result.digest}", err=True)
    return result.job_file, {"hash": result.digest, "folder": str(result.folder), "source": str(file.resolve())}


def note_package(store_root: Path | None, job_file: Path, run_name: str, info: dict[str, str]) -> None:
    """Write the package a run came from into its record (`amlrun show` prints it)."""
    from amlrun.engine.runner import open_store

    store = open_store(store_root, job_file.parent)
    record = store.get(run_name)
    store.update(record, extra={**record.extra, "package": info})


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to build the snapshot in [default: .amlrun/packages/<hash> in the project].")
def package(file: Path, output: Path | None) -> None:
    """Build an isolated, reproducible snapshot of a job or pipeline: code, shared code, locked requirements.

    Prints the content hash on stdout: packaging unchanged sources again gives the same hash.
    """
    from amlrun.projects.package import build_package

    result = build_package(file, output)
    _report(result)
    click.echo(result.digest)
