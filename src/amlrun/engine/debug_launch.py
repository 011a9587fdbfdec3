"""Start a step's Python under a debugger: debugpy waiting for an attach, or pdb post-mortem on an exception.

Run by path, as `python debug_launch.py MODE PORT -- <the step's python arguments>` (standard library
only, so it runs in whatever interpreter the step's environment gives). MODE is `debugpy` (listen on
PORT, wait for a client, then run) or `pdb` (run; on an uncaught exception print the traceback and
open pdb's post-mortem prompt on the terminal). The step's script, `-m module` or `-c code` then runs
as `__main__` with its own arguments, as `python ...` would run it.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

__all__ = ["main", "python_target"]


def python_target(args: list[str]) -> tuple[str, str, list[str]]:
    """(kind, target, arguments) from python's own command line: ("script", "train.py", [...]), ("-m", ...)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-m", "-c") and i + 1 < len(args):
            return arg, args[i + 1], args[i + 2:]
        if arg in ("-W", "-X", "--check-hash-based-pycs"):
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            i += 1
            continue
        return "script", arg, args[i + 1:]
    raise SystemExit("[amlrun] the step's python command names no script, -m module or -c code to debug")


def _import_debugpy() -> object:
    try:
        import debugpy
    except ImportError:  # the step's own environment lacks it: use amlrun's copy, after the step's packages
        extra = os.environ.get("AMLRUN_DEBUGPY_PATH")
        if not extra:
            raise
        sys.path.append(extra)
        import debugpy
    return debugpy


def _wait_for_debugger(port: int) -> None:
    debugpy = _import_debugpy()
    host = os.environ.get("AMLRUN_DEBUG_HOST", "127.0.0.1")
    debugpy.listen((host, port))  # type: ignore[attr-defined]
    print(f"[amlrun] debugpy is listening on {host}:{port}; attach a debugger to start the step",
          file=sys.stderr, flush=True)
    debugpy.wait_for_client()  # type: ignore[attr-defined]
    print("[amlrun] debugger attached", file=sys.stderr, flush=True)


def _run(kind: str, target: str, rest: list[str]) -> None:
    if kind == "script":
        sys.argv = [target, *rest]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")
    elif kind == "-m":
        sys.argv = [target, *rest]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        sys.path.insert(0, "")
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # our modules must not shadow theirs
    mode, port = sys.argv[1], int(sys.argv[2])
    kind, target, rest = python_target(sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
    if mode == "debugpy":
        _wait_for_debugger(port)
    try:
        _run(kind, target, rest)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the step's own error: post-mortem, then fail as it would
        if mode != "pdb":
            raise
        tb = exc.__traceback__
        while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__, "<frozen runpy>")
                                  or tb.tb_frame.f_code.co_filename.endswith("runpy.py")):
            tb = tb.tb_next  # the launcher's own frames: not the user's story
        traceback.print_exception(type(exc), exc, tb)
        print("[amlrun] post-mortem: the step raised; inspect its frames here (`q` quits)", file=sys.stderr,
              flush=True)
        import pdb

        pdb.post_mortem(exc.__traceback__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
