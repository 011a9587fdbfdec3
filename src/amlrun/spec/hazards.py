"""Checks of values that the service refuses or that would misbehave once a step runs.

Each is a case where `check` once said ok and `run` then failed (or ran something else than
written): a `${{` never closed reaches bash, a port name that is not an identifier lands in a
command line, a timeout of -1, a variable given a mapping, an output written to a local folder
outside every datastore. `check` and `run` share `collect_problems`, so both refuse these alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from amlrun.errors import Problem
from amlrun.spec.bindings import BINDING_RE
from amlrun.spec.node import Node
from amlrun.spec.source import FieldPath

__all__ = ["hazard_problems"]

_PORT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*$")  # azure-ai-ml's IO name rule
_SYSTEM_TOPS = {"", "usr", "bin", "sbin", "lib", "lib32", "lib64", "var", "run", "home", "opt", "srv", "mnt", "media",
                "root", "Users", "System", "Library", "Applications", "private", "Volumes"}
_SYSTEM_TREES = {"etc", "proc", "sys", "dev", "boot"}  # no job's code lives anywhere below these
_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def hazard_problems(node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if node.kind == "remote":  # a step only AzureML runs (automl, sweep, ...): its fields are the service's
        return problems
    definition = node.definition
    _port_names(node, problems)
    for field in ("command",):
        text = getattr(definition, field, None)
        if isinstance(text, str):
            _unclosed(node, (field,), text, problems)
    task = getattr(definition, "task", None)
    if task is not None and isinstance(task.program_arguments, str):
        _unclosed(node, ("task", "program_arguments"), task.program_arguments, problems)
    _limits(node, problems)
    _environment_variables(node, problems)
    _local_outputs(node, problems)
    _code_folder(node, problems)
    return problems


def _at(node: Node, fields: tuple[str | int, ...], message: str, hint: str, *, needle: str | None = None,
        at_value: bool = True) -> Problem:
    """A problem at a field of the node's definition (the job itself, or its component file)."""
    smap = node.definition_source.source_map
    return smap.problem((*(node.definition_path or ()), *fields), message, hint, at_value=at_value, needle=needle)


def _port_names(node: Node, problems: list[Problem]) -> None:
    for section in ("inputs", "outputs"):
        for name in getattr(node.definition, section):
            if not _PORT_NAME.fullmatch(str(name)):
                fixed = re.sub(r"\W", "_", str(name)).strip("_") or "data"
                problems.append(_at(node, (section, name), f"{section[:-1]} name {name!r} is not valid in AzureML",
                                    f"use letters, digits and '_', not starting with a digit, e.g. {fixed!r}",
                                    at_value=False))


def _unclosed(node: Node, fields: FieldPath, text: str, problems: list[Problem]) -> None:
    """A `${{` that does not start a whole expression (unclosed, or with spaces inside) goes to bash as is."""
    covered = [m.span() for m in BINDING_RE.finditer(text)]
    for match in re.finditer(r"\$\{\{", text):
        if any(start == match.start() for start, _ in covered):
            continue
        end = text.find("}}", match.end())
        shown = text[match.start():end + 2 if end >= 0 else match.start() + 40].splitlines()[0]
        why = "is never closed by `}}`" if end < 0 else "is not one expression (no spaces inside ${{...}})"
        problems.append(_at(node, fields, f"{shown!r} {why}",
                            "write ${{inputs.<name>}}, ${{outputs.<name>}} or ${{name}}", needle="${{"))
        break
    if text.count("$[[") > text.count("]]"):
        problems.append(_at(node, fields, "a `$[[` optional fragment is never closed by `]]`",
                            "write $[[--flag ${{inputs.<name>}}]]", needle="$[["))


def _limits(node: Node, problems: list[Problem]) -> None:
    limits = node.settings.get("limits") or getattr(node.definition, "limits", None)
    timeout = getattr(limits, "timeout", None)
    if timeout is not None and timeout <= 0:
        where = ("limits", "timeout")
        smap, path = ((node.source.source_map, (*node.path, *where)) if node.settings.get("limits")
                      else (node.definition_source.source_map, (*(node.definition_path or ()), *where)))
        problems.append(smap.problem(path, f"limits.timeout must be a positive number of seconds, got {timeout}",
                                     "give the most seconds the step may run, e.g. `timeout: 3600`, or remove it",
                                     at_value=True))
    retry = node.settings.get("retry_settings") or getattr(node.definition, "retry_settings", None)
    for name in ("timeout", "max_retries"):
        value = getattr(retry, name, None)
        if value is not None and (value < 0 or (name == "timeout" and value == 0)):
            problems.append(_at(node, ("retry_settings", name), f"retry_settings.{name} cannot be {value}",
                                "give a positive number" if name == "timeout" else "give 0 or more"))


def _environment_variables(node: Node, problems: list[Problem]) -> None:
    for owner, values in (("definition", getattr(node.definition, "environment_variables", None)),
                          ("step", node.settings.get("environment_variables"))):
        for key, value in (values or {}).items():
            if isinstance(value, dict | list):
                kind = "a mapping" if isinstance(value, dict) else "a list"
                message = f"environment variable {key!r} is given {kind}; variables hold text"
                hint = f"quote it as one string, e.g. `{key}: \"...\"`"
                if owner == "definition":
                    problems.append(_at(node, ("environment_variables", key), message, hint))
                else:
                    problems.append(node.source.source_map.problem(
                        (*node.path, "environment_variables", key), message, hint, at_value=True))


def _local_outputs(node: Node, problems: list[Problem]) -> None:
    """AzureML writes outputs to datastores only: an absolute local folder would be written outside all of them.

    (A relative path stays: amlrun writes it beside the YAML, inside the project.)"""
    for scope, ports in (("step", node.outputs), ("definition", node.definition.outputs)):
        for name, spec in ports.items():
            path: Any = getattr(spec, "path", None)
            text = path.strip() if isinstance(path, str) else ""
            if not (text.startswith(("/", "~", "\\")) or text.lower().startswith("file:") or _DRIVE.match(text)):
                continue
            smap, where = ((node.source.source_map, (*node.path, "outputs", name, "path")) if scope == "step"
                           else (node.definition_source.source_map,
                                 (*(node.definition_path or ()), "outputs", name, "path")))
            problems.append(smap.problem(
                where, f"output {name!r} is written to the local folder {path!r}; AzureML writes outputs only "
                "to datastores", "declare a datastore for that folder in amlrun.yaml (`datastores: {mine: "
                f"{{type: local, path: {path}}}}}`) and write `path: azureml://datastores/mine/paths/<folder>`",
                at_value=True))


def _code_folder(node: Node, problems: list[Problem]) -> None:
    """`code: /etc` or `code: ~`: a snapshot (and an upload to AzureML) of a whole system or home folder."""
    task = getattr(node.definition, "task", None)
    for fields, code in ((("code",), getattr(node.definition, "code", None)),
                         (("task", "code"), getattr(task, "code", None))):
        if not isinstance(code, str) or not code.strip() or "://" in code or code.startswith("azureml:"):
            continue
        folder = (node.definition_source.folder / Path(code).expanduser()).resolve()
        top = folder.parts[1] if len(folder.parts) > 1 else ""
        if (len(folder.parts) <= 2 and top in _SYSTEM_TOPS) or top in _SYSTEM_TREES or folder == Path.home().resolve():
            problems.append(_at(node, fields, f"code {code!r} is {folder}, a system folder: the snapshot (and the "
                                "upload to AzureML) would hold all of it", "point `code` at the job's own source "
                                "folder, e.g. `code: ./src`"))
