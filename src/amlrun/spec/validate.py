"""Semantic checks the schema cannot express: bindings, DAG cycles, files that must exist.

azure-ai-ml passes several of these (an undefined `${{inputs.x}}` in a command, a cycle, a
parallel task without `entry_script`); the service then fails minutes later. amlrun fails now.
"""

from __future__ import annotations

import graphlib
import re
from pathlib import Path
from typing import Any

from amlrun.errors import Problem, SpecError
from amlrun.spec.bindings import BINDING_RE, OPTIONAL_RE, is_pure_binding, parse_reference
from amlrun.spec.hazards import hazard_problems
from amlrun.spec.node import Node
from amlrun.spec.source import FieldPath, SourceMap
from amlrun.spec.vocabulary import DEFAULT_OUTPUTS

__all__ = ["collect_problems", "step_dependencies", "validate_node"]


def validate_node(root: Node) -> None:
    problems = collect_problems(root)
    if problems:
        raise SpecError(problems)


def collect_problems(root: Node) -> list[Problem]:
    problems: list[Problem] = []
    _check(root, None, problems)
    problems.extend(p for node in root.walk() for p in hazard_problems(node))
    # the same component file used by several steps reports once
    unique = list(dict.fromkeys(problems))
    return unique


def _def_at(node: Node, *fields: str | int) -> tuple[SourceMap, FieldPath]:
    """Where a field of the node's definition is written (the job itself, or its component)."""
    return node.definition_source.source_map, (*(node.definition_path or ()), *fields)


def _problem(node: Node, fields: tuple[str | int, ...], message: str, hint: str, *, at_value: bool = False,
             needle: str | None = None) -> Problem:
    smap, path = _def_at(node, *fields)
    return smap.problem(path, message, hint, at_value=at_value, needle=needle)


_RESERVED_INPUT_NAMES = {"path", "ld_library_path", "user", "logname", "home", "pwd", "shell"}


AT_RUN_TIME = "AzureML would refuse this at run time"
"""Said where amlrun is stricter than azure-ai-ml's offline checks, and right: the service fails the job."""


def _check(node: Node, parent: Node | None, problems: list[Problem]) -> None:
    if node.kind == "remote":  # only AzureML runs it: its own fields are the service's to judge
        if parent is not None:
            _check_wiring(node, parent, problems)
        return
    definition = node.definition
    declared_in = dict(definition.inputs)
    declared_out = dict(definition.outputs)
    if node.kind == "command":
        if not getattr(definition, "command", None):
            problems.append(_problem(node, ("command",), "a command job needs a `command`",
                                     "add `command: python train.py ...`"))
        else:
            _check_template(node, ("command",), definition.command, declared_in, declared_out, problems)
    if node.kind == "parallel":
        _check_parallel(node, declared_in, declared_out, problems)
    if node.from_component:
        for name in declared_in:
            if name.lower() in _RESERVED_INPUT_NAMES:
                problems.append(_problem(node, ("inputs", name), f"input name {name!r} is reserved by AzureML",
                                         f"rename it, e.g. {name + '_in'!r}"))
        name = getattr(definition, "name", None) if parent is None else None  # inline use: anonymous
        if name and not re.fullmatch(r"[a-z][a-z0-9_]{0,254}", str(name)):
            problems.append(_problem(node, ("name",), f"component name {name!r} is not valid in AzureML",
                                     "use lowercase letters, digits and '_', starting with a letter, "
                                     f"e.g. {re.sub(r'[^a-z0-9_]', '_', str(name).lower())!r}", at_value=True))
    code = getattr(definition, "code", None)
    if code and node.kind == "command" and not _is_remote(code):
        folder = (node.definition_source.folder / code).resolve()
        if folder.is_file():
            problems.append(_problem(node, ("code",), f"code {code!r} is a file, not a folder: {folder}",
                                     f"point `code` at the folder holding it, e.g. `code: "
                                     f"{Path(str(code)).parent.as_posix()}`", at_value=True))
        elif not folder.is_dir():
            problems.append(_problem(node, ("code",), f"code folder {code!r} does not exist: {folder}",
                                     f"create it or fix the path; `code` is relative to "
                                     f"{node.definition_source.path.name}", at_value=True))
    _check_literals(node, declared_in, problems)
    if parent is not None:
        _check_fed_literals(node, parent, problems)
    if parent is not None:
        _check_wiring(node, parent, problems)
    if node.kind == "pipeline":
        _check_cycles(node, problems)
        _check_output_collisions(node, problems)
        for child in node.children.values():
            _check(child, node, problems)


def _check_template(node: Node, fields: tuple[str, ...], text: str, inputs: dict[str, Any],
                    outputs: dict[str, Any], problems: list[Problem]) -> None:
    """Every `${{...}}` in a command (or program_arguments) must name something declared."""
    optional_parts = " ".join(m.group(1) for m in OPTIONAL_RE.finditer(text))

    def report(needle: str, message: str, hint: str) -> None:
        problems.append(_problem(node, fields, message, hint, needle=needle))

    for match in BINDING_RE.finditer(text):
        needle, inner = match.group(0), match.group(1)
        ref = parse_reference(inner)
        if ref is None or ref.kind not in ("input", "output", "name", "default_datastore", "output_name"):
            scope = "a step's own command sees its own inputs/outputs, not the pipeline's; " \
                if inner.startswith("parent.") else ""
            report(needle, f"unknown binding {needle}",
                   scope + "use ${{inputs.<name>}}, ${{outputs.<name>}}, ${{name}} or ${{default_datastore}}")
            continue
        if ref.kind == "input" and ref.name not in inputs:
            # a job (not a component) cannot declare an input optional: one named only
            # inside $[[...]] is simply not given this time
            if not node.from_component and needle in optional_parts:
                continue
            report(needle, f"{needle} names an input that is not declared", _declare_hint("inputs", ref.name, inputs))
        elif ref.kind == "output" and ref.name not in outputs:
            report(needle, f"{needle} names an output that is not declared",
                   _declare_hint("outputs", ref.name, outputs))
        elif ref.kind == "input":
            decl = inputs[ref.name]
            if decl.optional and needle not in optional_parts:
                report(needle, f"optional input {ref.name!r} is used outside $[[...]]",
                       f"wrap it so it vanishes when not given: $[[--{ref.name} ${{{{inputs.{ref.name}}}}}]]")


def _declare_hint(section: str, name: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"declare it under `{section}:` or fix the name"


def _check_literals(node: Node, declared: dict[str, Any], problems: list[Problem]) -> None:
    given = node.inputs
    for name, spec in given.items():
        if spec is not None and getattr(spec, "path", None) is not None and not str(spec.path).strip():
            problems.append(node.source.source_map.problem(
                (*node.path, "inputs", name), f"input {name!r} has an empty path",
                "give a file, folder or URI, e.g. `path: ./data`, or drop the input", at_value=True))
            continue
        decl = declared.get(name)
        if decl is None:
            if node.from_component:
                problems.append(node.source.source_map.problem(
                    (*node.path, "inputs", name), f"input {name!r} is not declared by the component; "
                    f"{AT_RUN_TIME}", _declare_hint("inputs", name, declared)))
            continue
        value = spec.value if spec is not None else None
        if value is None or is_pure_binding(value) is not None:
            continue
        type_ = decl.type
        where = (*node.path, "inputs", name)
        if isinstance(node.source.data, dict) and _has_value_key(node, name):
            where = (*where, "value")
        if not _fits(value, type_):
            problems.append(node.source.source_map.problem(
                where, f"input {name!r} is declared {_a(type_)}, got {value!r}",
                f"give {_a(type_)}, e.g. `{name}: {_EXAMPLE.get(type_, '...')}`", at_value=True))
        elif decl.enum and value not in decl.enum:
            problems.append(node.source.source_map.problem(
                where, f"input {name!r} is {value!r}, not one of its allowed values; {AT_RUN_TIME}",
                "allowed: " + ", ".join(map(str, decl.enum)), at_value=True))
        elif type_ in ("integer", "number") and not _within(float(value), decl.min, decl.max):
            problems.append(node.source.source_map.problem(
                where, f"input {name!r} is {value!r}, outside its declared range",
                f"give a value between {_bound(decl.min, '-inf')} and {_bound(decl.max, 'inf')}", at_value=True))
    # a declared default must fit its own type too
    for name, decl in declared.items():
        if decl.default is not None and not _fits(decl.default, decl.type):
            problems.append(_problem(node, ("inputs", name, "default"),
                                     f"default of input {name!r} is not {_a(decl.type)}: {decl.default!r}",
                                     f"give {_a(decl.type)} default, e.g. `default: {_EXAMPLE.get(decl.type, '...')}`",
                                     at_value=True))


_EXAMPLE = {"integer": "3", "number": "0.5", "boolean": "true", "string": "text"}


def _a(type_: str | None) -> str:
    return f"an {type_}" if type_ and type_[0] in "aeiou" else f"a {type_}"


def _is_remote(code: str) -> bool:
    """A registered code asset or a URL: nothing to find on this disk (the service fetches it)."""
    return code.startswith(("azureml:", "http://", "https://", "git+", "git://"))


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _bound(value: float | None, missing: str) -> str:
    if value is None:
        return missing
    return str(int(value)) if float(value).is_integer() else str(value)


def _has_value_key(node: Node, name: str) -> bool:
    """Whether the step writes `name: {value: ...}` (then point at that value) rather than `name: ...`."""
    data: Any = node.source.data
    for part in (*node.path, "inputs", name):
        data = data.get(part) if isinstance(data, dict) else None
    return isinstance(data, dict) and "value" in data


def _check_fed_literals(node: Node, parent: Node, problems: list[Problem]) -> None:
    """A pipeline's literal input bound to a typed step input must fit that type too.

    The bad value is written at the pipeline's input, so that is where the problem is reported.
    """
    for name, spec in node.inputs.items():
        decl = node.definition.inputs.get(name)
        ref = is_pure_binding(spec.value) if spec is not None else None
        if decl is None or ref is None or ref.kind != "parent_input" or decl.type not in _EXAMPLE:
            continue
        fed = parent.definition.inputs.get(ref.name)
        value = None if fed is None else (fed.value if fed.value is not None else fed.default)
        if value is None or is_pure_binding(value) is not None or _fits(value, decl.type):
            continue
        if fed.type is not None and not _fits(value, fed.type):
            continue  # reported against the pipeline input's own type already
        field = "value" if fed.value is not None and fed.type is not None else "default"
        path: FieldPath = (*parent.definition_path, "inputs", ref.name)
        if fed.type is not None and isinstance(_raw(parent, path), dict):
            path = (*path, field)
        smap = parent.definition_source.source_map
        problems.append(smap.problem(
            path, f"pipeline input {ref.name!r} is {value!r}, but step {node.name!r} takes it as "
            f"{_a(decl.type)} ({name!r})", f"give {_a(decl.type)}, e.g. `{_EXAMPLE[decl.type]}`", at_value=True))


def _raw(node: Node, path: FieldPath) -> Any:
    data: Any = node.definition_source.data
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _fits(value: Any, type_: str | None) -> bool:
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        return isinstance(value, str) and value.strip().lstrip("-+").isdigit()
    if type_ == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        try:
            float(value)
            return True
        except (TypeError, ValueError):
            return False
    if type_ == "boolean":
        return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
    return True


def step_dependencies(pipeline: Node) -> dict[str, set[str]]:
    """Step -> the steps whose outputs it binds (the DAG comes from bindings alone)."""
    deps: dict[str, set[str]] = {}
    for name, child in pipeline.children.items():
        found: set[str] = set()
        for spec in child.inputs.values():
            ref = is_pure_binding(spec.value) if spec is not None else None
            if ref is not None and ref.kind in ("step_output", "step_input"):
                found.add(ref.step)
        deps[name] = found
    return deps


def _binding_at(node: Node, where: FieldPath, binding: str) -> FieldPath:
    """Where a step's binding is written: the port itself, or the `path:`/`value:` of its long form."""
    data: Any = node.source.data
    for part in where:
        data = data.get(part) if isinstance(data, dict) else None
    if isinstance(data, dict):
        for key in ("path", "value"):
            if data.get(key) == binding:
                return (*where, key)
    return where


def _check_wiring(node: Node, parent: Node, problems: list[Problem]) -> None:
    smap = node.source.source_map
    declared_out = dict(node.definition.outputs)
    for port, section in ((node.inputs, "inputs"), (node.outputs, "outputs")):
        for name, spec in port.items():
            value = spec.value if spec is not None else None
            if not isinstance(value, str) or "${{" not in value:
                continue
            ref = is_pure_binding(value)
            where = _binding_at(node, (*node.path, section, name), value)

            def report(message: str, hint: str, where: FieldPath = where) -> None:
                problems.append(smap.problem(where, message, hint, at_value=True))

            if ref is None:
                report(f"unknown binding {value!r}", "bind to ${{parent.inputs.<name>}}, ${{parent.outputs.<name>}} "
                       "or ${{parent.jobs.<step>.outputs.<name>}}")
                continue
            if section == "outputs" and ref.kind != "parent_output":
                report(f"a step output can only bind to ${{{{parent.outputs.<name>}}}}, not {value.strip()}",
                       "bind it to a pipeline output or remove the binding")
                continue
            if ref.kind == "parent_input" and ref.name not in parent.definition.inputs:
                report(f"{value.strip()}: the pipeline has no input {ref.name!r}",
                       _declare_hint("inputs", ref.name, dict(parent.definition.inputs)))
            elif ref.kind == "parent_output" and ref.name not in parent.definition.outputs:
                report(f"{value.strip()}: the pipeline has no output {ref.name!r}",
                       _declare_hint("outputs", ref.name, dict(parent.definition.outputs)))
            elif ref.kind in ("step_output", "step_input"):
                step = parent.children.get(ref.step)
                ports = "outputs" if ref.kind == "step_output" else "inputs"
                if ref.step in parent.broken or (step is not None and step.kind == "remote"):
                    continue  # reported already, or a step only AzureML runs (its ports are its own)
                if step is None:
                    report(f"{value.strip()}: there is no step {ref.step!r} in this pipeline",
                           _declare_hint("jobs", ref.step, dict(parent.children)))
                elif ref.step == node.name:
                    report(f"step {node.name!r} binds its own {ports[:-1]}", "a step cannot consume what it produces")
                elif ports == "outputs" and ref.name in DEFAULT_OUTPUTS and step.kind == "command" \
                        and ref.name not in step.definition.outputs:
                    if not node.from_component and getattr(spec, "type", None) is None:
                        report(f"{value.strip()}: step {ref.step!r} does not declare its default output "
                               f"{ref.name!r}, and this input has no type to take from it (azure-ai-ml refuses "
                               "this binding)", f"give this input `type: uri_folder` and the binding as `path:`, "
                               f"or add `outputs:` with an empty `{ref.name}:` to step {ref.step!r}")
                elif ref.name not in getattr(step.definition, ports):
                    known = dict(getattr(step.definition, ports))
                    report(f"{value.strip()}: step {ref.step!r} has no {ports[:-1]} {ref.name!r}",
                           _declare_hint(ports, ref.name, known) if known else f"step {ref.step!r} has no {ports}")
            elif ref.kind in ("input", "output"):
                report(f"unknown binding {value.strip()} in a step's {section}",
                       f"a step's {section} are wired in the pipeline's scope: use ${{{{parent.inputs.<name>}}}} "
                       "or ${{parent.jobs.<step>.outputs.<name>}}")
    if node.from_component:
        for name in node.outputs:
            if name not in declared_out and not (name in DEFAULT_OUTPUTS and node.kind == "command"):
                problems.append(smap.problem((*node.path, "outputs", name),
                                             f"output {name!r} is not declared by the component",
                                             _declare_hint("outputs", name, declared_out)))
    # required inputs must be given
    for name, decl in node.definition.inputs.items() if node.from_component else ():
        if decl.optional or decl.default is not None or decl.path is not None or decl.value is not None:
            continue
        if name not in node.inputs and node.from_component:
            problems.append(smap.problem((*node.path, "inputs"),
                                         f"required input {name!r} of the component is not given",
                                         f"add `{name}: ...` under inputs, or make it optional in the component"))


def _check_cycles(pipeline: Node, problems: list[Problem]) -> None:
    deps = step_dependencies(pipeline)
    sorter = graphlib.TopologicalSorter({k: v & set(deps) for k, v in deps.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]  # each step feeds the next one
        if len(set(cycle)) == 1:
            return  # a step binding its own output is reported by the wiring check
        upstream, consumer = cycle[0], pipeline.children[cycle[1]]
        where: FieldPath = consumer.path
        for name, spec in consumer.inputs.items():
            ref = is_pure_binding(spec.value) if spec is not None else None
            if ref is not None and ref.step == upstream:
                where = _binding_at(consumer, (*consumer.path, "inputs", name), spec.value)
                break
        problems.append(consumer.source.source_map.problem(
            where, "steps form a cycle: " + " -> ".join(cycle) + " (each feeds the next)",
            "a step cannot depend, directly or not, on its own outputs; remove one of these bindings",
            at_value=True))


def _check_output_collisions(pipeline: Node, problems: list[Problem]) -> None:
    """Two steps bound to one pipeline output: which one the pipeline returns would be a coin toss.

    Two steps naming the same explicit `path:` are left alone: AzureML runs that (each writes its
    own files into the shared folder), so the same YAML must run here too.
    """
    seen: dict[str, tuple[str, str]] = {}
    for step in pipeline.children.values():
        for name, spec in step.outputs.items():
            value = spec if isinstance(spec, str) else getattr(spec, "value", None)
            ref = is_pure_binding(value) if isinstance(value, str) else None
            if ref is None or ref.kind != "parent_output":
                continue
            first = seen.setdefault(ref.name, (step.name, name))
            if first == (step.name, name):
                continue
            problems.append(step.source.source_map.problem(
                (*step.path, "outputs", name),
                f"output {name!r} of step {step.name!r} is bound to pipeline output {ref.name!r}, which output "
                f"{first[1]!r} of step {first[0]!r} already feeds; one would overwrite the other",
                "bind each pipeline output to one step output; give the other step its own pipeline output",
                at_value=True))


def _check_parallel(node: Node, inputs: dict[str, Any], outputs: dict[str, Any], problems: list[Problem]) -> None:
    definition = node.definition
    task = definition.task
    if task is None:
        problems.append(_problem(node, ("task",), "a parallel job needs a `task`",
                                 "add `task: {type: run_function, code: ./src, entry_script: score.py}`"))
        return
    if not task.entry_script:
        problems.append(_problem(node, ("task", "entry_script"), "the parallel task has no `entry_script`",
                                 "add `entry_script: <file>.py`, the script with init() and run(mini_batch)"))
    if task.code:
        folder = (node.definition_source.folder / task.code).resolve()
        if not folder.is_dir():
            problems.append(_problem(node, ("task", "code"), f"code folder {task.code!r} does not exist: {folder}",
                                     "`code` is relative to the YAML file that declares it", at_value=True))
        elif task.entry_script and not (folder / task.entry_script).is_file():
            problems.append(_problem(node, ("task", "entry_script"),
                                     f"entry script {task.entry_script!r} not found in {task.code!r}",
                                     "the entry script path is relative to task.code", at_value=True))
    if task.program_arguments:
        _check_template(node, ("task", "program_arguments"), task.program_arguments, inputs, outputs, problems)
    if task.append_row_to:
        ref = is_pure_binding(task.append_row_to)
        if ref is None or ref.kind != "output" or ref.name not in outputs:
            problems.append(_problem(node, ("task", "append_row_to"),
                                     f"append_row_to must be ${{{{outputs.<name>}}}} of a declared output, "
                                     f"got {task.append_row_to!r}", _one_of("outputs", outputs), at_value=True))
    input_data = node.settings.get("input_data") or definition.input_data
    if not input_data:
        problems.append(_problem(node, ("input_data",), "a parallel job needs `input_data`",
                                 "add `input_data: ${{inputs.<name>}}`"))
    else:
        ref = is_pure_binding(input_data)
        if ref is None or ref.kind != "input" or ref.name not in inputs:
            problems.append(_problem(node, ("input_data",),
                                     f"input_data must be ${{{{inputs.<name>}}}} of a declared input, got {input_data!r}",
                                     _one_of("inputs", inputs), at_value=True))
        elif node.settings.get("partition_keys") or definition.partition_keys:
            kind = getattr(inputs[ref.name], "type", None)
            if kind is not None and kind != "mltable":  # files have no columns to partition by
                problems.append(_problem(node, ("partition_keys",), f"partition_keys needs an mltable input_data, but "
                                         f"inputs.{ref.name} is {kind}",
                                         f"make inputs.{ref.name} `type: mltable`, or use mini_batch_size instead "
                                         "of partition_keys"))


def _one_of(section: str, known: dict[str, Any]) -> str:
    if not known:
        return f"declare one under `{section}:` first"
    return "bind it to one of: " + ", ".join(f"${{{{{section}.{name}}}}}" for name in known)
