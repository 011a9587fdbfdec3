"""`amlrun submit`: build and check the job, then send it with `MLClient.jobs.create_or_update`.

Build, then send: the whole job is compiled and validated (amlrun's checks and azure-ai-ml's)
before the first call goes out, so a broken file never reaches the service. The job name and the
Studio URL printed are the service's answer, not guesses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.azureml.compile import compile_job, precheck_job
from amlrun.azureml.sdk import azure_ml
from amlrun.errors import SubmitError
from amlrun.spec.overrides import Override
from amlrun.spec.project import load_project_config

__all__ = ["SubmitRequest", "SubmitResult", "submit_job"]

TERMINAL_OK = ("Completed",)
TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding", "Paused")

Write = Callable[[str], None]


@dataclass
class SubmitRequest:
    """What `amlrun submit` was asked to do, as a value."""

    file: Path
    overrides: list[Override] = field(default_factory=list)
    name: str | None = None
    experiment: str | None = None
    compute: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    tenant: str | None = None
    interactive: bool = False
    wait: bool = False
    dry_run: bool = False
    register_datastores: bool = False
    yes: bool = False
    sdk: Any = None  # an azure-ai-ml job built in Python (`file` is then its dump): sent as it is


@dataclass
class SubmitResult:
    name: str | None = None
    studio_url: str | None = None
    status: str | None = None
    body: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.status in TERMINAL and self.status not in TERMINAL_OK else 0


def _stdout(text: str) -> None:
    print(text, flush=True)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _no(_: str) -> bool:
    return False


def submit_job(request: SubmitRequest, *, credential: Any = None, transport: Any = None,
               out: Write = _stdout, err: Write = _stderr, confirm: Callable[[str], bool] = _no) -> SubmitResult:
    """Dry-run or submit a job file. `credential`/`transport` let tests fake Azure at its edges."""
    from amlrun.azureml.workspace import make_credential, resolve_workspace

    origin = request.sdk.source if request.sdk is not None and request.sdk.source else request.file
    project = load_project_config(origin)
    _adopt_azmlops_provider(request, project)
    with _blamed_on_python(request):
        notes = precheck_job(request.file, request.overrides)
    for note in notes:
        err(f"note: {note.render()}")
    # no workspace, no submission: say so before azure-ai-ml's seconds of import and compiling
    workspace = None if request.dry_run else resolve_workspace(
        request.subscription, request.resource_group, request.workspace, project, origin)
    with _blamed_on_python(request):
        compiled = compile_job(request.file, request.overrides, name=request.name, experiment=request.experiment,
                               compute=request.compute, prechecked=True,
                               job=request.sdk.job if request.sdk is not None else None)
    if workspace is None:
        from amlrun.azureml.dryrun import dry_run

        return SubmitResult(name=compiled.job.name, body=dry_run(compiled, request.overrides, project, out, err))

    err(f"workspace {workspace.workspace_name} (resource group {workspace.resource_group}, "
        f"from {workspace.found_in})")
    if credential is None:
        credential = make_credential(request.tenant or workspace.tenant_id, request.interactive)
    ml = azure_ml()
    client = ml.MLClient(credential, workspace.subscription_id, workspace.resource_group,
                         workspace.workspace_name, **({"transport": transport} if transport is not None else {}))
    with _service_errors(ml):
        if request.register_datastores:
            from amlrun.azureml.datastores import register_missing_datastores

            register_missing_datastores(client, project.datastores, yes=request.yes, confirm=confirm, say=err)
        created = client.jobs.create_or_update(compiled.job)
        result = SubmitResult(name=created.name, studio_url=created.studio_url, status=_status(created))
        out(f"submitted {created.name} ({result.status or 'queued'})")
        out(f"studio: {created.studio_url}")
        if request.wait:
            result.status = _wait(client, ml, created.name, err)
            err(f"{created.name} {result.status}")
    return result


def _adopt_azmlops_provider(request: SubmitRequest, project: Any) -> None:
    """An azmlops file names its workspace, tenant, login and datastores itself: use them (flags still win)."""
    from amlrun.spec.azmlops import azmlops_for

    job = azmlops_for(request.file)
    if job is None:
        return
    project.workspace = {**project.workspace, **{k: v for k, v in job.workspace.items() if v}}
    if job.tenant_id and not project.workspace.get("tenant_id"):
        project.workspace["tenant_id"] = job.tenant_id
    request.interactive = request.interactive or job.force_login
    for name, spec in job.datastores.items():
        project.datastores.setdefault(name, spec)


def _blamed_on_python(request: SubmitRequest) -> Any:
    """Problems in a dumped SDK job, reported at the Python that built it."""
    if request.sdk is None:
        import contextlib

        return contextlib.nullcontext()
    from amlrun.azureml.sdk_local import blamed_on_python

    return blamed_on_python(request.sdk, request.file)


def _wait(client: Any, ml: Any, name: str, err: Write) -> str:
    """Stream status and logs until the job ends (the SDK's own `jobs.stream`); the final status."""
    try:
        client.jobs.stream(name)
    except ml.exceptions.JobException as exc:
        err(str(exc).strip())
    return str(_status(client.jobs.get(name)))


def _status(job: Any) -> str | None:
    status = getattr(job, "status", None)
    return None if status is None else str(getattr(status, "value", status))


class _service_errors:  # noqa: N801 - used as a context manager
    """Azure's exceptions as SubmitErrors with a hint (no traceback for the user)."""

    def __init__(self, ml: Any) -> None:
        self.ml = ml

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        from amlrun.errors import AmlrunError

        if isinstance(exc, AmlrunError):
            return False
        if isinstance(exc, ClientAuthenticationError):
            raise SubmitError(f"could not sign in to Azure: {_first_line(exc)}",
                              hint="run `az login` (add --tenant <id> for another tenant) or pass --interactive") \
                from exc
        if isinstance(exc, HttpResponseError):
            raise SubmitError(f"AzureML refused the request: {_first_line(exc)}",
                              hint="check the workspace, compute and asset names the job uses") from exc
        if isinstance(exc, ServiceRequestError):
            raise SubmitError(f"cannot reach Azure: {_first_line(exc)}",
                              hint="check your network connection or proxy settings") from exc
        if isinstance(exc, self.ml.exceptions.MlException | self.ml.exceptions.ValidationException):
            raise SubmitError(f"azure-ai-ml could not submit the job: {_first_line(exc)}",
                              hint="run `amlrun submit --dry-run` to see what would be sent") from exc
        return False


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith("(") and ")" in line), None)
    return detail or (lines[0] if lines else type(exc).__name__)
