"""Debug one step: its Python starts under debugpy (waiting for an attach) or pdb (post-mortem).

The step's command is run as written, except that its `python` call goes through `debug_launch.py`
(`python -u train.py --lr 1` -> `python debug_launch.py pdb 0 -- -u train.py --lr 1`), so the same
interpreter, arguments, environment variables and working folder (the run's code snapshot) apply.
While debugging, `limits.timeout` is off: a paused debugger is not a hung step.

- debugpy: amlrun prints the port and a VS Code `launch.json` entry whose path mappings lead from the
  snapshot back to the user's code folder; breakpoints set in the user's files then hit.
- pdb: the step runs in the foreground with the terminal's stdin and stdout (pdb needs both), so its
  output is not copied into the step's log.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from amlrun.engine.events import Reporter
from amlrun.engine.plan import StepPlan
from amlrun.engine.process import ProcessResult, run_shell
from amlrun.errors import UsageError

__all__ = ["LAUNCHER", "DebugSession", "check_debuggable", "debug_command", "launch_json", "run_debugged", "worker_launch"]

LAUNCHER = Path(__file__).with_name("debug_launch.py")
DEFAULT_PORT = 5678  # debugpy's and VS Code's usual port
_PYTHON = re.compile(r"(?:^|(?<=[\s;&|(]))(?P<python>(?:[\w./-]*/)?python(?:\d+(?:\.\d+)?)?)(?=\s)")


@dataclass(frozen=True)
class DebugSession:
    """How to debug the chosen step: `debugpy` (attach from an IDE) or `pdb` (post-mortem in the terminal)."""

    mode: str
    port: int = DEFAULT_PORT  # debugpy only; 0 = any free port
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.mode not in ("debugpy", "pdb"):
            raise ValueError(f"unknown debug mode {self.mode!r}")

    @property
    def foreground(self) -> bool:
        return self.mode == "pdb"

    def bound(self) -> DebugSession:
        """This session with a concrete port: the one asked for if free, else any free one."""
        if self.mode != "debugpy":
            return self
        return DebugSession(self.mode, _free_port(self.host, self.port), self.host)


def _free_port(host: str, wanted: int) -> int:
    for port in ((wanted, 0) if wanted else (0,)):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise UsageError(f"no free port on {host} for debugpy", hint="pass another --debug-port")


def debug_command(command: str, session: DebugSession, step: str) -> str:
    """`command` with its Python call routed through the debug launcher; UsageError when it runs no Python."""
    match = _PYTHON.search(command)
    if match is None:
        first = command.strip().split()[0] if command.strip() else "(empty)"
        raise UsageError(f"step {step} runs `{first} ...`, not Python: debugging needs a Python entry "
                         "(a command like `python train.py ...`)",
                         hint="debug the Python the command starts by making it the step's command, or run "
                              "without --debug/--pdb")
    launch = f" {shlex.quote(str(LAUNCHER))} {session.mode} {session.port} --"
    return command[:match.end()] + launch + command[match.end():]


def check_debuggable(plan: StepPlan) -> None:
    """Refuse, before anything is staged, a step that --debug/--pdb cannot debug."""
    if getattr(plan.environment, "container", None):
        raise UsageError(f"step {plan.name} runs in a container; --debug/--pdb debug a step's Python on this machine",
                         hint="add --env host (the current interpreter) or --env auto (a local venv)")
    if plan.kind != "parallel":
        debug_command(plan.command or "", plan.debug, plan.name)


def worker_launch(python: str, worker_script: Path, session: DebugSession) -> list[str]:
    """argv of a parallel job's one foreground worker under the debugger."""
    return [python, str(LAUNCHER), session.mode, str(session.port), "--", str(worker_script)]


def launch_json(session: DebugSession, step: str, user_code: Path | None, snapshot: Path) -> str:
    """A VS Code `launch.json` configuration that attaches to the step and maps the snapshot to the user's files."""
    entry = {
        "name": f"amlrun: attach to {step}",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": session.host, "port": session.port},
        "pathMappings": [{"localRoot": str(user_code), "remoteRoot": str(snapshot)}] if user_code else [],
        "justMyCode": True,
    }
    return json.dumps(entry, indent=2)


def announce(session: DebugSession, plan: StepPlan, reporter: Reporter) -> None:
    """Tell the user how to attach (debugpy) or what to expect (pdb)."""
    step = plan.name
    if session.mode == "pdb":
        reporter.event("debug", step=step, message="running in the foreground under pdb: an uncaught exception "
                       "opens pdb's post-mortem prompt here (`q` quits); limits.timeout is off")
        return
    config = launch_json(session, step, plan.code_dir, plan.run_dir / "code")
    reporter.event("debug", step=step, message=(
        f"debugpy will listen on {session.host}:{session.port}; the step waits until a debugger attaches "
        "(limits.timeout is off).\nVS Code: add this to .vscode/launch.json `configurations`, set breakpoints in "
        f"your files and start it:\n{config}"))


def _debugpy_path() -> str | None:
    """The folder holding amlrun's own debugpy, for a step environment without one."""
    import importlib.util

    spec = importlib.util.find_spec("debugpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def debug_env(env: dict[str, str], session: DebugSession) -> dict[str, str]:
    found = _debugpy_path()
    if session.mode == "debugpy" and found is None:
        raise UsageError("debugpy is not installed", hint="pip install debugpy (amlrun depends on it: reinstall amlrun)")
    return {**env, "AMLRUN_DEBUG_MODE": session.mode, "AMLRUN_DEBUG_HOST": session.host,
            **({"AMLRUN_DEBUGPY_PATH": found} if found else {})}


def run_debugged(plan: StepPlan, command: str, cwd: Path, env: dict[str, str], reporter: Reporter,
                 cancel: threading.Event | None) -> ProcessResult:
    """Run a step's command with its Python under the debugger (no timeout)."""
    session: DebugSession = plan.debug
    command = debug_command(command, session, plan.name)
    env = debug_env(env, session)
    log_file = plan.run_dir / "user_logs" / "std_log.txt"
    announce(session, plan, reporter)
    if not session.foreground:
        return run_shell(command, cwd, env, log_file, reporter, plan.name, timeout=None, cancel=cancel)
    return run_foreground(["bash", "-c", command], cwd, env, log_file)


def run_foreground(argv: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> ProcessResult:
    """Run with the terminal's stdin/stdout/stderr (an interactive debugger), in amlrun's process group."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as log:
        log.write("[amlrun] this step ran in the foreground under pdb: its output went to the terminal only\n")
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env)
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C belongs to the debugger in the foreground
            continue
    return ProcessResult(code, False, False, time.monotonic() - started)
