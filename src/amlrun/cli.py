"""The `amlrun` command line. Thin: each command turns flags into a request and calls one function.

Exit codes: 0 success, 1 a run failed or a runtime error, 2 invalid input (spec, flags), 130 interrupted.
Data a user may pipe goes to stdout; progress and errors go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from amlrun import __version__
from amlrun.errors import AmlrunError, UsageError, scrub_secrets

__all__ = ["main"]

_file_arg = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
_job_arg = click.argument("job", metavar="FILE|MODULE:FN")
_set_opt = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                        help="Override a field, as `az ml job create --set` does (repeatable).")
_store_opt = click.option("--store", "store_root", type=click.Path(path_type=Path), envvar="AMLRUN_HOME",
                          help="Run store folder [env: AMLRUN_HOME; default: .amlrun/ in the project root].")


def _parsed_overrides(files: list[Path], overrides: tuple[str, ...]) -> list[tuple[str, Any]]:
    """`--set` pairs, with a note on stderr for each that adds a field next to one spelled almost the same."""
    from amlrun.spec.overrides import near_misses, parse_override
    from amlrun.spec.source import read_yaml

    parsed = [parse_override(o) for o in overrides]
    for file in files if parsed else []:
        try:
            data = read_yaml(file).data
        except AmlrunError:
            continue  # the real load reports it
        for note in near_misses(data, parsed):
            click.echo(f"[amlrun] note: {note}", err=True)
    return parsed


def _sdk_job(job: str, packaged: bool = False) -> Any:
    """The azure-ai-ml job `build.py:make_pipeline` names (imports azure-ai-ml), or None for a job file."""
    from amlrun.azureml.sdk_jobs import parse_target

    if parse_target(job) is None:
        return None
    if packaged:
        raise UsageError("--package snapshots a job file's project; it cannot take a Python job",
                         hint=f"drop --package, or dump the job to YAML first: `amlrun run {job}` keeps the dump")
    from amlrun.azureml.sdk_jobs import load_target

    return load_target(job)


# Commands that live in their own modules, imported only when called ("name": "module:attribute").
# Each feature adds one line here; `--help` lists them without importing them.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "envs": ("amlrun.cli_envs:envs", "List cached step environments (venvs); `envs prune` removes them."),
    "convert": ("amlrun.cli_convert:convert", "Print an azmlops job or pipeline file as AzureML v2 YAML."),
    "package": ("amlrun.cli_package:package", "Build an isolated, reproducible snapshot of a job or pipeline."),
    "init": ("amlrun.cli_init:init", "Create a project of experiment packages (or add one: --experiment)."),
    "report": ("amlrun.cli_report:report", "Write one self-contained HTML page about a run (graph, metrics)."),
    "ui": ("amlrun.cli_ui:ui", "Browse runs' MLflow metrics and artifacts in MLflow's UI (full mlflow)."),
}


class _LazyGroup(click.Group):
    """A click group whose extra commands are imported on first use, so `amlrun --help` stays instant."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            import importlib

            module, _, attribute = LAZY_COMMANDS[name][0].partition(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.commands[name].get_short_help_str(limit=70)) for name in self.commands]
        rows += [(name, short) for name, (_, short) in LAZY_COMMANDS.items() if name not in self.commands]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="amlrun")
def cli() -> None:
    """Run AzureML v2 jobs locally, and submit the same YAML to AzureML."""


@cli.command()
@_job_arg
@_set_opt
@click.option("--name", help="Run name (default: an AzureML-style random name).")
@click.option("--max-parallel", type=click.IntRange(min=1), help="Pipeline steps running at once [default: CPU count].")
@click.option("--max-workers", type=click.IntRange(min=1), help="Parallel-job worker processes [default: CPU count].")
@click.option("--force-rerun", is_flag=True,
              help="Run every step (with --step: that step) even if an identical earlier run can be reused.")
@click.option("--step", help="Run one pipeline step (full name like outer.inner, or a unique short name) and "
              "only what it needs: unchanged upstream steps and the step itself are reused.")
@click.option("--env", "env_mode", type=click.Choice(["auto", "host", "container"]), envvar="AMLRUN_ENV",
              help="Where steps run: auto = a cached uv venv when the environment declares Python packages, else "
              "this interpreter; host = this interpreter; container = docker/podman [env: AMLRUN_ENV; default: "
              "amlrun.yaml `environments: default`, else auto].")
@click.option("--strict-python", is_flag=True, help="Refuse to build a venv with another Python than the one "
              "an environment pins (default: the nearest available, said so).")
@_store_opt
@click.option("--package", "packaged", is_flag=True,
              help="Run from a fresh isolated snapshot (as `amlrun package` builds); the run record names its hash.")
@click.option("--debug", "debug_mode", flag_value="debugpy",
              help="Start the step's Python under debugpy and wait for a debugger to attach (prints the port and a "
                   "VS Code launch.json entry). A pipeline takes --step; its upstream steps run (or are reused) first.")
@click.option("--pdb", "debug_mode", flag_value="pdb",
              help="Open pdb's post-mortem prompt when the step's Python raises (the step runs in the foreground).")
@click.option("--debug-port", type=click.IntRange(0, 65535), default=5678, show_default=True,
              help="Port debugpy listens on with --debug (0: any free port; a busy port falls back to a free one).")
def run(job: str, overrides: tuple[str, ...], name: str | None, max_parallel: int | None,
        max_workers: int | None, force_rerun: bool, step: str | None, env_mode: str | None,
        strict_python: bool, store_root: Path | None, packaged: bool = False, debug_mode: str | None = None,
        debug_port: int = 5678) -> None:
    """Run a job file (command, pipeline or parallel) locally.

    Instead of a file, MODULE:FN names Python that builds the job with azure-ai-ml:
    `build.py:make_pipeline` or `package.module:make_pipeline` (a function returning the job, or a job
    variable); it runs as the SDK serialises it.
    """
    from amlrun.engine.runner import RunRequest, run_job

    sdk = _sdk_job(job, packaged)
    file, package = Path(job), None
    if packaged:
        from amlrun.cli_package import fresh_package, note_package

        file, package = fresh_package(file)
    request = RunRequest(file=file, name=name, store_root=store_root, max_parallel=max_parallel,
                         max_workers=max_workers, force_rerun=force_rerun, step=step, env=env_mode,
                         strict_python=strict_python)
    if debug_mode:
        from amlrun.engine.debug import DebugSession

        request.debug = DebugSession(debug_mode, debug_port).bound()
    if sdk is None:
        request.overrides = _parsed_overrides([file], overrides)
        record = run_job(request)
    else:
        from amlrun.azureml.sdk_local import blamed_on_python, sdk_run_request

        request = sdk_run_request(sdk, request)
        request.overrides = _parsed_overrides([request.file], overrides)
        with blamed_on_python(sdk, request.file):
            record = run_job(request)
    if package:
        note_package(store_root, file, record.name, package)
    from amlrun.entry import run_exit_code

    sys.exit(run_exit_code(record.status))


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_set_opt
@click.option("--no-sdk", is_flag=True, help="Skip azure-ai-ml's schema validation (faster).")
def check(files: tuple[Path, ...], overrides: tuple[str, ...], no_sdk: bool) -> None:
    """Validate job and component files; list every problem as file:line:col."""
    from amlrun.azureml.validate import check_files

    problems, notes = check_files(list(files), _parsed_overrides(list(files), overrides), use_sdk=not no_sdk)
    problems = list(dict.fromkeys(problems))  # a component checked alone and via its pipeline reports once
    for note in notes:
        click.echo(scrub_secrets(f"note: {note.render()}"), err=True)
    if problems:
        from amlrun.errors import render_problems

        click.echo(scrub_secrets(render_problems(problems)))
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", err=True)
        sys.exit(2)
    click.echo(f"ok: {len(files)} file{'s' if len(files) != 1 else ''} valid", err=True)


@cli.command()
@click.option("-n", "--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--experiment", help="Only runs of this experiment (the job's experiment_name, else its folder).")
@click.option("--metric", help="Add this MLflow metric as a column and order by it (highest first).")
@click.option("--asc", "ascending", is_flag=True, help="With --metric: lowest first (for a loss).")
@_store_opt
def runs(limit: int, experiment: str | None, metric: str | None, ascending: bool, store_root: Path | None) -> None:
    """List recent runs; compare them by a metric they logged."""
    from amlrun.store.views import print_runs

    print_runs(store_root, limit, experiment=experiment, metric=metric, ascending=ascending)


@cli.command()
@click.argument("run_name")
@click.option("--step", help="One pipeline step of the run (full name like outer.inner, or a unique short name).")
@_store_opt
def show(run_name: str, step: str | None, store_root: Path | None) -> None:
    """Show one run: status, command, outputs, steps (a parallel job: mini-batches and items)."""
    from amlrun.store.views import print_run

    print_run(store_root, run_name, step=step)


@cli.command()
@click.argument("run_name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option("--step", help="A pipeline step's log instead of the pipeline's (full name like outer.inner, "
              "or a unique short name).")
@_store_opt
def logs(run_name: str, follow: bool, step: str | None, store_root: Path | None) -> None:
    """Print (or follow) a run's log; a pipeline's log is its steps' events (--step: a step's output).

    With -f the exit code is the run's: 0 when it completed, 1 when it failed, was canceled or its
    process died, so `amlrun logs RUN -f && next` waits for a good result.
    """
    from amlrun.store.views import print_logs

    status = print_logs(store_root, run_name, follow=follow, step=step)
    if follow and status not in ("Completed", "Reused"):
        click.echo(f"[amlrun] {run_name}{f' step {step}' if step else ''} ended {status}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("run_name")
@click.option("--max-parallel", type=click.IntRange(min=1), help="Pipeline steps running at once [default: CPU count].")
@click.option("--max-workers", type=click.IntRange(min=1), help="Parallel-job worker processes [default: CPU count].")
@_store_opt
def resume(run_name: str, max_parallel: int | None, max_workers: int | None, store_root: Path | None) -> None:
    """Re-run only what did not finish in an earlier run."""
    from amlrun.engine.resume import resume_run

    record = resume_run(run_name, store_root=store_root, max_parallel=max_parallel, max_workers=max_workers)
    sys.exit(0 if record.status in ("Completed", "Reused") else 1)


@cli.command()
@_store_opt
def datastores(store_root: Path | None) -> None:
    """List the datastores of the project here (amlrun.yaml) and check each is reachable."""
    from amlrun.data.listing import check_datastores, data_assets
    from amlrun.store.records import find_store_root

    root = store_root or find_store_root(Path.cwd())
    statuses = check_datastores(root, Path.cwd())
    click.echo(f"{'datastore':<24} {'type':<18} {'status':<12} where")
    for s in statuses:
        click.echo(f"{s.name:<24} {s.kind:<18} {'ok' if s.ok else 'UNREACHABLE':<12} {s.where}")
        if not s.ok:
            click.echo(f"{'':<24} {s.problem}", err=True)
    assets = data_assets(root, Path.cwd())
    if assets:
        click.echo(f"\n{'data asset (amlrun.yaml data:)':<43} resolves to")
        for reference, target in assets:
            click.echo(f"{reference:<43} {target}")
    if not all(s.ok for s in statuses):
        sys.exit(1)


@cli.command()
@_job_arg
@_set_opt
@click.option("--name", help="Job name (default: one AzureML picks).")
@click.option("--experiment", help="Experiment name (default: the file's `experiment_name`).")
@click.option("--compute", help="Compute target to run on, when the file names none or `local`.")
@click.option("--subscription", envvar="AZURE_SUBSCRIPTION_ID", help="Azure subscription id.")
@click.option("--resource-group", help="Resource group of the workspace.")
@click.option("--workspace", help="AzureML workspace name [default: amlrun.yaml `workspace:`, else config.json].")
@click.option("--tenant", help="Azure AD tenant to sign in to.")
@click.option("--interactive", is_flag=True, help="Sign in through a browser instead of az login/environment.")
@click.option("--wait", is_flag=True, help="Stream status and logs until the job ends; non-zero if it fails.")
@click.option("--dry-run", is_flag=True, help="Show the request body and code snapshot; send nothing.")
@click.option("--register-datastores", is_flag=True,
              help="Register amlrun.yaml's Azure datastores that the workspace lacks (asks first).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before registering datastores.")
@click.option("--package", "packaged", is_flag=True, help="Submit a fresh isolated snapshot (`amlrun package`).")
def submit(job: str, overrides: tuple[str, ...], packaged: bool = False, **options: object) -> None:
    """Submit a job file to AzureML, validated first (or show it with --dry-run).

    Instead of a file, MODULE:FN (`build.py:make_pipeline`) names Python that builds the job with
    azure-ai-ml: it is sent as `MLClient.jobs.create_or_update(job)` would send it.
    """
    from amlrun.azureml.submit import SubmitRequest, submit_job

    sdk = _sdk_job(job, packaged)
    file = Path(job)
    if packaged:
        from amlrun.cli_package import fresh_package

        file, _ = fresh_package(file)
    if sdk is not None:
        from amlrun.azureml.sdk_local import sdk_run_request
        from amlrun.engine.runner import RunRequest

        file = sdk_run_request(sdk, RunRequest(file=file), validate=False).file  # submit validates
    request = SubmitRequest(file=file, overrides=_parsed_overrides([file], overrides), sdk=sdk, **options)  # type: ignore[arg-type]
    result = submit_job(request, confirm=lambda question: click.confirm(question, err=True))
    sys.exit(result.exit_code)


def main() -> None:
    """Entry point: map amlrun's errors to a paragraph on stderr and an exit code (entry.guarded)."""
    from amlrun.entry import guarded

    guarded(_click_main)


def _click_main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
