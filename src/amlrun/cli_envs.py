"""`amlrun envs`: the cached step environments (uv venvs), and `amlrun envs prune`."""

from __future__ import annotations

import re
import sys
from datetime import datetime

import click

from amlrun.data.progress import human_bytes
from amlrun.errors import UsageError

__all__ = ["envs"]


def _age(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise UsageError(f"cannot read --older-than {text!r}", hint="write e.g. 30d, 12h or 2w")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]


@click.group(invoke_without_command=True)
@click.pass_context
def envs(ctx: click.Context) -> None:
    """List cached step environments: key, what defined them, Python, size, last use [cache: $AMLRUN_ENV_CACHE]."""
    if ctx.invoked_subcommand is not None:
        return
    from amlrun.envs.cached import list_cached
    from amlrun.envs.venvs import cache_root

    found = list_cached()
    if not found:
        click.echo(f"no cached environments in {cache_root()}", err=True)
        return
    click.echo(f"{'key':<17} {'python':<7} {'size':>8}  {'last used':<19}  defined by (packages)")
    for env in found:
        used = datetime.fromtimestamp(env.last_used).strftime("%Y-%m-%d %H:%M:%S")
        packages = ", ".join(env.packages[:6]) + (", ..." if len(env.packages) > 6 else "")
        click.echo(f"{env.key:<17} {env.python:<7} {human_bytes(env.size, sep=''):>8}  {used:<19}  {env.source} ({packages})")
    click.echo(f"{len(found)} environment{'s' if len(found) != 1 else ''} in {cache_root()}", err=True)


@envs.command()
@click.option("--older-than", metavar="AGE", help="Only those unused for this long (30d, 12h, 2w) [default: all].")
def prune(older_than: str | None) -> None:
    """Remove cached environments (a run using one rebuilds it from uv's cache)."""
    from amlrun.envs.cached import prune_cached

    removed, busy = prune_cached(_age(older_than) if older_than else None)
    for env in removed:
        click.echo(f"{env.key}  {env.source}")
    click.echo(f"removed {len(removed)} environment{'s' if len(removed) != 1 else ''}"
               + (f"; {len(busy)} in use by a running build, kept: {', '.join(busy)}" if busy else ""), err=True)
    sys.exit(0)
