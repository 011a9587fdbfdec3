"""AzureML's `${{...}}` expressions and `$[[...]]` optional fragments.

The service's templating regex is `\\$\\{\\{\\s*(\\S*?)\\s*\\}\\}`. A `$[[ ... ]]` fragment disappears
when an optional input it mentions has no value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "BINDING_RE",
    "OPTIONAL_RE",
    "Reference",
    "find_references",
    "is_pure_binding",
    "parse_reference",
    "render",
]

BINDING_RE = re.compile(r"\$\{\{\s*(\S*?)\s*\}\}")
OPTIONAL_RE = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)

_SCOPES = {"inputs", "outputs", "parent", "name", "default_datastore", "output_name", "search_space"}


@dataclass(frozen=True)
class Reference:
    """A parsed `${{...}}` expression.

    kind is one of: input, output, parent_input, parent_output, step_output, step_input,
    name, default_datastore, output_name.
    """

    text: str
    kind: str
    name: str = ""
    step: str = ""
    attribute: str = ""  # e.g. `.path` / `.mode` suffixes, kept but ignored locally


def parse_reference(expr: str) -> Reference | None:
    """Parse the inside of `${{ }}`; None when it is not an expression AzureML knows."""
    parts = expr.split(".")
    head = parts[0]
    if len(parts) == 1 and head in ("name", "default_datastore", "output_name"):
        return Reference(expr, head)
    if head in ("inputs", "outputs") and len(parts) >= 2 and parts[1]:
        return Reference(expr, head[:-1], name=parts[1], attribute=".".join(parts[2:]))
    if head == "parent" and len(parts) >= 3:
        if parts[1] in ("inputs", "outputs") and parts[2]:
            return Reference(expr, "parent_" + parts[1][:-1], name=parts[2], attribute=".".join(parts[3:]))
        if parts[1] == "jobs" and len(parts) >= 5 and parts[3] in ("inputs", "outputs") and parts[4]:
            return Reference(expr, "step_" + parts[3][:-1], step=parts[2], name=parts[4],
                             attribute=".".join(parts[5:]))
    return None


def find_references(text: str) -> Iterator[tuple[str, Reference | None]]:
    """Every `${{...}}` in `text` as (inner text, parsed reference or None when unknown)."""
    for match in BINDING_RE.finditer(text):
        yield match.group(1), parse_reference(match.group(1))


def is_pure_binding(value: object) -> Reference | None:
    """The reference when `value` is exactly one `${{...}}` and nothing else."""
    if not isinstance(value, str):
        return None
    match = BINDING_RE.fullmatch(value.strip())
    return parse_reference(match.group(1)) if match else None


def render(text: str, resolve: Callable[[Reference], str | None]) -> str:
    """Substitute every expression. `resolve` returns None for an unset optional input.

    Inside `$[[...]]`, a None drops the whole fragment; outside it, None is an error that the
    caller must have caught during validation, so it renders as an empty string.
    """

    def sub_all(fragment: str) -> tuple[str, bool]:
        missing = False

        def one(match: re.Match[str]) -> str:
            nonlocal missing
            ref = parse_reference(match.group(1))
            value = resolve(ref) if ref else None
            if value is None:
                missing = True
                return ""
            return value

        return BINDING_RE.sub(one, fragment), missing

    def optional(match: re.Match[str]) -> str:
        rendered, missing = sub_all(match.group(1))
        return "" if missing else rendered

    without_optional = OPTIONAL_RE.sub(optional, text)
    rendered, _ = sub_all(without_optional)
    return rendered
