"""`amlrun convert FILE`: an azmlops file as the AzureML v2 job YAML it means."""

from __future__ import annotations

import os
from pathlib import Path

import click
import yaml

from amlrun.errors import SpecError, UsageError

__all__ = ["convert", "render_v2"]

_SCHEMAS = {
    "command": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
    "pipeline": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
}


def render_v2(file: Path, target_folder: Path) -> tuple[str, dict[str, dict]]:
    """(v2 YAML text with `code` paths relative to `target_folder`, datastores amlrun.yaml must declare)."""
    from amlrun.spec.azmlops import convert_source, is_azmlops
    from amlrun.spec.source import read_yaml

    source = read_yaml(file)
    if not is_azmlops(source.data):
        raise UsageError(f"{file} is not an azmlops file (it has no `provider:`, `job:` or `jobs:` list)",
                         hint="`amlrun convert` reads azmlops files; v2 YAML runs as it is with `amlrun run`")
    converted = convert_source(source)
    if converted.problems:
        raise SpecError(converted.problems)
    document = dict(converted.source.data)
    steps = document["jobs"].values() if document.get("type") == "pipeline" else [document]
    for step in steps:
        if isinstance(step.get("code"), str):
            absolute = (source.folder / step["code"]).resolve()
            step["code"] = Path(os.path.relpath(absolute, target_folder.resolve())).as_posix()
    ordered = {"$schema": _SCHEMAS[document.get("type", "command")], **document}
    header = f"# AzureML v2 job converted by `amlrun convert` from {file.name}\n"
    return header + yaml.safe_dump(ordered, sort_keys=False, width=100), converted.datastores


def _datastore_note(datastores: dict[str, dict]) -> str:
    """What amlrun.yaml (and the workspace) need for the datastores the file wrote with an account."""
    section = {"datastores": datastores}
    text = yaml.safe_dump(section, sort_keys=False, default_flow_style=None)
    return ("[amlrun] the job reads datastores the file declared with an account; add them to amlrun.yaml "
            "(keys stay in the environment variables named) and register them in the workspace "
            "(`amlrun submit --register-datastores`):\n" + text)


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the v2 YAML to this file (code paths made relative to it) instead of stdout.")
def convert(file: Path, output: Path | None) -> None:
    """Print an azmlops job or pipeline file as the equivalent AzureML v2 YAML."""
    if output is not None and output.exists() and output.resolve() == file.resolve():
        raise UsageError("the output file is the azmlops file itself", hint="write the v2 YAML to another file")
    text, datastores = render_v2(file, (output or file).parent)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"[amlrun] wrote {output}", err=True)
    if datastores:
        click.echo(_datastore_note(datastores), err=True, nl=False)
