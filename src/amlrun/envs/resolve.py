"""Decide how a job's environment becomes a process locally.

Today every environment runs in the current interpreter (`python` on PATH is this one);
isolated uv venvs and containers are later strategies behind the same `EnvPlan`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EnvPlan", "resolve_environment"]


@dataclass(frozen=True)
class EnvPlan:
    """How to run a process for one environment. `fingerprint` feeds step cache keys."""

    strategy: str
    description: str
    python: str
    fingerprint: str
    path_prefix: tuple[str, ...] = field(default_factory=tuple)

    def process_env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.path_prefix:
            env["PATH"] = os.pathsep.join((*self.path_prefix, env.get("PATH", "")))
        return env


def _fingerprint(spec: Any, base_dir: Path | None) -> str:
    """A stable digest of the environment *definition* (and its conda file's content, if local)."""
    if spec is None:
        payload: Any = None
    else:
        payload = spec.model_dump(exclude_none=True, by_alias=True)
        conda = payload.get("conda_file")
        if isinstance(conda, str) and base_dir is not None and (base_dir / conda).is_file():
            payload["conda_file"] = (base_dir / conda).read_text(encoding="utf-8", errors="replace")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_environment(spec: Any, base_dir: Path | None) -> EnvPlan:
    """The environment a step runs in. `spec` is an EnvironmentSpec or None."""
    if spec is None:
        described = "no environment given"
    elif spec.reference:
        described = spec.reference
    elif spec.image:
        described = f"image {spec.image}"
    elif spec.build:
        described = f"build {spec.build.path}"
    else:
        described = "inline environment"
    bin_dir = str(Path(sys.executable).parent)
    return EnvPlan(
        strategy="current",
        description=f"{described} -> current interpreter ({sys.executable})",
        python=sys.executable,
        fingerprint=_fingerprint(spec, base_dir),
        path_prefix=(bin_dir,),
    )
