"""`submit --register-datastores`: give the workspace the datastores amlrun.yaml declares.

Only Azure storage datastores are registered; `type: local` ones are amlrun's and never sent.
Secrets are read from the environment variables amlrun.yaml names, at the moment of registering.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from amlrun.errors import DataError, SubmitError

__all__ = ["datastore_entity", "register_missing_datastores", "remote_datastores"]

Confirm = Callable[[str], bool]


def remote_datastores(declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The datastores of amlrun.yaml that exist in Azure storage (not `type: local`)."""
    return {name: spec for name, spec in declared.items()
            if isinstance(spec, dict) and str(spec.get("type", "local")) != "local"}


def _secret(name: str, spec: dict[str, Any], key: str) -> str:
    env = spec[key]
    value = os.environ.get(str(env))
    if not value:
        raise DataError(f"datastore {name!r}: environment variable {env} is not set",
                        hint=f"export {env}=... (amlrun.yaml names it as the datastore's credential)")
    return value


def _credentials(name: str, spec: dict[str, Any]) -> Any:
    from azure.ai.ml.entities import AccountKeyConfiguration, SasTokenConfiguration

    credential = spec.get("credential") or {}
    if not isinstance(credential, dict) or "identity" in credential or not credential:
        return None  # identity-based access
    if "account_key_env" in credential:
        return AccountKeyConfiguration(account_key=_secret(name, credential, "account_key_env"))
    if "sas_token_env" in credential:
        return SasTokenConfiguration(sas_token=_secret(name, credential, "sas_token_env").lstrip("?"))
    if "connection_string_env" in credential:
        text = _secret(name, credential, "connection_string_env")
        key = re.search(r"AccountKey=([^;]+)", text)
        if key:
            return AccountKeyConfiguration(account_key=key.group(1))
        sas = re.search(r"SharedAccessSignature=([^;]+)", text)
        if sas:
            return SasTokenConfiguration(sas_token=sas.group(1))
    raise DataError(f"datastore {name!r}: cannot turn its credential into a workspace datastore credential",
                    hint="use account_key_env, sas_token_env, connection_string_env or identity")


def _account_from_connection_string(name: str, spec: dict[str, Any]) -> str | None:
    credential = spec.get("credential") or {}
    if isinstance(credential, dict) and "connection_string_env" in credential:
        found = re.search(r"AccountName=([^;]+)", _secret(name, credential, "connection_string_env"))
        return found.group(1) if found else None
    return None


def datastore_entity(name: str, spec: dict[str, Any]) -> Any:
    """The azure-ai-ml Datastore for one amlrun.yaml entry."""
    from azure.ai.ml.entities import AzureBlobDatastore, AzureDataLakeGen2Datastore, AzureFileDatastore

    kind = str(spec.get("type"))
    account = spec.get("account_name") or _account_from_connection_string(name, spec)
    if not account:
        raise DataError(f"datastore {name!r} has no account_name", hint="add `account_name:` in amlrun.yaml")
    credentials = _credentials(name, spec)
    if kind == "azure_blob":
        container = spec.get("container_name") or spec.get("container")
        return AzureBlobDatastore(name=name, account_name=account, container_name=container,
                                  credentials=credentials)
    if kind == "azure_data_lake_gen2":
        return AzureDataLakeGen2Datastore(name=name, account_name=account,
                                          filesystem=spec.get("filesystem") or spec.get("container_name"),
                                          credentials=credentials)
    if kind == "azure_file":
        return AzureFileDatastore(name=name, account_name=account, file_share_name=spec.get("file_share_name"),
                                  credentials=credentials)
    raise DataError(f"datastore {name!r} has type {kind!r}, which cannot be registered in a workspace",
                    hint="registerable types: azure_blob, azure_data_lake_gen2, azure_file")


def register_missing_datastores(client: Any, declared: dict[str, dict[str, Any]], *, yes: bool,
                                confirm: Confirm, say: Callable[[str], None]) -> list[str]:
    """Register the remote datastores the workspace lacks (after asking, unless `yes`)."""
    wanted = remote_datastores(declared)
    if not wanted:
        return []
    existing = {store.name for store in client.datastores.list()}
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    question = f"register datastore{'s' if len(missing) > 1 else ''} {', '.join(missing)} in the workspace?"
    if not yes and not confirm(question):
        raise SubmitError("datastores not registered; nothing submitted",
                          hint="answer yes, pass --yes, or drop --register-datastores")
    for name in missing:
        client.datastores.create_or_update(datastore_entity(name, wanted[name]))
        say(f"registered datastore {name}")
    return missing
