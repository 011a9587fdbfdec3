"""The `amlrun` console script and `python -m amlrun`: `--help`, `--version` and a bare `amlrun` are
answered from text click rendered earlier (cli_help.py), without importing click or anything else;
`amlrun run FILE` (no options) runs without click too (its start-up is what users wait for); every
other command line goes to the click CLI in cli.py. Both report errors through `guarded`.
"""


import os
import sys

__all__ = ["guarded", "main", "plain_run", "quick_answer", "run_exit_code"]

_HELP_WIDTH = 80  # click wraps help at min(terminal columns, 80) - 2: at 80 columns or more, one text fits all
_LONGEST_PROG = 30  # a longer program name could wrap click's usage line differently: let click render it


def main() -> None:
    """Entry point: answer at once when the answer is known text, else run the CLI."""
    answer = quick_answer(sys.argv[1:])
    if answer is None:
        job = plain_run(sys.argv[1:])
        if job is not None:
            guarded(lambda: _run_file(job))
            return
        from amlrun.cli import main as cli_main

        cli_main()
        return
    text, to_stderr, code = answer
    (sys.stderr if to_stderr else sys.stdout).write(text)
    sys.exit(code)


def quick_answer(args: list[str]) -> tuple[str, bool, int] | None:
    """(text, goes to stderr, exit code) exactly as click would answer `args`, or None to ask click."""
    if args == ["--version"]:
        from amlrun import __version__

        return f"amlrun, version {__version__}\n", False, 0
    if args not in ([], ["--help"], ["-h"]) or _columns() < _HELP_WIDTH:
        return None
    prog = program_name()
    if len(prog) > _LONGEST_PROG:
        return None
    from amlrun.cli_help import HELP, USAGE_PREFIX

    text = "Usage: " + prog + " " + HELP.removeprefix(USAGE_PREFIX) + "\n"
    return (text, True, 2) if not args else (text, False, 0)


def program_name() -> str:
    """What click calls the program in its usage line: `amlrun`, or `python -m amlrun` (click's own rule)."""
    main_module = sys.modules["__main__"]
    path = sys.argv[0]
    package = getattr(main_module, "__package__", None)
    if package in (None, "") or (os.name == "nt" and package == "" and not os.path.exists(path)
                                 and os.path.exists(f"{path}.exe")):
        return os.path.basename(path)
    name = os.path.splitext(os.path.basename(path))[0]
    module = package if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def _columns() -> int:
    """The terminal width click's help formatter sees (shutil.get_terminal_size's rule, without shutil)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


_ENV_CHOICES = ("auto", "host", "container")  # cli.py's `run --env` choices (AMLRUN_ENV)


def plain_run(args: list[str]) -> str | None:
    """The job file of `amlrun run FILE` with no option (nor an AMLRUN_ENV click would refuse), else None.

    A FILE that could name Python (`build.py:make_pipeline`) is left to click's `run`."""
    if len(args) != 2 or args[0] != "run" or args[1].startswith("-"):
        return None
    if ":" in args[1] and not os.path.exists(args[1]):
        return None
    if os.environ.get("AMLRUN_ENV") and os.environ["AMLRUN_ENV"] not in _ENV_CHOICES:
        return None
    return args[1]


def _run_file(job: str) -> None:
    """What cli.py's `run` does for `amlrun run FILE`: the same request, the same exit codes."""
    from pathlib import Path

    from amlrun.engine.runner import RunRequest, run_job

    store = os.environ.get("AMLRUN_HOME")  # click reads an empty variable as unset
    request = RunRequest(file=Path(job), store_root=Path(store) if store else None,
                         env=os.environ.get("AMLRUN_ENV") or None)
    record = run_job(request)
    sys.exit(run_exit_code(record.status))


def run_exit_code(status: str) -> int:
    """`amlrun run`'s exit code for a run's final status (130 for a canceled run, as for Ctrl-C)."""
    return 0 if status in ("Completed", "Reused") else 130 if status == "Canceled" else 1


def guarded(call) -> None:
    """Run `call`; map amlrun's errors to a paragraph on stderr and an exit code, never a traceback."""
    from amlrun.errors import AmlrunError, scrub_secrets

    try:
        call()
    except AmlrunError as exc:
        _say(exc.render())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug in amlrun: still one paragraph, the traceback on request
        if os.environ.get("AMLRUN_DEBUG"):
            raise
        _say(f"error: internal error: {type(exc).__name__}: {scrub_secrets(str(exc))}\n"
             "hint: this is a bug in amlrun; rerun with AMLRUN_DEBUG=1 to see the traceback")
        sys.exit(1)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
