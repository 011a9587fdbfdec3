"""`amlrun report RUN [-o page.html]`: one self-contained HTML page about a run."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command()
@click.argument("run_name")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the page [default: report.html in the run's folder].")
@click.option("--store", "store_root", type=click.Path(path_type=Path), envvar="AMLRUN_HOME",
              help="Run store folder [env: AMLRUN_HOME; default: .amlrun/ in the project root].")
def report(run_name: str, output: Path | None, store_root: Path | None) -> None:
    """Write one self-contained HTML page about a run: graph, steps, metrics, parallel summary, logs."""
    from amlrun.store.report import build_report
    from amlrun.store.views import open_existing_store

    store = open_existing_store(store_root, run_name)
    record = store.get(run_name)
    page = build_report(store, record)
    target = output or Path(record.run_dir) / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    click.echo(str(target.resolve()))
