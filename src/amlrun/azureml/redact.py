"""Keep secrets out of what `submit --dry-run` prints.

A value is hidden when its key names a secret (`*KEY`, `*SECRET*`, `*TOKEN*`, `*PASSWORD*`,
connection strings), when it looks like one (an `AccountKey=` connection string, a SAS query with
`sig=`), or when it equals the value of an environment variable that `amlrun.yaml` names as a
credential (`account_key_env: LAKE_KEY`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "redact", "secret_values_from_config"]

REDACTED = "***"

_SECRET_WORDS = ("secret", "password", "passwd", "connection_string", "conn_str", "private_key")
_SECRET_LAST = {"key", "token", "sas", "credential", "credentials", "pwd"}
_SECRET_VALUE = re.compile(r"(AccountKey=|SharedAccessSignature=|SharedAccessKey=|[?&]sig=|"
                           r"-----BEGIN [A-Z ]*PRIVATE KEY-----)", re.IGNORECASE)
_SAS_QUERY = re.compile(r"\?(?=[^?]*\bsig=)[^\s\"']*")


def secret_values_from_config(datastores: dict[str, dict[str, Any]]) -> list[str]:
    """Values of the environment variables amlrun.yaml's datastore credentials name."""
    values: list[str] = []
    for spec in datastores.values():
        credential = spec.get("credential") if isinstance(spec, dict) else None
        if not isinstance(credential, dict):
            continue
        for key, env_name in credential.items():
            if key.endswith("_env") and isinstance(env_name, str) and os.environ.get(env_name):
                values.append(os.environ[env_name])
    return values


def _is_secret_key(key: str) -> bool:
    """`ACCOUNT_KEY`, `sasToken`, `db-password` yes; `partition_keys`, `max_tokens` no."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower().replace("-", "_")
    return any(word in snake for word in _SECRET_WORDS) or snake.rsplit("_", 1)[-1] in _SECRET_LAST


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    if _SECRET_VALUE.search(text):
        if "://" in text and "sig=" in text.lower():
            return _SAS_QUERY.sub("?" + REDACTED, text)
        return REDACTED
    return text


def redact(value: Any, secrets: Iterable[str] = (), key: str = "") -> Any:
    """A copy of `value` (JSON-like data) with secrets replaced by `***`."""
    secrets = list(secrets)
    if isinstance(value, dict):
        return {k: redact(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets, key) for v in value]
    if isinstance(value, str):
        if key and _is_secret_key(key) and value and not value.startswith("${{"):
            return REDACTED
        return _scrub(value, secrets)
    return value
