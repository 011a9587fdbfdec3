"""The `amlrun` console script and `python -m amlrun`: `--help`, `--version` and a bare `amlrun` are
answered from text click rendered earlier (cli_help.py), without importing click or anything else;
every other command line goes to the click CLI in cli.py.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main", "quick_answer"]

_HELP_WIDTH = 80  # click wraps help at min(terminal columns, 80) - 2: at 80 columns or more, one text fits all
_LONGEST_PROG = 30  # a longer program name could wrap click's usage line differently: let click render it


def main() -> None:
    """Entry point: answer at once when the answer is known text, else run the CLI."""
    answer = quick_answer(sys.argv[1:])
    if answer is None:
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
