"""amlrun's own checks of job and component files: fast, no azure-ai-ml import.

Every problem of a file is listed, schema and semantic alike, in file/line order; a component
file's problems are reported at the component file's own lines.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from amlrun.errors import Problem, SpecError
from amlrun.spec.azmlops import is_azmlops
from amlrun.spec.node import Findings, Node
from amlrun.spec.overrides import Override
from amlrun.spec.source import read_yaml
from amlrun.spec.validate import collect_problems

__all__ = ["check_file", "check_file_with_notes", "load_checked_job", "looks_like_component", "spec_files"]


def check_file(path: Path, overrides: list[Override]) -> list[Problem]:
    """Problems amlrun itself finds in one job or component file (no azure-ai-ml import)."""
    return check_file_with_notes(path, overrides)[0]


def check_file_with_notes(path: Path, overrides: list[Override]) -> tuple[list[Problem], list[Problem], list[Path]]:
    """(problems, notes, files read): notes are fine for AzureML but worth a line (a step that runs
    on AzureML only); the files are the job and every component file it names, for cache keys."""
    try:
        source = read_yaml(path, duplicates=[])
    except SpecError as exc:
        return exc.problems, [], [path]
    from amlrun.spec.loader import load_component_collecting, load_job_collecting

    if looks_like_component(source.data) and not is_azmlops(source.data):
        node, findings = load_component_collecting(path)
    else:
        node, findings = load_job_collecting(path, overrides)
    problems = _blame_overrides(_all_problems(node, findings, source.source_map.file), overrides)
    return problems, findings.notes, spec_files(node) if node is not None else [path]


def spec_files(node: Node) -> list[Path]:
    """The job file and every component file under it, each once."""
    return list(dict.fromkeys(n.definition_source.path for n in node.walk()))


def load_checked_job(path: Path, overrides: list[Override]) -> Node:
    """A job file loaded and validated, or a SpecError listing every problem `amlrun check` would.

    A plain command job is loaded without pydantic (spec.lean: same Node, same problems); any other
    file, or one lean loading is not sure of, goes through the full loader."""
    from amlrun.spec.lean import load_lean_command_job

    lean = load_lean_command_job(path, overrides)
    if lean is not None:
        node, findings = lean
    else:
        from amlrun.spec.loader import load_job_collecting

        node, findings = load_job_collecting(path, overrides)
    problems = _blame_overrides(_all_problems(node, findings, _display(path)), overrides)
    if problems or node is None:
        raise SpecError(problems)
    return node


def _all_problems(node: Node | None, findings: Findings, here: str) -> list[Problem]:
    """Schema findings plus semantic problems (except about fields dropped), the file itself first."""
    problems = list(findings.problems)
    if node is not None:
        try:
            problems += [p for p in collect_problems(node) if not findings.covers(p)]
        except OSError as exc:  # a path the file names that the OS cannot even look at (too long, a loop)
            problems.append(_path_problem(node, exc))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file != here, p.file, p.line, p.col))


def _path_problem(node: Node, exc: OSError) -> Problem:
    """An OS error about a path the job names, at the line that writes it (or the file's first line)."""
    name = str(exc.filename or "")
    smap = node.source.source_map
    tail = Path(name).name[:60]
    index = smap.text.find(tail) if tail else -1
    line = smap.text.count("\n", 0, index) + 1 if index >= 0 else 1
    col = index - (smap.text.rfind("\n", 0, index) + 1) + 1 if index >= 0 else 1
    shown = name if len(name) <= 80 else name[:77] + "..."
    return Problem(smap.file, line, col, "", f"cannot look at {shown}: {exc.strerror or exc}",
                   "fix the path (each name at most 255 bytes, no link loops)")


def _blame_overrides(problems: list[Problem], overrides: list[Override]) -> list[Problem]:
    """Say so when a problem is in a value that came from `--set`, not from the file at that line."""
    if not overrides:
        return problems
    blamed = []
    for problem in problems:
        for key, value in overrides:
            made_by_set = problem.message.startswith("unknown field") and key.startswith(problem.field + ".")
            if problem.field == key or problem.field.startswith(key + ".") or made_by_set:
                problem = replace(problem, message=f"{problem.message} [from --set {key}={value}]")
                break
        blamed.append(problem)
    return blamed


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def looks_like_component(data: dict[str, Any]) -> bool:
    """Components and jobs share most fields; the schema URL, or a `version` without job-only keys, decide."""
    schema = str(data.get("$schema", ""))
    if "Component" in schema:
        return True
    if "Job" in schema:
        return False
    return "version" in data and "jobs" not in data and "experiment_name" not in data \
        and "compute" not in data and data.get("type") != "pipeline"


_looks_like_component = looks_like_component  # the name azureml/ imports
