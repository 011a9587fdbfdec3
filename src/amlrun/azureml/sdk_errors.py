"""Turn azure-ai-ml's validation errors into amlrun Problems that name the real field and line.

The SDK reports schema errors as text: a JSON block (`{"result": "Failed", "errors": [{path,
message}]}`), sometimes nested one level deeper (`Validation for CommandJobSchema failed: {...}`),
whose messages mix union alternatives (`Not a valid string.; {'type': [...]}`) with the real
finding. This module pulls the findings out as (field path, message) pairs; locating them in a
file is the caller's job. Nothing here imports azure-ai-ml.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["SdkFinding", "crash_finding", "findings_from_result", "findings_from_text"]

_NOT_IN_SET = re.compile(r"^Value '(?P<value>.*)' passed is not in set \[(?P<allowed>.*)\]$", re.DOTALL)
_NOISE_AT_TOP = ("Not a valid string.",)
_NOISE_ANYWHERE = (
    "Value passed is not a data binding string",
    "Invalid output binding string",
    "In order to specify an existing",
    "If you are trying to configure",
)


@dataclass(frozen=True)
class SdkFinding:
    """One thing azure-ai-ml rejected: a dotted field path (parts) and its message."""

    path: tuple[str | int, ...]
    message: str


def _split_path(text: str | None) -> tuple[str | int, ...]:
    if not text or text == "*":
        return ()
    parts: list[str | int] = []
    for piece in re.split(r"\.(?![^\[]*\])", text):
        match = re.fullmatch(r"(.*?)\[(\d+)\]", piece)
        if match:
            if match.group(1):
                parts.append(match.group(1))
            parts.append(int(match.group(2)))
        elif piece:
            parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


def _json_after_failed(text: str) -> Any | None:
    """The JSON object following `Validation for X failed:`, or None."""
    marker = text.find("failed:")
    if marker < 0:
        return None
    start = text.find("{", marker)
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value


def _leaves(obj: Any, path: tuple[str | int, ...]) -> list[SdkFinding]:
    """Flatten marshmallow's nested `{field: [message | {...}]}` error shape."""
    if isinstance(obj, dict):
        if "errors" in obj and isinstance(obj["errors"], list):
            found: list[SdkFinding] = []
            for error in obj["errors"]:
                found.extend(_entry(error, path))
            return found
        found = []
        for key, value in obj.items():
            sub = path if key == "_schema" else (*path, int(key) if str(key).isdigit() else str(key))
            found.extend(_leaves(value, sub))
        return found
    if isinstance(obj, list):
        found = []
        for item in obj:
            found.extend(_leaves(item, path))
        return found
    return _message_leaves(str(obj), path)


def _message_leaves(message: str, path: tuple[str | int, ...]) -> list[SdkFinding]:
    nested = _json_after_failed(message) if "Validation for" in message else None
    if nested is not None:
        return _leaves(nested, path)
    found: list[SdkFinding] = []
    for part in message.split("; "):
        part = part.strip()
        if part.startswith("{"):
            try:
                found.extend(_leaves(ast.literal_eval(part), path))
                continue
            except (ValueError, SyntaxError):
                pass
        if part:
            found.append(SdkFinding(path, part))
    return found


def _entry(error: dict[str, Any], base: tuple[str | int, ...]) -> list[SdkFinding]:
    """One `{path, message}` entry, reduced to the findings that say what is wrong."""
    top = (*base, *_split_path(error.get("path")))
    leaves = _message_leaves(str(error.get("message", "")), top)
    useful = [leaf for leaf in leaves if not _is_noise(leaf, top)]
    return _merge_alternatives(useful or leaves[:1])


def _is_noise(leaf: SdkFinding, top: tuple[str | int, ...]) -> bool:
    if any(leaf.message.startswith(prefix) for prefix in _NOISE_ANYWHERE):
        return True
    return leaf.path == top and leaf.message in _NOISE_AT_TOP


def _merge_alternatives(findings: list[SdkFinding]) -> list[SdkFinding]:
    """`Value 'x' passed is not in set ['a']` repeated per union branch -> one message listing all."""
    merged: dict[tuple[str | int, ...], list[str]] = {}
    rejected: dict[tuple[str | int, ...], str] = {}
    out: list[SdkFinding] = []
    for finding in findings:
        match = _NOT_IN_SET.match(finding.message)
        if match:
            allowed = [a.strip().strip("'\"") for a in match.group("allowed").split(",") if a.strip()]
            merged.setdefault(finding.path, []).extend(a for a in allowed if a not in merged.get(finding.path, []))
            rejected[finding.path] = match.group("value")
        elif finding not in out:
            out.append(finding)
    # a union branch that accepted the `type` reports its real complaint below the same parent;
    # then the other branches' "not in set" and "Unknown field" are noise
    for path, allowed in merged.items():
        if not any(f.path[:len(path) - 1] == path[:-1] and f.path != path for f in out):
            out.append(SdkFinding(path, f"{rejected[path]!r} is not one of: {', '.join(allowed)}"))
    return [f for f in out if not (f.message == "Unknown field." and
                                   any(o.path == f.path and o.message != f.message for o in out))]


def findings_from_text(text: str) -> list[SdkFinding]:
    """Findings in the text of an azure-ai-ml ValidationError/ValidationException."""
    parsed = _json_after_failed(text)
    if parsed is None:
        first = text.strip().splitlines()[0] if text.strip() else "rejected by azure-ai-ml"
        return [SdkFinding((), first)]
    return _leaves(parsed, ())


def findings_from_result(error_messages: dict[str, str]) -> list[SdkFinding]:
    """Findings in a ValidationResult's `error_messages` ({yaml path: message})."""
    found: list[SdkFinding] = []
    for path, message in error_messages.items():
        found.extend(_entry({"path": path, "message": message}, ()))
    return found


def crash_finding(exc: BaseException) -> SdkFinding:
    """azure-ai-ml failing with a plain Python error (it does, on some malformed values)."""
    return SdkFinding((), f"azure-ai-ml cannot load this file ({type(exc).__name__}: {exc})")
