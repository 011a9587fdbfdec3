"""Run an azure-ai-ml job object locally: dump it into the run store, run the dump, blame the Python.

The dump is content-addressed under `<store>/sdk/`, so a resumed run finds the YAML it ran, and the
run record's `source` names the Python it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from amlrun.azureml.sdk_jobs import SdkJob, dump_job, map_problems
from amlrun.engine.runner import RunRequest
from amlrun.errors import SpecError
from amlrun.store.records import find_store_root

__all__ = ["blamed_on_python", "sdk_run_request"]


def sdk_run_request(sdk: SdkJob, request: RunRequest, validate: bool = True) -> RunRequest:
    """`request` with `file` set to the job's dump, `source` to its Python, the project found from there.

    `validate`: check the object with azure-ai-ml's own offline validation first (what submitting it
    would), so a job the service refuses does not run locally either.
    """
    origin = sdk.source or (Path.cwd() / "job.py")
    store = request.store_root or find_store_root(origin.parent)
    dump = dump_job(sdk, Path(store) / "sdk")
    if validate:
        with blamed_on_python(sdk, dump):
            _sdk_validation(sdk, dump)
    return replace(request, file=dump, source=sdk.label, origin=origin)


def _sdk_validation(sdk: SdkJob, dump: Path) -> None:
    from amlrun.azureml.compile import CompiledJob, sdk_problems_for
    from amlrun.spec.source import read_yaml

    source = read_yaml(dump)
    problems = sdk_problems_for(CompiledJob(sdk.job, dump, source, str(source.data.get("type", "command"))), [])
    if problems:
        raise SpecError(problems)


@contextlib.contextmanager
def blamed_on_python(sdk: SdkJob, dump: Path) -> Iterator[None]:
    """Spec problems found in the dump, raised again at the Python lines that built those steps."""
    try:
        yield
    except SpecError as exc:
        raise map_problems(exc, sdk, dump) from None
