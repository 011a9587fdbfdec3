"""Execute one planned command step: snapshot, inputs, outputs, process, record."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.artifacts import collect_artifacts, prepare_working_dir
from amlrun.data.locations import Location
from amlrun.data.staging import MaterializedInput, PreparedOutput, materialize_inputs, prepare_output
from amlrun.data.stepenv import apply_step_env
from amlrun.engine.distributed import plan_launches, run_distributed
from amlrun.engine.events import Reporter
from amlrun.engine.plan import StepPlan
from amlrun.engine.process import run_shell
from amlrun.engine.snapshot import take_snapshot
from amlrun.envs.choice import environment_names
from amlrun.envs.resolve import RUNTIME
from amlrun.errors import AmlrunError, scrub_secrets
from amlrun.spec.bindings import Reference, render
from amlrun.store.liveness import GROUP_FILE

__all__ = ["StepOutcome", "announce_environment", "build_process_env", "container_variables", "prepare_environment",
           "render_command", "run_command_step", "step_mounts"]


@dataclass
class StepOutcome:
    status: str  # Completed | Failed | Canceled
    exit_code: int | None = None
    error: str | None = None
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def render_command(plan: StepPlan, inputs: dict[str, MaterializedInput | Any],
                   outputs: dict[str, PreparedOutput]) -> str:
    """Substitute `${{...}}` in the step's command with literal values and local paths."""

    def resolve(ref: Reference) -> str | None:
        if ref.kind == "input":
            item = inputs.get(ref.name)
            if item is None:
                return None
            return item.value if isinstance(item, MaterializedInput) else _literal_str(item)
        if ref.kind == "output":
            out = outputs.get(ref.name)
            return str(out.local_path) if out is not None else None
        if ref.kind == "name":
            return plan.run_name
        if ref.kind == "default_datastore":
            return plan.default_datastore
        return None

    return render(plan.command or "", resolve)


def _literal_str(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def build_process_env(plan: StepPlan, inputs: dict[str, Any], outputs: dict[str, PreparedOutput]) -> dict[str, str]:
    """The environment a step's process sees: ours, AzureML's run variables, then the job's own."""
    env = plan.environment.process_env(dict(os.environ))
    env.update({
        "AZUREML_RUN_ID": plan.run_name,
        "AZUREML_ARM_PROJECT_NAME": plan.node.name,
        "AMLRUN_LOCAL": "1",
        "PYTHONUNBUFFERED": "1",
    })
    for name, item in inputs.items():
        value = item.value if isinstance(item, MaterializedInput) else _literal_str(item)
        env[f"AZURE_ML_INPUT_{name}"] = value
    for name, out in outputs.items():
        env[f"AZURE_ML_OUTPUT_{name}"] = str(out.local_path)
    env.update(plan.tracking_env)  # as AzureML sets them; a job's own MLFLOW_* below still wins
    env.update(plan.environment_variables)
    # A job's own `pip install` lands in the step's folder (on its path for the rest of the step), never in
    # amlrun's environment or a cached venv: each run starts from its declared environment, as on AzureML.
    if "PIP_TARGET" not in plan.environment_variables:
        guard = plan.run_dir / "pip-packages"
        env["PIP_TARGET"] = str(guard)
        env["PATH"] = os.pathsep.join((str(guard / "bin"), env.get("PATH", "")))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(guard), env.get("PYTHONPATH")) if p)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(RUNTIME)) if p)
    return apply_step_env(env, plan.data_env)


def announce_environment(reporter: Reporter, plan: StepPlan, steps: list[str] | None = None) -> None:
    """One line saying where a job (or these pipeline steps) runs, then what the environment could not honour."""
    where = f" ({', '.join(steps)})" if steps else ""
    reporter.event("environment", message=f"environment{where}: {plan.environment.description}")
    for note in plan.environment.notes:
        reporter.event("note", message=note)


def container_argv(plan: StepPlan, command: str, cwd: Path, env: dict[str, str], inputs: dict[str, Any],
                   outputs: dict[str, PreparedOutput]) -> list[str]:
    """The engine command running the step in its image: its folders mounted where the command sees them.

    `env` becomes what the engine client gets: ours, plus the step's variables it passes on by name."""
    passed = container_variables(env)
    env.clear()
    env.update({**os.environ, **passed})
    return plan.environment.container.argv(command, cwd, passed, step_mounts(plan, inputs, outputs))


def container_variables(env: dict[str, str]) -> dict[str, str]:
    """The step's own variables (what differs from amlrun's), for a container; its PATH is the image's."""
    return {k: v for k, v in env.items() if os.environ.get(k) != v and k not in ("PATH", "VIRTUAL_ENV")}


def step_mounts(plan: StepPlan, inputs: dict[str, Any], outputs: dict[str, PreparedOutput]) -> list[tuple[Path, bool]]:
    """(folder, writable) a step's container needs: its run folder, inputs read-only, outputs, amlrun's runtime."""
    mounts: list[tuple[Path, bool]] = [(plan.run_dir, True), (RUNTIME, False)]
    if plan.data_env.get("AMLRUN_STEPSITE"):
        mounts.append((Path(plan.data_env["AMLRUN_STEPSITE"]), False))
    for item in inputs.values():
        if isinstance(item, MaterializedInput) and item.value:
            for path in {Path(item.value), Path(item.value).resolve()}:  # a link in the run folder, and its target
                mounts.append((path if path.is_dir() else path.parent, False))
    for out in outputs.values():
        path = Path(out.local_path)
        mounts.append((path if path.is_dir() else path.parent, True))
    return mounts


def prepare_environment(plan: StepPlan, reporter: Reporter) -> str | None:
    """Build the step's venv or image when missing (progress on the reporter); the error text if that fails."""
    step = plan.name if plan.node.path else None
    try:
        for note in plan.environment.prepare(lambda line: reporter.event("environment", step=step, message=line)):
            reporter.event("note", step=step, message=note)
    except AmlrunError as exc:
        return exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    return None


def _snapshot_index(plan: StepPlan) -> Path | None:
    """Where the store remembers large files of earlier snapshots of this code folder (None outside a store)."""
    import hashlib

    for folder in plan.run_dir.parents:
        if (folder / "runs.db").exists():
            digest = hashlib.sha256(str(plan.code_dir).encode()).hexdigest()[:24]
            return folder / "cache" / "code" / f"{digest}.json"
    return None


def stage_step(plan: StepPlan, fresh_outputs: bool = True) -> tuple[Path, dict[str, Any], dict[str, PreparedOutput]]:
    """Snapshot code, make inputs available and outputs exist. Returns (cwd, inputs, outputs).

    `fresh_outputs=False` keeps what an earlier attempt staged (a parallel job continues its rows)."""
    code_target = plan.run_dir / "code"
    if plan.code_dir is not None:
        summary = take_snapshot(plan.code_dir, code_target, reuse_index=_snapshot_index(plan))
        (plan.run_dir / "snapshot.json").write_text(json.dumps(summary.__dict__))
    else:
        code_target.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Any] = {}
    assets: dict[str, tuple[str, str, Location]] = {}
    for name, item in plan.inputs.items():
        if item.is_unset:
            continue
        if item.is_literal:
            inputs[name] = item.value
        else:
            assert item.location is not None, f"input {name} was not connected"
            assets[name] = (item.type, item.mode, item.location)
    step = plan.name if plan.node.path else None  # a pipeline's step: name it in the data lines
    inputs.update(materialize_inputs(assets, plan.run_dir, step))
    outputs = {name: prepare_output(name, out.type, out.mode, out.location, fresh=fresh_outputs, owner=plan.run_dir,
                                    step=step)
               for name, out in plan.outputs.items() if not out.artifacts}
    if plan.artifacts is not None:
        prepare_working_dir(code_target)
    return code_target, inputs, outputs


def run_command_step(plan: StepPlan, reporter: Reporter, cancel: threading.Event | None = None) -> StepOutcome:
    """Run a planned command step to a terminal state; never raises for the step's own failures."""
    started = time.monotonic()
    failure = prepare_environment(plan, reporter)
    if failure is not None:
        return StepOutcome("Failed", error=failure, duration=time.monotonic() - started)
    _announce_services(plan, reporter)
    try:
        launches = plan_launches(plan.distribution, plan.instance_count)
        if plan.debug is not None:  # --debug/--pdb: refuse a step that runs no Python before staging it
            from amlrun.engine.debug import check_debuggable

            check_debuggable(plan)
        cwd, inputs, outputs = stage_step(plan)
        command = render_command(plan, inputs, outputs)
    except AmlrunError as exc:
        error = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
        return StepOutcome("Failed", error=error, duration=time.monotonic() - started)
    except Exception as exc:  # a storage SDK's own error: the run ends Failed, never stuck in Running
        return StepOutcome("Failed", error=staging_failure(plan, exc), duration=time.monotonic() - started)
    (plan.run_dir / "command.sh").write_text(scrub_secrets(command) + "\n")  # a record for people, not what runs
    env = build_process_env(plan, inputs, outputs)
    failure = None
    if plan.debug is not None:
        from amlrun.engine.debug import run_debugged

        result = run_debugged(plan, command, cwd, env, reporter, cancel)
    elif launches:
        argv_for = (lambda process_env: container_argv(plan, command, cwd, process_env, inputs, outputs)) \
            if plan.environment.container else None
        result, failure = run_distributed(command, cwd, env, plan.run_dir / "user_logs", launches, reporter,
                                          plan.name, plan.timeout, cancel, argv_for)
    else:
        argv = container_argv(plan, command, cwd, env, inputs, outputs) if plan.environment.container else None
        result = run_shell(command, cwd, env, plan.run_dir / "user_logs" / "std_log.txt", reporter, plan.name,
                           timeout=plan.timeout, cancel=cancel, argv=argv,
                           pid_file=plan.run_dir / GROUP_FILE)
    changed = [f for item in inputs.values() if isinstance(item, MaterializedInput) for f in item.verify()]
    ok = result.exit_code == 0 and not result.canceled and not changed
    extra: dict[str, Any] = {}
    try:
        if plan.artifacts is not None:  # kept whatever the outcome, as the service uploads them
            files = collect_artifacts(cwd, plan.artifacts)
            extra["artifacts"] = {"folder": str(plan.artifacts.local_path or plan.artifacts.uri), "files": files}
        for out in outputs.values():
            out.finalize(ok)
    except AmlrunError as exc:  # publishing failed (an upload): the step's outputs are not there
        return StepOutcome("Failed", result.exit_code, exc.render(), result.duration, extra)
    # staged outputs of a failed step stay aside (never published): say where, for `amlrun show`
    if not ok and any(o.staging is not None for o in outputs.values()):
        extra["unpublished"] = {n: str(o.local_path) for n, o in outputs.items() if o.staging is not None}
    if result.canceled:
        return StepOutcome("Canceled", result.exit_code, "canceled", result.duration, extra)
    if failure is not None:
        return StepOutcome("Failed", result.exit_code, failure, result.duration, extra)
    if result.timed_out:
        return StepOutcome("Failed", result.exit_code, f"timed out after limits.timeout={plan.timeout}s",
                           result.duration, extra)
    if result.exit_code != 0:
        reason = _missing_module(plan) if not launches else None
        return StepOutcome("Failed", result.exit_code, reason or _exit_reason(result.exit_code, plan), result.duration,
                           extra)
    if changed:
        return StepOutcome("Failed", 0, "the step modified read-only input files: " + ", ".join(changed[:10]),
                           result.duration, extra)
    return StepOutcome("Completed", 0, None, result.duration, extra)


_NOT_FOUND = re.compile(r"(?:^|: )([^\s:]+): (?:command not found|No such file or directory)$", re.MULTILINE)


def _missing_program(plan: StepPlan) -> str | None:
    """The program bash reported missing, from the end of the step's log."""
    found = _NOT_FOUND.findall(_log_tail(plan))
    return found[-1] if found else None


def _log_tail(plan: StepPlan, size: int = 16384) -> str:
    """The end of the step's log, where the shell and Python say what went wrong."""
    try:
        with open(plan.run_dir / "user_logs" / "std_log.txt", "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - size))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def staging_failure(plan: StepPlan, exc: Exception) -> str:
    """An unexpected error while staging data, as the step's error: first line only, secrets scrubbed.

    With AMLRUN_DEBUG set the exception propagates instead, traceback and all.
    """
    if os.environ.get("AMLRUN_DEBUG"):
        raise exc
    text = str(exc).strip().splitlines()
    message = f"could not stage the step's data: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    locations = [item.location for item in (*plan.inputs.values(), *plan.outputs.values())
                 if getattr(item, "location", None) is not None]
    context = next((loc.context for loc in locations if loc.context is not None), None)
    if context is not None:
        message = context.redact(message)
    return message + "\nhint: `amlrun datastores` checks that each datastore answers; AMLRUN_DEBUG=1 shows the traceback"


def _announce_services(plan: StepPlan, reporter: Reporter) -> None:
    """Interactive services (VS Code, JupyterLab, TensorBoard, SSH) are AzureML's: say the command runs without them."""
    services = plan.node.settings.get("services") or getattr(plan.node.definition, "services", None)
    if services:
        named = ", ".join(f"{name} ({(value or {}).get('type', '?') if isinstance(value, dict) else '?'})"
                          for name, value in services.items())
        reporter.event("note", message=f"{plan.name}: interactive services {named} are opened by AzureML only; "
                                       "here the command runs without them")


def _missing_module(plan: StepPlan) -> str | None:
    """Why a step on the host interpreter failed, when that is a module the interpreter lacks: the environment
    the job names (a curated or registered one, an image) has it on AzureML but is not built here."""
    if plan.environment.strategy != "host":
        return None
    tail = _log_tail(plan)
    found = re.findall(r"ModuleNotFoundError: No module named '([\w.]+)'", tail)
    if not found:
        return None
    module = found[-1].split(".")[0]
    spec = plan.node.settings.get("environment") or getattr(plan.node.definition, "environment", None)
    names = environment_names(spec) if not isinstance(spec, str) else [spec]
    name = next((n for n in reversed(names) if "/" not in n and ":" not in n), names[0] if names else None)
    what = f"environment {names[0]!r}" if names else plan.environment.description.split(" -> ", 1)[0]
    why = "was not built (--env host)" if "(--env host)" in plan.environment.description else "is not built here"
    return (f"the command failed importing {module!r}: {what} {why}, so the step ran on the host "
            f"interpreter ({plan.environment.python}), which lacks it\nhint: map "
            + (f"`{name}` in amlrun.yaml `environments:` to a requirements file (`{name}: {{venv: "
               "requirements.txt}`)" if name else "an environment with that package in amlrun.yaml `environments:`")
            + ", or install the package where amlrun runs")


def _exit_reason(code: int, plan: StepPlan | None = None) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"command was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    if code == 127:
        missing = _missing_program(plan) if plan is not None else None
        if missing is None:
            return ("command exited with code 127: the shell did not find a program it names (the log says which); "
                    "check `command:` and that the environment provides it")
        environment = plan.environment.description.split(" -> ")[0] if plan is not None else ""
        where = (f"on AzureML the job's environment ({environment}) provides it: install it here, or run with "
                 "`--env container` where a container engine is installed"
                 if environment.startswith(("build ", "image ", "azureml")) else
                 "check `command:`, and install it or declare an environment that provides it")
        return f"command exited with code 127: the shell did not find a program it names: `{missing}`; {where}"
    if code == 126:
        return "command exited with code 126: a program it names is not executable (chmod +x, or run it via python/bash)"
    last = next((ln.strip() for ln in reversed(_log_tail(plan, 2048).splitlines()) if ln.strip()), "") if plan else ""
    if plan is not None and last.startswith(("bash:", "sh:")) and _NOT_FOUND.search(last):
        # the shell's own last word (`source /usr/venv/bin/activate` of a path the job's image creates)
        environment = plan.environment.description.split(" -> ")[0]
        where = (f" (on AzureML the job's environment, {environment}, may provide it)"
                 if environment.startswith(("build ", "image ", "azureml")) else "")
        return f"command exited with code {code}: {last}{where}"
    return f"command exited with code {code}"
