"""`amlrun --help` as click renders it at 80 columns, for entry.py to print without importing click.

Generated: after changing a command, its short help or LAZY_COMMANDS, run `python -m amlrun.cli_help`.
tests/test_cli_startup.py fails while this text differs from what click prints.
"""


__all__ = ["HELP", "USAGE_PREFIX"]

USAGE_PREFIX = "Usage: amlrun "

HELP = '''\
Usage: amlrun [OPTIONS] COMMAND [ARGS]...

  Run AzureML v2 jobs locally, and submit the same YAML to AzureML.

Options:
  --version   Show the version and exit.
  -h, --help  Show this message and exit.

Commands:
  check       Validate job and component files; list every problem as
              file:line:col.
  convert     Print an azmlops job or pipeline file as AzureML v2 YAML.
  datastores  List the datastores of the project here (amlrun.yaml) and
              check...
  envs        List cached step environments (venvs); `envs prune` removes
              them.
  init        Create a project of experiment packages (or add one:
              --experiment).
  logs        Print (or follow) a run's log; a pipeline's log is its steps'...
  package     Build an isolated, reproducible snapshot of a job or pipeline.
  report      Write one self-contained HTML page about a run (graph, metrics).
  resume      Re-run only what did not finish in an earlier run.
  run         Run a job file (command, pipeline or parallel) locally.
  runs        List recent runs; compare them by a metric they logged.
  show        Show one run: status, command, outputs, steps (a parallel
              job:...
  submit      Submit a job file to AzureML, validated first (or show it
              with...
  ui          Browse runs' MLflow metrics and artifacts in MLflow's UI (full
              mlflow).'''


def _render() -> str:
    """What click prints for `amlrun --help` at 80 columns (without the final newline)."""
    import click

    from amlrun.cli import cli

    with click.Context(cli, info_name="amlrun", terminal_width=78, **cli.context_settings) as ctx:
        return cli.get_help(ctx)


def _write() -> None:
    from pathlib import Path

    text = _render()
    if "'''" in text or "\\" in text:
        raise SystemExit("the help text holds ''' or a backslash: quote it differently in cli_help.py")
    this = Path(__file__)
    head, _, rest = this.read_text().partition("HELP = '''\\\n")
    tail = rest[rest.index("'''\n"):]
    this.write_text(f"{head}HELP = '''\\\n{text}{tail}")


if __name__ == "__main__":
    _write()
