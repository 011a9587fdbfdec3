"""Which AzureML workspace to submit to, and with which credential.

The workspace comes from flags, else `amlrun.yaml`'s `workspace:`, else the `config.json` that
AzureML tools already use (`config.json` or `.azureml/config.json`, found upwards). Credentials
go through azure-identity: `DefaultAzureCredential` (az login, environment, managed identity...),
or a browser login with `--interactive`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.errors import UsageError
from amlrun.spec.project import ProjectConfig

__all__ = ["Workspace", "find_azureml_config", "make_credential", "resolve_workspace"]

_KEYS = {
    "subscription_id": ("subscription_id", "subscription"),
    "resource_group": ("resource_group", "resource_group_name", "resourceGroup"),
    "workspace_name": ("workspace_name", "workspace", "name"),
}


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    workspace_name: str
    tenant_id: str | None = None
    found_in: str = "flags"


def find_azureml_config(start: Path) -> Path | None:
    """AzureML's `config.json` in `start` or a parent (also under `.azureml/`)."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        for candidate in (folder / "config.json", folder / ".azureml" / "config.json"):
            if candidate.is_file():
                try:
                    data = json.loads(candidate.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict) and "subscription_id" in data:
                    return candidate
    return None


def _pick(data: dict[str, Any], field: str) -> str | None:
    for key in _KEYS[field]:
        if data.get(key):
            return str(data[key])
    return None


def resolve_workspace(subscription: str | None, resource_group: str | None, workspace: str | None,
                      project: ProjectConfig, start: Path) -> Workspace:
    """Flags win field by field over amlrun.yaml, which wins over config.json."""
    layers: list[tuple[str, dict[str, Any]]] = [("flags", {"subscription_id": subscription,
                                                            "resource_group": resource_group,
                                                            "workspace_name": workspace})]
    if project.workspace:
        layers.append((str(project.path or "amlrun.yaml"), project.workspace))
    config = find_azureml_config(start)
    if config is not None:
        layers.append((str(config), json.loads(config.read_text(encoding="utf-8"))))
    values: dict[str, str] = {}
    used: list[str] = []
    for where, data in layers:
        for field in _KEYS:
            value = _pick(data, field)
            if field not in values and value:
                values[field] = value
                if where not in used:
                    used.append(where)
    missing = [f for f in _KEYS if f not in values]
    if missing:
        raise UsageError(
            f"no AzureML workspace given (missing {', '.join(missing)})",
            hint="pass --subscription, --resource-group and --workspace, add `workspace:` to amlrun.yaml, "
                 "or download the workspace's config.json next to your project")
    tenant = next((str(d["tenant_id"]) for _, d in layers[1:] if d.get("tenant_id")), None)
    return Workspace(values["subscription_id"], values["resource_group"], values["workspace_name"],
                     tenant, ", ".join(used))


def make_credential(tenant: str | None, interactive: bool) -> Any:
    """An azure-identity credential; `interactive` opens a browser login."""
    import logging

    from amlrun.errors import SubmitError

    # DefaultAzureCredential logs every credential it tried as a warning; amlrun reports one paragraph
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    try:
        from azure.identity import DefaultAzureCredential, InteractiveBrowserCredential
    except ImportError as exc:
        raise SubmitError("azure-identity is not installed", hint="pip install 'amlrun[azure]'") from exc
    if interactive:
        return InteractiveBrowserCredential(tenant_id=tenant) if tenant else InteractiveBrowserCredential()
    if tenant:
        return _InTenant(DefaultAzureCredential(
            interactive_browser_tenant_id=tenant, shared_cache_tenant_id=tenant,
            visual_studio_code_tenant_id=tenant, workload_identity_tenant_id=tenant,
            additionally_allowed_tenants=["*"]), tenant)
    return DefaultAzureCredential()


class _InTenant:
    """Ask every token of one tenant (what `az login --tenant` users expect from `--tenant`)."""

    def __init__(self, inner: Any, tenant: str) -> None:
        self.inner = inner
        self.tenant = tenant

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        kwargs.setdefault("tenant_id", self.tenant)
        return self.inner.get_token(*scopes, **kwargs)

    def close(self) -> None:
        self.inner.close()
