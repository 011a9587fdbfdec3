"""Which way each step's environment runs: `--env` on the command line, then amlrun.yaml `environments:`.

    environments:
      default: auto                      # the project's mode: auto | host | container (--env wins)
      AzureML-sklearn-1.0-ubuntu20.04-py38-cpu: {venv: envs/sklearn.txt}   # a curated/registered env by name
      azureml:validation:3: {container: ./validation}                      # an image name or a build folder
      train: host                        # a pipeline step (its name, or outer.inner)

`--env host` runs every step in amlrun's interpreter and `--env container` every step in a container;
with `auto` (the default) the mapping decides per step, then each environment's own definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MODES", "EnvChoice", "environment_names"]

MODES = ("auto", "host", "container")


def environment_names(spec: Any) -> list[str]:
    """The names an environment can be mapped by: `azureml:n:1`, `azureml:n@latest`, registry URIs -> `n` too."""
    if spec is None:
        return []
    names: list[str] = []
    reference = getattr(spec, "reference", None)
    if reference:
        names.append(reference)
        bare = reference.removeprefix("azureml:")
        if bare.startswith("//"):  # azureml://registries/<r>/environments/<n>/versions/<v> | /labels/<l>
            parts = bare.strip("/").split("/")
            if "environments" in parts and parts.index("environments") + 1 < len(parts):
                bare = parts[parts.index("environments") + 1]
        names.extend([bare, bare.split("@")[0].split(":")[0]])
    if getattr(spec, "name", None):
        names.append(str(spec.name))
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class EnvChoice:
    """The command line's mode and the project's mapping, decided once per run."""

    mode: str = "auto"
    forced: bool = False  # --env host/container given: the mapping is not consulted
    mapping: dict[str, Any] = field(default_factory=dict)
    folder: Path = field(default_factory=Path.cwd)  # where amlrun.yaml is: mapped paths are relative to it
    strict_python: bool = False

    @classmethod
    def from_project(cls, environments: dict[str, Any] | None, folder: Path, cli_mode: str | None = None,
                     strict_python: bool = False) -> EnvChoice:
        mapping = dict(environments or {})
        default = mapping.pop("default", None)
        mode = cli_mode or (default if default in MODES else None) or "auto"
        return cls(mode, forced=cli_mode in ("host", "container"), mapping=mapping, folder=folder,
                   strict_python=strict_python)

    def entry_for(self, spec: Any, step: str | None) -> tuple[str, Any] | None:
        """(key, value) of the mapping entry for this step or its environment; the step's own entry wins."""
        if self.forced and self.mode == "host":
            return None
        keys = [k for k in (step, step.rsplit(".", 1)[-1] if step else None) if k]
        keys += environment_names(spec)
        for key in keys:
            if key in self.mapping:
                return key, self.mapping[key]
        return None
