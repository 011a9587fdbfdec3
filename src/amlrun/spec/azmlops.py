"""The azmlops single-file format, read as the AzureML v2 job it means.

azmlops (github.com/JacopoMangiavacchi/azmlops) describes a job or a pipeline in one file:

    name: Copy_Data_Job                       # the experiment
    provider: {azureml: {workspace: {...}, compute_name: cluster, tenant_id: ..., force_login: false}}
    job:                                      # or `jobs:`, a list of `- step_name: {...}` (a pipeline)
      code: {folder: scripts, main: main.py}
      inputs: [input_data]                    # names of `data` entries
      outputs: [output_data]
      parameters: {input_file: test.txt}      # passed as --input_file test.txt
      environment: {name: env, dependencies: [python=3.8, {pip: [...]}]}   # or a name under `environments`
    data:
      input_data:  {type: dataset, parameter_name: input_path, mount_path: input, datastore: {name: ds}}
      output_data: {type: datareference, parameter_name: output_path, mount_path: output, datastore: {name: ds}}
      between:     {type: pipelinedata, input_parameter_name: input_path, output_parameter_name: output_path,
                    datastore: {name: ds}}

Scripts get `--<parameter_name> <mounted path>` for each input and output (inputs first), then
`--<key> <value>` per parameter, as azmlops passes them. The v2 job keeps that command line exactly:
a `dataset` is a read-only mounted input; a `datareference` is a read-write mount, so it becomes an
`rw_mount` output wherever it is listed (an output mount shows what the path holds, and the path
need not exist yet, as with azmlops; a v2 input would be read-only or fail on a missing path); a `pipelinedata` an output of the step listing it in `outputs` bound to the inputs of the
steps listing it in `inputs` (that binding orders the steps). Parameters become literal inputs, so
`--set inputs.input_file=...` works. azmlops never reuses a step (`allow_reuse=False`): the pipeline
sets `force_rerun: true`.

The converted document keeps a source map pointing at the azmlops file, so every problem amlrun or
azure-ai-ml finds in it is reported at the azmlops line that caused it. An inline `datastore.account_key`
is kept in this process only (an environment variable the datastore's credential names), never in
the document, and draws a warning naming the environment-variable form.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from amlrun.errors import Problem, SpecError
from amlrun.spec.source import VALUE, FieldPath, SourceMap, SpecSource, format_path, read_yaml

__all__ = ["AzmlopsJob", "azmlops_for", "convert_source", "is_azmlops", "job_source", "key_variable", "read_job_yaml", "warned"]

_TOP = ("name", "provider", "job", "jobs", "data", "environments", "description")
_STEP = ("code", "inputs", "outputs", "parameters", "environment", "compute_name", "description")
_DATA_TYPES = ("dataset", "datareference", "pipelinedata")
_DATASTORE = ("name", "container_name", "account_name", "account_key", "account_key_env", "endpoint")
_PROVIDER = ("workspace", "compute_name", "tenant_id", "force_login")
_WORKSPACE = ("subscription_id", "resource_group", "workspace_name")
_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
_MAIN_KINDS = {".py": "python", ".sh": "bash", ".r": "Rscript", ".R": "Rscript"}


def is_azmlops(data: Any) -> bool:
    """An azmlops file has `provider:`, or `job:`, or `jobs:` as a list, and no v2 `type`/`command`."""
    if not isinstance(data, dict) or "type" in data or "command" in data or "$schema" in data:
        return False
    return "provider" in data or "job" in data or isinstance(data.get("jobs"), list)


def key_variable(datastore: str) -> str:
    """The environment variable an inline key of `datastore` is kept in for this process."""
    return f"{re.sub(r'[^A-Za-z0-9]', '_', datastore).upper()}_ACCOUNT_KEY"


@dataclass
class AzmlopsJob:
    """An azmlops file as a v2 job document (`source`), the datastores it declares, and its problems.

    `datastores` are amlrun.yaml-shaped entries for datastores written with an account and container
    (credentials as environment-variable names only); `workspace` is `provider.azureml.workspace`.
    """

    source: SpecSource
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspace: dict[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None
    force_login: bool = False
    problems: list[Problem] = field(default_factory=list)
    inline_keys: dict[str, str] = field(default_factory=dict)  # datastore -> variable holding its key


@dataclass
class _AzmlopsSourceMap(SourceMap):
    """Positions of the v2 document's fields in the azmlops file; problems name the azmlops field too."""

    origins: dict[FieldPath, FieldPath] = field(default_factory=dict)

    def problem(self, path: FieldPath, message: str, hint: str = "", *, at_value: bool = False,
                needle: str | None = None) -> Problem:
        found = super().problem(path, message, hint, at_value=at_value, needle=needle)
        for end in range(len(path), 0, -1):
            origin = self.origins.get(tuple(path[:end]))
            if origin is not None:
                return replace(found, field=format_path((*origin, *path[end:])))
        return found


class _Converter:
    """Builds the v2 document while remembering, for each field written, the azmlops field it came from."""

    def __init__(self, source: SpecSource) -> None:
        self.folder = source.folder
        self.raw = source.data
        self.old = source.source_map
        self.map = _AzmlopsSourceMap(self.old.file, text=self.old.text)
        self.problems: list[Problem] = []
        self.datastores: dict[str, dict[str, Any]] = {}
        self.inline_keys: dict[str, str] = {}

    # bookkeeping ---------------------------------------------------------------------------------

    def at(self, new: FieldPath, old: FieldPath) -> None:
        """The v2 field `new` is written at the azmlops field `old` (key and value positions)."""
        self.map.origins.setdefault(new, old)
        self.map.positions.setdefault(new, self.old.locate(old))
        value = self.old.positions.get((*old, VALUE)) or self.old.locate(old)
        self.map.positions.setdefault((*new, VALUE), value)

    def problem(self, path: FieldPath, message: str, hint: str = "", at_value: bool = False) -> None:
        self.problems.append(self.old.problem(path, message, hint, at_value=at_value))

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], where: FieldPath, what: str) -> None:
        for key in data:
            if key not in allowed:
                close = _close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(allowed)}"
                self.problem((*where, key), f"unknown field {key!r} in {what}", hint)

    # the whole file ------------------------------------------------------------------------------

    def convert(self) -> dict[str, Any]:
        raw = self.raw
        self.unknown_keys(raw, _TOP, (), "an azmlops file")
        provider = self._provider()
        self._datastores()
        name = raw.get("name")
        if "job" in raw and "jobs" in raw:
            self.problem(("jobs",), "both `job` and `jobs` are written", "keep `job:` for a single job, "
                         "or `jobs:` (a list of steps) for a pipeline")
        doc: dict[str, Any]
        if "jobs" in raw:
            doc = self._pipeline(raw.get("jobs"), provider)
        elif isinstance(raw.get("job"), dict):
            doc = self._command_job(raw["job"], provider)
        else:
            self.problem(("job",) if "job" in raw else (), "no `job:` mapping or `jobs:` list",
                         "write `job: {code: {folder: ..., main: ...}, ...}` or a `jobs:` list of steps")
            doc = {"type": "command"}
        if isinstance(name, str) and name:
            doc = {"experiment_name": name, "display_name": name, **doc}
            self.at(("experiment_name",), ("name",))
            self.at(("display_name",), ("name",))
        if isinstance(raw.get("description"), str):
            doc["description"] = raw["description"]
            self.at(("description",), ("description",))
        return doc

    def _provider(self) -> dict[str, Any]:
        provider = self.raw.get("provider")
        if provider is None:
            return {}
        if not isinstance(provider, dict) or not isinstance(provider.get("azureml"), dict):
            self.problem(("provider",), "`provider` must hold an `azureml:` mapping",
                         "write `provider: {azureml: {workspace: {...}, compute_name: <cluster>}}`")
            return {}
        self.unknown_keys(provider, ("azureml",), ("provider",), "provider (amlrun knows only `azureml`)")
        azureml = provider["azureml"]
        self.unknown_keys(azureml, _PROVIDER, ("provider", "azureml"), "provider.azureml")
        workspace = azureml.get("workspace")
        if workspace is not None:
            if isinstance(workspace, dict):
                self.unknown_keys(workspace, _WORKSPACE, ("provider", "azureml", "workspace"), "the workspace")
            else:
                self.problem(("provider", "azureml", "workspace"), "`workspace` must be a mapping",
                             "write `workspace: {subscription_id: ..., resource_group: ..., workspace_name: ...}`")
        if "force_login" in azureml and not isinstance(azureml["force_login"], bool):
            self.problem(("provider", "azureml", "force_login"), "`force_login` must be true or false",
                         "write `force_login: false`", at_value=True)
        return azureml

    # data ----------------------------------------------------------------------------------------

    def _data(self) -> dict[str, Any]:
        data = self.raw.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(("data",), "`data` must be a mapping of named entries",
                         "write `data: {input_data: {type: dataset, parameter_name: ..., datastore: {name: ...}}}`")
            return {}
        return data

    def _datastores(self) -> None:
        for name, entry in self._data().items():
            where: FieldPath = ("data", name)
            if not isinstance(entry, dict):
                self.problem(where, f"data entry {name!r} must be a mapping",
                             "write `{type: dataset, parameter_name: ..., mount_path: ..., datastore: {name: ...}}`")
                continue
            kind = entry.get("type")
            if kind not in _DATA_TYPES:
                close = _close_matches(str(kind), _DATA_TYPES, n=1, cutoff=0.6)
                self.problem((*where, "type"), f"unknown data type {kind!r}",
                             f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(_DATA_TYPES)}",
                             at_value=True)
            allowed = ("type", "datastore", "description") + (
                ("input_parameter_name", "output_parameter_name") if kind == "pipelinedata"
                else ("parameter_name", "mount_path"))
            self.unknown_keys(entry, allowed, where, f"a {kind} entry")
            for key in allowed[3:]:
                if key != "mount_path" and (not isinstance(entry.get(key), str) or not entry.get(key)):
                    self.problem(where if key not in entry else (*where, key),
                                 f"data entry {name!r} needs `{key}` (the script's argument name)",
                                 f"add `{key}: {'input_path' if 'input' in key or key == 'parameter_name' else 'output_path'}`")
            ds = entry.get("datastore")
            if not isinstance(ds, dict) or not isinstance(ds.get("name"), str) or not ds.get("name"):
                self.problem((*where, "datastore"), f"data entry {name!r} needs `datastore: {{name: ...}}`",
                             "name the datastore holding the data (mapped locally through amlrun.yaml `datastores:`)")
                continue
            self._datastore(ds, (*where, "datastore"))

    def _datastore(self, ds: dict[str, Any], where: FieldPath) -> None:
        self.unknown_keys(ds, _DATASTORE, where, "a datastore")
        name = str(ds["name"])
        if not re.match(r"^[A-Za-z0-9_]+$", name):
            self.problem((*where, "name"), f"datastore name {name!r} may hold only letters, digits and underscores",
                         "rename it", at_value=True)
            return
        if "account_name" not in ds and "container_name" not in ds:
            return  # a datastore known by name: amlrun.yaml (or a local folder) says where it is
        credential: dict[str, Any] | str = "identity"
        variable = key_variable(name)
        if isinstance(ds.get("account_key_env"), str):
            credential = {"account_key_env": ds["account_key_env"]}
        elif "account_key" in ds:
            line = self.old.locate((*where, "account_key"))[0]
            if isinstance(ds["account_key"], str) and ds["account_key"]:
                os.environ[variable] = ds["account_key"]  # this process only: never written anywhere
                self.inline_keys[name] = variable
            credential = {"account_key_env": variable}
            _warn_once(f"{self.old.file}:{line}: datastore {name!r} has its account key written inline; it is used "
                       f"for this run only and never recorded. Keep it out of the file: export {variable}=<key> "
                       f"and write `account_key_env: {variable}` in place of `account_key`")
        entry = {"type": "azure_blob", "account_name": ds.get("account_name"),
                 "container_name": ds.get("container_name"), "credential": credential}
        if ds.get("endpoint"):
            entry["endpoint"] = ds["endpoint"]
        for required in ("account_name", "container_name"):
            if not isinstance(ds.get(required), str) or not ds.get(required):
                self.problem(where, f"datastore {name!r} gives an account but no `{required}`",
                             f"add `{required}: ...`, or keep only `name:` and declare it in amlrun.yaml")
        self.datastores[name] = entry

    # jobs ----------------------------------------------------------------------------------------

    def _environment(self, value: Any, where: FieldPath) -> tuple[dict[str, Any] | None, FieldPath]:
        """The inline conda definition a step names (inline, or by name under `environments`)."""
        if value is None:
            return None, where
        if isinstance(value, str):
            envs = self.raw.get("environments") or {}
            if not isinstance(envs, dict) or value not in envs:
                known = list(envs) if isinstance(envs, dict) else []
                close = _close_matches(value, known, n=1, cutoff=0.6)
                self.problem(where, f"environment {value!r} is not defined under `environments`",
                             f"did you mean {close[0]!r}?" if close else
                             f"add `environments: {{{value}: {{name: {value}, dependencies: [python=3.10]}}}}`",
                             at_value=True)
                return None, where
            value, where = envs[value], ("environments", value)
        if not isinstance(value, dict):
            self.problem(where, "an environment is a conda definition (`name:`, `dependencies:`) or the name of one",
                         "write `environment: {name: env, dependencies: [python=3.10, {pip: [...]}]}`")
            return None, where
        return value, where

    def _command(self, step: dict[str, Any], where: FieldPath, base: FieldPath, in_pipeline: bool,
                 producers: dict[str, str], step_name: str | None) -> dict[str, Any]:
        self.unknown_keys(step, _STEP, where, "a job")
        data = self._data()
        code = step.get("code")
        out: dict[str, Any] = {"type": "command"}
        folder, main = None, None
        if isinstance(code, dict):
            self.unknown_keys(code, ("folder", "main"), (*where, "code"), "code")
            folder, main = code.get("folder"), code.get("main")
        if not isinstance(folder, str) or not folder:
            self.problem((*where, "code"), "the job needs `code.folder` (the folder holding its scripts)",
                         "write `code: {folder: scripts, main: main.py}`")
        else:
            out["code"] = folder
            self.at((*base, "code"), (*where, "code", "folder"))
        if not isinstance(main, str) or not main:
            self.problem((*where, "code"), "the job needs `code.main` (the script to run)",
                         "write `code: {folder: scripts, main: main.py}`")
            main = "main.py"
        elif isinstance(folder, str) and not Path(self.folder, folder, main).is_file() \
                and Path(self.folder, folder).is_dir():
            self.problem((*where, "code", "main"), f"script {main!r} not found in {folder!r}",
                         "`main` is relative to `code.folder`", at_value=True)
        runner = _MAIN_KINDS.get(Path(main).suffix, "python")
        args: list[str] = []
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for direction in ("inputs", "outputs"):
            names = step.get(direction) or []
            if not isinstance(names, list):
                self.problem((*where, direction), f"`{direction}` must be a list of names of `data` entries",
                             f"write `{direction}: [{'input_data' if direction == 'inputs' else 'output_data'}]`")
                continue
            for index, name in enumerate(names):
                at: FieldPath = (*where, direction, index)
                entry = data.get(name) if isinstance(name, str) else None
                if not isinstance(entry, dict):
                    close = _close_matches(str(name), [str(k) for k in data], n=1, cutoff=0.6)
                    self.problem(at, f"{direction[:-1]} {name!r} is not an entry of `data`",
                                 f"did you mean {close[0]!r}?" if close else f"add `data: {{{name}: {{type: dataset, ...}}}}`",
                                 at_value=True)
                    continue
                port = self._port(str(name), entry, direction, at, in_pipeline, producers, step_name)
                if port is None:
                    continue
                kind, spec, argument = port
                (inputs if kind == "inputs" else outputs)[str(name)] = spec
                self.at((*base, kind, str(name)), at)
                args += [f"--{argument}", f"${{{{{kind}.{name}}}}}"]
        parameters = step.get("parameters") or {}
        if not isinstance(parameters, dict):
            self.problem((*where, "parameters"), "`parameters` must be a mapping of argument names to values",
                         "write `parameters: {input_file: test.txt}`")
            parameters = {}
        for key, value in parameters.items():
            at = (*where, "parameters", key)
            if key in inputs or key in outputs:
                self.problem(at, f"parameter {key!r} has the name of a data entry of this job",
                             "rename the parameter or the data entry")
                continue
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                self.problem(at, f"parameter name {key!r} cannot be an input name",
                             "use letters, digits and underscores")
                continue
            if value is None or isinstance(value, dict | list):
                self.problem(at, f"parameter {key!r} must be a single value", "write e.g. `epochs: 10`")
                continue
            inputs[str(key)] = value
            self.at((*base, "inputs", str(key)), at)
            args += [f"--{key}", f"${{{{inputs.{key}}}}}"]
        out["command"] = " ".join([runner, _quote(main), *args])
        self.at((*base, "command"), (*where, "code"))
        if inputs:
            out["inputs"] = inputs
        if outputs:
            out["outputs"] = outputs
        conda, env_at = self._environment(step.get("environment"), (*where, "environment"))
        if conda is not None:
            out["environment"] = {"image": _IMAGE, "conda_file": conda}
            self.at((*base, "environment"), env_at)
        return out

    def _port(self, name: str, entry: dict[str, Any], direction: str, at: FieldPath, in_pipeline: bool,
              producers: dict[str, str], step_name: str | None) -> tuple[str, dict[str, Any] | str, str] | None:
        """(inputs|outputs, the v2 port, the argument name) for data entry `name` listed at `at`."""
        kind = entry.get("type")
        ds = (entry.get("datastore") or {}).get("name") if isinstance(entry.get("datastore"), dict) else None
        if kind == "pipelinedata":
            if not in_pipeline:
                self.problem(at, f"{name!r} is pipelinedata, which only passes data between steps of a pipeline",
                             "use a `datareference` for a single job's output", at_value=True)
                return None
            if direction == "outputs":
                spec = {"type": "uri_folder", "mode": "rw_mount"}
                if ds:
                    spec["path"] = f"azureml://datastores/{ds}/paths/azureml/${{{{name}}}}/{name}/"
                return "outputs", spec, str(entry.get("output_parameter_name") or "output_path")
            producer = producers.get(name)
            if producer is None:
                self.problem(at, f"no step lists pipelinedata {name!r} under `outputs`",
                             "a pipelinedata entry is written by one step (its `outputs`) and read by later ones")
                return None
            if producer == step_name:
                self.problem(at, f"step {step_name!r} reads the pipelinedata {name!r} it writes",
                             "a step cannot read its own output; write it in one step and read it in another")
                return None
            return "inputs", f"${{{{parent.jobs.{producer}.outputs.{name}}}}}", \
                str(entry.get("input_parameter_name") or "input_path")
        mount = str(entry.get("mount_path") or "").strip("/")
        path = f"azureml://datastores/{ds}/paths/{mount}" if mount else f"azureml://datastores/{ds}/paths/"
        argument = str(entry.get("parameter_name") or name)
        if kind == "dataset":
            if direction == "outputs":
                self.problem(at, f"{name!r} is a dataset (read-only) but is listed under `outputs`",
                             "write outputs to a `datareference` (read-write) or a `pipelinedata`", at_value=True)
                return None
            return "inputs", {"type": "uri_folder", "path": path, "mode": "ro_mount"}, argument
        if kind == "datareference":
            # read-write wherever it is listed: a v2 output mounted rw sees what is there and may not exist yet
            return "outputs", {"type": "uri_folder", "path": path, "mode": "rw_mount"}, argument
        return None  # an unknown type: already reported

    def _command_job(self, job: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
        out = self._command(job, ("job",), (), False, {}, None)
        compute = job.get("compute_name") or provider.get("compute_name")
        if isinstance(compute, str) and compute:
            out["compute"] = f"azureml:{compute}"
            self.at(("compute",), ("job", "compute_name") if job.get("compute_name") else
                    ("provider", "azureml", "compute_name"))
        return out

    def _pipeline(self, jobs: Any, provider: dict[str, Any]) -> dict[str, Any]:
        steps: list[tuple[str, Any, FieldPath]] = []
        if isinstance(jobs, list):
            for index, item in enumerate(jobs):
                if not isinstance(item, dict) or len(item) != 1:
                    self.problem(("jobs", index), "each item of `jobs` is one `step_name: {...}` mapping",
                                 "write `- copy_data1: {code: {folder: ..., main: ...}, ...}`")
                    continue
                (name, body), = item.items()
                steps.append((str(name), body, ("jobs", index, name)))
        elif isinstance(jobs, dict):
            steps = [(str(name), body, ("jobs", name)) for name, body in jobs.items()]
        else:
            self.problem(("jobs",), "`jobs` must be a list of steps", "write `jobs: [{step_name: {...}}, ...]`")
        producers: dict[str, str] = {}
        seen: set[str] = set()
        for name, body, where in steps:
            if name in seen:
                self.problem(where, f"step {name!r} is written twice", "give each step its own name")
            seen.add(name)
            outputs = body.get("outputs") if isinstance(body, dict) else None
            for index, data_name in enumerate(outputs if isinstance(outputs, list) else []):
                if not isinstance(data_name, str):
                    continue
                entry = self._data().get(data_name)
                if isinstance(entry, dict) and entry.get("type") == "pipelinedata":
                    if data_name in producers:
                        self.problem((*where, "outputs", index), f"pipelinedata {data_name!r} is written by two "
                                     f"steps ({producers[data_name]!r} and {name!r})",
                                     "each pipelinedata has one writer; declare another entry", at_value=True)
                    producers.setdefault(data_name, name)
        doc: dict[str, Any] = {"type": "pipeline"}
        compute = provider.get("compute_name")
        settings: dict[str, Any] = {"force_rerun": True}
        if isinstance(compute, str) and compute:
            settings["default_compute"] = f"azureml:{compute}"
            self.at(("settings", "default_compute"), ("provider", "azureml", "compute_name"))
        doc["settings"] = settings
        doc["jobs"] = {}
        for name, body, where in steps:
            base: FieldPath = ("jobs", name)
            self.at(base, where)
            if not isinstance(body, dict):
                self.problem(where, f"step {name!r} must be a mapping", "write `code:`, `inputs:`, ... under it")
                continue
            step = self._command(body, where, base, True, producers, name)
            own = body.get("compute_name")
            if isinstance(own, str) and own:
                step["compute"] = f"azureml:{own}"
                self.at((*base, "compute"), (*where, "compute_name"))
            doc["jobs"][name] = step
        return doc


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


_WARNED: set[str] = set()


def warned() -> bool:
    """Whether loading printed a warning in this process (a run that did is never replayed silently)."""
    return bool(_WARNED)


def _warn_once(message: str) -> None:
    """Warnings go to stderr once per process (loading may happen more than once in one command)."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"[amlrun] warning: {message}", file=sys.stderr)


def convert_source(source: SpecSource) -> AzmlopsJob:
    """The v2 job an azmlops document means, with problems found (each at its azmlops line)."""
    converter = _Converter(source)
    document = converter.convert()
    provider = source.data.get("provider")
    azureml = provider.get("azureml") if isinstance(provider, dict) else None
    azureml = azureml if isinstance(azureml, dict) else {}
    workspace = azureml.get("workspace") if isinstance(azureml.get("workspace"), dict) else {}
    return AzmlopsJob(
        source=SpecSource(source.path, document, converter.map),
        datastores=converter.datastores,
        workspace=dict(workspace),
        tenant_id=azureml.get("tenant_id") if isinstance(azureml.get("tenant_id"), str) else None,
        force_login=azureml.get("force_login") is True,
        problems=list(dict.fromkeys(converter.problems)),
        inline_keys=converter.inline_keys,
    )


def job_source(source: SpecSource, problems: list[Problem] | None = None) -> SpecSource:
    """`source` itself, or for an azmlops file the v2 document it means.

    azmlops problems go to `problems` when given, else raise a SpecError.
    """
    if not is_azmlops(source.data):
        return source
    converted = convert_source(source)
    if converted.problems:
        if problems is None:
            raise SpecError(converted.problems)
        problems.extend(converted.problems)
    return converted.source


def read_job_yaml(path: str | Path, duplicates: list[Problem] | None = None) -> SpecSource:
    """read_yaml for a job file: an azmlops file is read as its v2 document (problems as `duplicates`)."""
    return job_source(read_yaml(path, duplicates=duplicates), duplicates)


def azmlops_for(path: Path | None) -> AzmlopsJob | None:
    """The converted azmlops file at `path`, or None when it is not one (or cannot be read)."""
    if path is None or not path.is_file():
        return None
    try:
        source = read_yaml(path)
    except SpecError:
        return None
    return convert_source(source) if is_azmlops(source.data) else None


def _close_matches(word: str, possibilities: list[str] | tuple[str, ...], n: int, cutoff: float) -> list[str]:
    import difflib  # only for a did-you-mean: not on a valid file's path

    return difflib.get_close_matches(word, possibilities, n=n, cutoff=cutoff)
