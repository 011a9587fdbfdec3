"""`amlrun init [DIR] [--experiment NAME]`: a project skeleton, or one more experiment package in it."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["init"]


@click.command()
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--experiment", metavar="NAME",
              help="In an existing project: add the experiment package NAME. In a new one: name the first "
              "experiment [default: train].")
def init(folder: Path, experiment: str | None) -> None:
    """Create a project: a uv workspace of experiment packages, shared code, a pipeline, a parallel job, tests."""
    from amlrun.projects.scaffold import add_experiment, init_project

    existing = (folder / "pyproject.toml").is_file() and (folder / "packages").is_dir()
    if existing and experiment:
        written, kept = add_experiment(folder, experiment)
    else:
        written, kept = init_project(folder, experiment or "train")
    for path in written:
        click.echo(f"created {path}")
    for path in kept:
        click.echo(f"[amlrun] kept existing {path}", err=True)
    name = experiment or "train"
    click.echo(f"\nnext: cd {folder} && amlrun run --package packages/{name}/aml-job.yaml "
               "(python -m pytest runs the packages' tests)", err=True)
