"""`amlrun ui`: MLflow's own UI over the project's tracking store (needs the full `mlflow` package)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from amlrun.errors import UsageError

__all__ = ["ui"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--store", "store_root", type=click.Path(path_type=Path), envvar="AMLRUN_HOME",
              help="Run store folder [env: AMLRUN_HOME; default: .amlrun/ in the project root].")
def ui(host: str, port: int, store_root: Path | None) -> None:
    """Browse the runs' metrics, params and artifacts in MLflow's UI (the project's tracking store)."""
    import os

    from amlrun.spec.project import load_project_config
    from amlrun.store.records import find_store_root
    from amlrun.store.tracking import full_mlflow_installed, project_tracking_uri, tracking_artifact_root

    root = store_root or find_store_root(Path.cwd())
    uri = project_tracking_uri(root, load_project_config(Path.cwd()))
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"no MLflow runs yet: {uri.removeprefix('sqlite:///')} does not exist",
                         hint="runs get MLflow runs once a step calls mlflow (log_metric, autolog, ...)")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--default-artifact-root", tracking_artifact_root(root), "--host", host, "--port", str(port)]
    if not full_mlflow_installed():
        raise UsageError(
            "MLflow's UI comes with the full `mlflow` package (about 800 MB); amlrun's environment has only "
            "the client (mlflow-skinny)",
            hint=f"pip install mlflow, then `amlrun ui` again; or without installing it: "
                 f"uvx --from mlflow mlflow ui --backend-store-uri {uri} --port {port}")
    click.echo(f"MLflow UI on http://{host}:{port} for {uri} (Ctrl-C stops it)", err=True)
    os.execv(sys.executable, command)
