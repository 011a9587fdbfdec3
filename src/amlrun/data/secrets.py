"""What a datastore's credentials point at, and scrubbing those secrets from any text.

Below `datastores` (which builds datastores) and `blob_errors` (which words their failures): both scrub.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from amlrun.errors import scrub_secrets

__all__ = ["credential_kind", "redact", "secret_values"]


def credential_kind(credential: Any) -> str:
    if isinstance(credential, dict):
        for key in ("account_key_env", "sas_token_env", "connection_string_env"):
            if key in credential:
                return f"{key.removesuffix('_env').replace('_', ' ')} from ${credential[key]}"
    if credential == "anonymous":
        return "anonymous"
    return "DefaultAzureCredential"


def secret_values(datastores: Iterable[Any]) -> list[str]:
    """The secret values the configured credentials point at (to scrub them from any text)."""
    values = []
    for ds in datastores:
        credential = getattr(ds, "credential", None)  # blob datastores; local folders have none
        if isinstance(credential, dict):
            for key in ("account_key_env", "sas_token_env", "connection_string_env"):
                value = os.environ.get(credential.get(key) or "")
                if value:
                    values.append(value)
                    values.extend(part.split("=", 1)[1] for part in value.split(";")
                                  if part.lower().startswith(("accountkey=", "sharedaccesssignature="))
                                  and "=" in part)
                    if "sig=" in value:
                        values.extend(p.split("=", 1)[1] for p in value.lstrip("?").split("&") if p.startswith("sig="))
    return [v for v in values if len(v) >= 6]


def redact(text: str, datastores: Iterable[Any]) -> str:
    for value in sorted(secret_values(datastores), key=len, reverse=True):
        text = text.replace(value, "***")
    return scrub_secrets(text)
