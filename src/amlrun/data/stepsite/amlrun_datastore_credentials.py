"""A blob datastore's credential as adlfs/azure-storage arguments, secrets read from the environment.

Standalone (standard library only): the folder holding this file is put on a step's PYTHONPATH, where
`amlrun_datastore_fs` imports it; amlrun imports it as `amlrun.data.stepsite.amlrun_datastore_credentials`
without paying for fsspec, so credentials are read one way only.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["CredentialMissing", "blob_filesystem_kwargs"]


class CredentialMissing(Exception):
    """A datastore's credential names an environment variable that is not set."""


def _env(name: str, datastore: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise CredentialMissing(f"environment variable {name} (the credential of datastore {datastore!r}) is not set")
    return value


def blob_filesystem_kwargs(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """adlfs.AzureBlobFileSystem arguments for one azure_blob datastore, secrets read from the environment."""
    account, endpoint = spec.get("account_name"), (spec.get("endpoint") or "").rstrip("/")
    credential = spec.get("credential")
    if isinstance(credential, dict) and "connection_string_env" in credential:
        return {"connection_string": _env(credential["connection_string_env"], name)}
    if isinstance(credential, dict) and "account_key_env" in credential:
        key = _env(credential["account_key_env"], name)
        if endpoint:
            scheme = endpoint.split("://", 1)[0]
            return {"connection_string": f"DefaultEndpointsProtocol={scheme};AccountName={account};"
                                         f"AccountKey={key};BlobEndpoint={endpoint};"}
        return {"account_name": account, "account_key": key}
    if isinstance(credential, dict) and "sas_token_env" in credential:
        sas = _env(credential["sas_token_env"], name).lstrip("?")
        if endpoint:
            return {"connection_string": f"BlobEndpoint={endpoint};SharedAccessSignature={sas};"}
        return {"account_name": account, "sas_token": sas}
    host = {"account_host": endpoint.split("://", 1)[-1]} if endpoint else {}
    if credential == "anonymous":
        return {"account_name": account, "anon": True, **host}
    from azure.identity import DefaultAzureCredential

    return {"account_name": account, "credential": DefaultAzureCredential(), "anon": False, **host}
