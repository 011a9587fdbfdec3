"""Decide how a job's environment becomes a process locally: the host interpreter, a uv venv or a container.

Deciding reads files only (conda files, requirements, Dockerfiles, pyproject.toml) and starts nothing;
`EnvPlan.prepare` then builds what is missing (a venv, an image) just before the step runs.

`--env auto` (the default), per step:
- an environment that declares Python packages (`conda_file`, a `build.path` whose Dockerfile pip-installs
  or that holds requirements.txt, or a code folder that is a member of a uv project) -> a cached venv;
- one naming only an image or a curated/registered environment, or none -> the host interpreter, said so.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.envs.choice import EnvChoice
from amlrun.envs.definition import (
    PythonDefinition,
    from_conda,
    from_dockerfile,
    from_requirements_file,
    read_conda_file,
)
from amlrun.envs.pythons import choose
from amlrun.envs.venvs import VenvSpec, ensure_venv
from amlrun.errors import EnvironmentError_

__all__ = ["RUNTIME", "EnvPlan", "resolve_environment"]

RUNTIME = Path(__file__).resolve().parent / "runtime"  # azureml_user: on a step's PYTHONPATH, never installed

# Inherited variables that would point a venv's Python at another interpreter's packages.
_FOREIGN = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONUSERBASE",
            "__PYVENV_LAUNCHER__")


@dataclass(frozen=True)
class EnvPlan:
    """How to run a process for one environment. `fingerprint` feeds step cache keys."""

    strategy: str  # host | venv | container
    description: str
    python: str
    fingerprint: str
    path_prefix: tuple[str, ...] = field(default_factory=tuple)
    venv: VenvSpec | None = None
    container: Any = None  # a ContainerSpec (envs.container)
    notes: tuple[str, ...] = ()  # said once when the step starts (conda-only packages, a stand-in Python)
    problem: EnvironmentError_ | None = None  # what stops it being built (a missing conda file), raised by prepare

    @property
    def label(self) -> str:
        """A short name for `show` and summaries."""
        if self.venv is not None:
            return f"venv {self.venv.key} ({self.venv.definition.source}, Python {self.venv.interpreter.label})"
        if self.container is not None:
            return f"container {self.container.label}"
        return "host interpreter"

    @property
    def amlrun_importable(self) -> bool:
        """Whether amlrun's own modules can be imported in the step's Python (only on the host)."""
        return self.strategy == "host"

    def prepare(self, progress: Any) -> list[str]:
        """Build what is missing (progress lines go to `progress`); returns what the build found worth saying."""
        if self.problem is not None:
            raise self.problem
        if self.venv is not None:
            marker = ensure_venv(self.venv, progress)
            if marker.get("pip") is False:
                return ["pip could not be put into this venv: a job's own `pip install` will fail"]
        if self.container is not None:
            self.container.prepare(progress)
        return []

    def process_env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.venv is not None:
            for name in _FOREIGN:
                env.pop(name, None)
            env["VIRTUAL_ENV"] = str(self.venv.folder)
        if self.path_prefix:
            env["PATH"] = os.pathsep.join((*self.path_prefix, env.get("PATH", "")))
        return env


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _definition_payload(spec: Any, base_dir: Path | None) -> Any:
    """The environment *definition* (and its conda file's content, if local), for host fingerprints."""
    if spec is None:
        return None
    payload = spec.model_dump(exclude_none=True, by_alias=True)
    conda = payload.get("conda_file")
    if isinstance(conda, str) and base_dir is not None and (base_dir / conda).is_file():
        payload["conda_file"] = (base_dir / conda).read_text(encoding="utf-8", errors="replace")
    return payload


def _described(spec: Any) -> str:
    if spec is None:
        return "no environment given"
    if spec.reference:
        return spec.reference
    if spec.image and not spec.conda_file:
        return f"image {spec.image}"
    if spec.build:
        return f"build {spec.build.path}"
    return "inline environment"


def python_definition(spec: Any, base_dir: Path, code_dir: Path | None) -> PythonDefinition | None:
    """The Python packages an environment declares, or None when it declares none."""
    if spec is not None and spec.conda_file is not None:
        conda = spec.conda_file
        if isinstance(conda, dict):
            definition = from_conda(conda, "the inline conda_file", base_dir)
        else:
            path = (base_dir / conda).resolve()
            if not path.is_file():
                raise EnvironmentError_(f"conda_file {conda!r} does not exist (resolved to {path})",
                                        hint="conda_file is relative to the YAML file that declares the environment")
            definition = read_conda_file(path)
            definition.source = _shown(path)
            definition.files.append(path)
        return _substitute(definition)
    if spec is not None and spec.build is not None and "://" not in spec.build.path:
        context = (base_dir / spec.build.path).resolve()
        dockerfile = context / (spec.build.dockerfile_path or "Dockerfile")
        if dockerfile.is_file():
            definition = from_dockerfile(dockerfile, context)
            if definition.requirements or definition.python:
                return _substitute(definition)
        requirements = context / "requirements.txt"
        if requirements.is_file():
            return _substitute(from_requirements_file(requirements))
        if dockerfile.is_file():
            return None
    return uv_project_member(code_dir)


def uv_project_member(code_dir: Path | None) -> PythonDefinition | None:
    """A code folder that is (inside) a package of a uv project: that package, editable, with its dependencies."""
    if code_dir is None:
        return None
    import tomllib

    member: Path | None = None
    for folder in (code_dir, *code_dir.parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            if (folder / ".git").exists():
                break
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            break
        if member is None and "project" in data:
            member = folder
            requires = data["project"].get("requires-python")
        if "workspace" in data.get("tool", {}).get("uv", {}) or (folder / "uv.lock").is_file():
            if member is None:
                return None
            definition = PythonDefinition(source=f"uv project {_shown(member)}", project=member)
            definition.python = requires.replace(" ", "").split(",")[0] if requires else None
            definition.files.extend(p for p in (member / "pyproject.toml", folder / "uv.lock") if p.is_file())
            return definition
        if (folder / ".git").exists():
            break
    return None


def _substitute(definition: PythonDefinition) -> PythonDefinition:
    """azureml-fsspec needs a workspace: amlrun's stand-in serves `azureml://` locally (it needs fsspec)."""
    from amlrun.envs.definition import Requirement

    kept = []
    for req in definition.requirements:
        if req.name and req.name.lower().replace("_", "-") == "azureml-fsspec":
            kept.append(Requirement("fsspec", req.file, req.lineno))
        else:
            kept.append(req)
    definition.requirements = kept
    return definition


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _host(spec: Any, base_dir: Path | None, why: str, declared: PythonDefinition | None = None) -> EnvPlan:
    bin_dir = str(Path(sys.executable).parent)
    notes = []
    if declared is not None and declared.packages:
        missing = _missing_on_host(declared.packages)
        if missing:
            notes.append(f"{declared.source} declares packages this interpreter lacks: {', '.join(missing)} "
                         "(--env auto builds a venv with them)")
    return EnvPlan(
        strategy="host",
        description=f"{_described(spec)} -> host interpreter ({sys.executable}){why}; a `pip install` in the job "
                    "goes to the step's folder, not amlrun's environment",
        python=sys.executable,
        fingerprint=_digest(["host", _definition_payload(spec, base_dir)]),
        path_prefix=(bin_dir,),
        notes=tuple(notes),
    )


def _missing_on_host(packages: list[str]) -> list[str]:
    from importlib import metadata

    missing = []
    for name in packages:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _venv(spec: Any, definition: PythonDefinition, choice: EnvChoice) -> EnvPlan:
    interpreter, exact = choose(definition.python)
    notes = list(definition.notes)
    if not exact:
        if choice.strict_python:
            raise EnvironmentError_(
                f"{definition.source} asks for Python {definition.python}, which is not on this machine",
                hint=f"install it (`uv python install {definition.python}`), or drop --strict-python to build "
                     f"with the nearest available Python ({interpreter.label})")
        notes.append(f"Python {definition.python} is not on this machine: building with Python {interpreter.label} "
                     "(the nearest available; `uv python install` it to use it)")
    if definition.conda_only:
        notes.append(f"conda packages are not installed in a venv: {', '.join(definition.conda_only)}; "
                     "list them under `pip:` in the conda file, or map the environment in amlrun.yaml")
    venv = VenvSpec.of(definition, interpreter, exact)
    state = "cached" if venv.built else "to build"
    bin_dir = str(venv.folder / "bin")
    return EnvPlan(
        strategy="venv",
        description=f"{_described(spec)} -> venv {venv.key} from {definition.source} "
                    f"(Python {interpreter.label}, {len(definition.packages)} package"
                    f"{'s' if len(definition.packages) != 1 else ''}; {state})",
        python=venv.python,
        fingerprint=venv.key,
        path_prefix=(bin_dir,),
        venv=venv,
        notes=tuple(notes),
    )


def _mapped_definition(value: str, choice: EnvChoice) -> PythonDefinition:
    path = Path(os.path.expanduser(value))
    path = (path if path.is_absolute() else choice.folder / path).resolve()
    if not path.is_file():
        raise EnvironmentError_(f"amlrun.yaml environments: venv file {value!r} does not exist (resolved to {path})",
                                hint="venv: names a requirements file or a conda file, relative to amlrun.yaml")
    definition = read_conda_file(path) if path.suffix in (".yml", ".yaml") else from_requirements_file(path)
    definition.source = _shown(path)
    definition.files.append(path)
    return _substitute(definition)


def resolve_environment(spec: Any, base_dir: Path | None, choice: EnvChoice | None = None,
                        step: str | None = None, code_dir: Path | None = None) -> EnvPlan:
    """The environment a step runs in. `spec` is an EnvironmentSpec or None; `step` its pipeline path."""
    choice = choice or EnvChoice()
    base = base_dir or Path.cwd()
    mode = choice.mode
    entry = choice.entry_for(spec, step)
    if entry is not None and choice.forced and not (isinstance(entry[1], dict) and entry[1].get("container")):
        entry = None  # --env container: only the mapping's images apply
    if entry is not None:
        _, value = entry
        if isinstance(value, str):
            mode = value
        elif isinstance(value, dict) and value.get("venv"):
            return _venv(spec, _mapped_definition(str(value["venv"]), choice), choice)
        elif isinstance(value, dict) and value.get("container"):
            from amlrun.envs.container import container_plan

            return container_plan(spec, base, choice, mapped=str(value["container"]))
    if mode == "container":
        from amlrun.envs.container import container_plan

        return container_plan(spec, base, choice)
    try:
        definition = python_definition(spec, base, code_dir) if base_dir is not None or spec is not None else None
    except EnvironmentError_ as exc:  # the step fails when it starts (AzureML's image build would); `check` passes
        return EnvPlan(strategy="venv", description=f"{_described(spec)} -> cannot be built: {exc.message}",
                       python=sys.executable, fingerprint=_digest(["broken", _definition_payload(spec, base_dir)]),
                       problem=exc)
    if mode == "host":
        return _host(spec, base_dir, " (--env host)" if choice.forced else " (amlrun.yaml)", definition)
    if definition is None:
        why = {None: ""}.get(getattr(spec, "reference", None), ": a registered/curated environment is not "
                             "available locally; map it in amlrun.yaml `environments:` to build one")
        if spec is not None and not spec.reference and spec.image:
            why = ": an image alone declares no Python packages (--env container runs it)"
        return _host(spec, base_dir, why)
    return _venv(spec, definition, choice)

