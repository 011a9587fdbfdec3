"""The project config `amlrun.yaml`: datastores, data assets and the workspace, found upwards.

    datastores:
      raw:      {type: local, path: ./data/raw}
      lake:     {type: azure_blob, account_name: myacct, container_name: raw,
                 credential: {account_key_env: LAKE_KEY}}      # or connection_string_env / sas_token_env / identity
    data:
      sequences: azureml://datastores/lake/paths/sequences/     # azureml:sequences:1 / @latest resolve here
    workspace: {subscription_id: ..., resource_group: ..., workspace_name: ...}

Secrets are never written inline: a credential names the environment variable that holds it.
A user-level file (`~/.config/amlrun/amlrun.yaml` or `$AMLRUN_USER_CONFIG`) may add entries; the
project's file wins where both define a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.spec.source import SpecSource, read_yaml

__all__ = ["CONFIG_NAME", "ProjectConfig", "find_project_config", "load_project_config"]

CONFIG_NAME = "amlrun.yaml"


@dataclass
class ProjectConfig:
    """Parsed amlrun.yaml (possibly empty). Raw mappings are validated by the data layer that uses them."""

    path: Path | None = None
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    workspace: dict[str, Any] = field(default_factory=dict)
    sources: list[SpecSource] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def find_project_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _user_config() -> Path | None:
    env = os.environ.get("AMLRUN_USER_CONFIG")
    path = Path(env) if env else Path.home() / ".config" / "amlrun" / CONFIG_NAME
    return path if path.is_file() else None


def load_project_config(start: Path | None = None) -> ProjectConfig:
    """The merged config for the project containing `start` (a file or folder). Empty when none."""
    project = find_project_config(start)
    config = ProjectConfig(path=project)
    for path in (_user_config(), project):
        if path is None:
            continue
        source = read_yaml(path)
        config.sources.append(source)
        for section in ("datastores", "data", "workspace"):
            value = source.data.get(section) or {}
            getattr(config, section).update(value)
    return config
