"""Jobs built in Python with azure-ai-ml: find them (`build.py:make_pipeline`), dump them, place their errors.

A job object is turned into YAML by the SDK's own serialisation (`_to_dict()`, what `job.dump()`
writes), so the local run reads the same job `az ml` would send. One dump habit is undone: a local
input path comes out as `azureml:./data` (the SDK uploads it on submission); it becomes the absolute
path, resolved against the folder the job was built in, as the upload would.

Problems amlrun finds in the dump are reported at the line of the Python source that made the step
(`train = train_step(...)` inside the `@dsl.pipeline` function), else at the step's name.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from amlrun.errors import SpecError, UsageError

__all__ = ["SdkJob", "dump_job", "job_from_object", "load_target", "map_problems", "parse_target"]

_TARGET = re.compile(r"^(?P<module>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class SdkJob:
    """An azure-ai-ml job object and the Python that built it."""

    job: Any
    target: str  # as the user named it: build.py:make_pipeline, pkg.jobs:pipeline, or <object>
    source: Path | None = None  # the Python file
    attribute: str | None = None
    functions: dict[str, int] = field(default_factory=dict)  # pipeline function name -> its def line

    @property
    def label(self) -> str:
        """What the run record shows as the job's source: `/abs/build.py:make_pipeline`."""
        if self.source is None:
            return self.target
        return f"{self.source}:{self.attribute}" if self.attribute else str(self.source)


def parse_target(text: str) -> tuple[str, str] | None:
    """(module or file, attribute) when `text` names Python (`build.py:fn`, `pkg.jobs:fn`); else None."""
    if Path(text).exists():
        return None  # a file literally named so
    match = _TARGET.match(text)
    if match is None:
        return None
    module = match.group("module")
    if module.endswith(".py") or (_MODULE.match(module) and not module.endswith((".yml", ".yaml"))):
        return module, match.group("attr")
    return None


def _sdk_job_class() -> Any:
    from amlrun.azureml.sdk import azure_ml

    azure_ml()
    from azure.ai.ml.entities import Job

    return Job


def _user_frame(exc: BaseException, source: Path | None) -> str:
    """`build.py:12 in make_pipeline(): ` for the deepest frame of the user's code in a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if source is not None and Path(f.filename).resolve() == source]
    mine = mine or [f for f in frames if "site-packages" not in f.filename and "/amlrun/" not in f.filename]
    if not mine:
        return ""
    frame = mine[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}(): "


def _import(module: str, cwd: Path) -> tuple[Any, Path | None]:
    """Import a module by file path or dotted name, as `python build.py` would see its folder."""
    if module.endswith(".py"):
        path = (cwd / module).resolve()
        if not path.is_file():
            raise UsageError(f"no such Python file: {path}", hint="name a file that builds the job: build.py:make_pipeline")
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException as exc:
            sys.modules.pop(path.stem, None)
            raise _build_error(exc, path, f"importing {path.name}") from exc
        return loaded, path
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise UsageError(f"no Python module {module!r} (looked in {cwd} and the installed packages)",
                             hint="name a file (build.py:make_pipeline) or an importable module") from None
        raise _build_error(exc, None, f"importing {module}") from exc
    except BaseException as exc:
        raise _build_error(exc, None, f"importing {module}") from exc
    file = getattr(loaded, "__file__", None)
    return loaded, Path(file).resolve() if file else None


def _build_error(exc: BaseException, source: Path | None, doing: str) -> UsageError:
    """The user's Python failed while building the job: where and what, in one paragraph."""
    if isinstance(exc, KeyboardInterrupt | SystemExit) or os.environ.get("AMLRUN_DEBUG"):
        raise exc
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return UsageError(f"{_user_frame(exc, source)}{type(exc).__name__} while {doing}: {text}"[:1200],
                      hint="fix the Python that builds the job (AMLRUN_DEBUG=1 shows the whole traceback)")


def _candidates(module: Any, job_class: Any) -> list[str]:
    names = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, job_class) or (callable(value) and getattr(value, "__module__", None) == module.__name__):
            names.append(name)
    return names


def load_target(text: str, cwd: Path | None = None) -> SdkJob:
    """Import `module:attr` and return the job it is, or the job the function returns when called."""
    parsed = parse_target(text)
    if parsed is None:
        raise UsageError(f"{text!r} does not name Python", hint="write FILE.py:FUNCTION or package.module:FUNCTION")
    module_name, attr = parsed
    job_class = _sdk_job_class()
    module, source = _import(module_name, (cwd or Path.cwd()).resolve())
    if not hasattr(module, attr):
        near = difflib.get_close_matches(attr, _candidates(module, job_class), n=3)
        hint = f"did you mean {' or '.join(near)}?" if near else \
            f"define `def {attr}():` returning the job, or name one of: {', '.join(_candidates(module, job_class)) or '(none)'}"
        raise UsageError(f"{module_name} has no {attr!r}", hint=hint)
    value = getattr(module, attr)
    if not isinstance(value, job_class) and callable(value):
        value = _call(value, f"{module_name}:{attr}", source)
    if not isinstance(value, job_class):
        raise UsageError(f"{module_name}:{attr} is a {type(value).__name__}, not an azure-ai-ml job",
                         hint="return a pipeline job (a @dsl.pipeline function's result), command(...) or "
                              "parallel_run_function(...) node")
    return SdkJob(value, text, source, attr, _pipeline_functions(source))


def _call(function: Any, name: str, source: Path | None) -> Any:
    import inspect

    with contextlib.suppress(TypeError, ValueError):
        required = [p.name for p in inspect.signature(function).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if required:
            raise UsageError(f"{name} needs arguments ({', '.join(required)}); amlrun calls it with none",
                             hint="give every parameter a default, or add a function without parameters that "
                                  "calls it and returns the job")
    try:
        return function()
    except UsageError:
        raise
    except BaseException as exc:
        raise _build_error(exc, source, f"calling {name}()") from exc


def job_from_object(job: Any) -> SdkJob:
    """An SdkJob for an object passed to `amlrun.run(...)`: the source is the pipeline function's file."""
    if not isinstance(job, _sdk_job_class()):
        raise UsageError(f"amlrun.run() takes a job file, FILE.py:FUNCTION or an azure-ai-ml job, not "
                         f"{type(job).__name__}", hint="pass a path, 'build.py:make_pipeline' or the job object")
    component = getattr(job, "component", None)
    source_path = getattr(component, "_source_path", None)
    source = Path(source_path).resolve() if source_path and str(source_path).endswith(".py") else None
    name = getattr(component, "name", None) or getattr(job, "display_name", None) or "job"
    return SdkJob(job, f"<{type(job).__name__} {name}>", source, None, _pipeline_functions(source))


def _pipeline_functions(source: Path | None) -> dict[str, int]:
    if source is None or not source.is_file():
        return {}
    with contextlib.suppress(SyntaxError, OSError, ValueError):
        tree = ast.parse(source.read_text())
        return {n.name: n.lineno for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return {}


# -- the dump --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _job_dict(job: Any) -> dict[str, Any]:
    """The SDK's own serialisation: a node built by command()/parallel_run_function() as its job."""
    to_job = getattr(job, "_to_job", None)
    if type(job).__name__ in ("Command", "Parallel", "Sweep", "Spark") and callable(to_job):
        with contextlib.suppress(Exception):
            job = to_job()
    return _plain(job._to_dict())


def _local_paths(data: Any, base: Path) -> Any:
    """`azureml:./data` (the dump of a local path) -> the absolute local path."""
    if isinstance(data, dict):
        return {k: (_local_path(v, base) if k == "path" else _local_paths(v, base)) for k, v in data.items()}
    if isinstance(data, list):
        return [_local_paths(v, base) for v in data]
    return data


def _local_path(value: Any, base: Path) -> Any:
    if not isinstance(value, str) or not value.startswith("azureml:") or value.startswith("azureml://"):
        return _local_paths(value, base)
    rest = value.removeprefix("azureml:")
    if rest.startswith((".", "/", "~")) or (base / rest).exists():
        return str((base / os.path.expanduser(rest)).resolve())
    return value


def job_yaml(sdk: SdkJob) -> str:
    data = _job_dict(sdk.job)
    base = Path(getattr(sdk.job, "_base_path", None) or Path.cwd())
    data = _local_paths(data, base)
    header = f"# dumped by amlrun from {sdk.label} with azure-ai-ml's own serialisation; edit the Python, not this\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def dump_job(sdk: SdkJob, folder: Path) -> Path:
    """Write the job's YAML under `folder` (named by content, never overwritten) and return its path."""
    text = job_yaml(sdk)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    stem = (sdk.source.stem if sdk.source else "job") + (f".{sdk.attribute}" if sdk.attribute else "")
    path = folder / digest / f"{stem}.yml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(text)
        partial.replace(path)
    return path


# -- errors back to the Python -----------------------------------------------------------------------


def _step_line(sdk: SdkJob, field_path: str) -> tuple[int, str] | None:
    """(line, step path) of the assignment that created the step a dumped field belongs to."""
    parts = field_path.split(".")
    steps, job, function = [], sdk.job, _function_name(sdk.job)
    line = None
    i = 0
    while i + 1 < len(parts) and parts[i] == "jobs":
        name = parts[i + 1]
        node = (getattr(job, "jobs", None) or {}).get(name)
        if node is None:
            break
        steps.append(name)
        found = _assignment_line(sdk.source, function, name)
        line = found or line
        job = getattr(node, "component", None)
        function = _function_name(job)
        i += 2
        if i < len(parts) and parts[i] == "component":
            i += 1
    if not steps:
        return None
    return line or sdk.functions.get(_function_name(sdk.job) or "", 0), ".".join(steps)


def _function_name(job: Any) -> str | None:
    component = getattr(job, "component", job)
    return getattr(component, "name", None) if type(component).__name__ == "PipelineComponent" else None


def _assignment_line(source: Path | None, function: str | None, variable: str) -> int | None:
    if source is None or function is None:
        return None
    with contextlib.suppress(SyntaxError, OSError, ValueError):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Assign) and any(
                            isinstance(t, ast.Name) and t.id == variable for t in inner.targets):
                        return inner.lineno
    return None


def map_problems(error: SpecError, sdk: SdkJob, dump: Path) -> SpecError:
    """Problems found in the dumped YAML, placed in the Python that built the job."""
    dump_name = dump.resolve()
    mapped = []
    for problem in error.problems:
        with contextlib.suppress(OSError):
            if Path(problem.file).resolve() != dump_name:
                mapped.append(problem)
                continue
        located = _step_line(sdk, problem.field)
        where = sdk.label if sdk.source is None else _display(sdk.source)
        if located is not None:
            line, step = located
            mapped.append(replace(problem, file=where if line else f"{where} step {step}", line=line, col=1,
                                  message=f"step {step}: {problem.message}"))
        else:
            line = sdk.functions.get(sdk.attribute or "", 0) if sdk.attribute else 0
            mapped.append(replace(problem, file=where, line=line, col=1))
    result = SpecError(mapped)
    result.hint = f"amlrun checked the job as azure-ai-ml dumps it: {dump}"
    return result


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
