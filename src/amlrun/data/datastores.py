"""Datastores as runtime objects: a local folder or an Azure blob container, built from amlrun.yaml.

`workspaceblobstore` and any datastore the config does not declare are local folders under the store
(`<store>/datastores/<name>/`), so a fresh project needs no configuration. Blob datastores import
azure-storage-blob only when first used. Secrets are read from the environment variables the config names, and
never leave them: `public()` (what step processes receive) holds variable names, not values.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.data.secrets import credential_kind, redact, secret_values
from amlrun.data.stepsite.amlrun_datastore_credentials import CredentialMissing, blob_filesystem_kwargs
from amlrun.data.uris import StorageUri
from amlrun.errors import DataError, scrub_secrets

__all__ = ["BlobDatastore", "Datastore", "LocalDatastore", "credential_kind", "redact", "secret_values"]



@dataclass(frozen=True)
class LocalDatastore:
    name: str
    root: Path
    declared: bool = False
    kind: str = "local"

    def describe(self) -> str:
        return str(self.root)

    def public(self) -> dict[str, Any]:
        return {"type": "local", "path": str(self.root)}

    def check(self) -> str | None:
        """None when usable, else why not."""
        if self.root.exists() and not self.root.is_dir():
            return f"{self.root} is not a folder"
        if not self.root.exists() and self.declared:
            return f"{self.root} does not exist"
        return None


@dataclass(frozen=True)
class BlobDatastore:
    name: str
    account_name: str | None
    container_name: str
    endpoint: str | None
    credential: Any
    kind: str = "azure_blob"
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False, hash=False)

    def describe(self) -> str:
        where = self.endpoint or (f"https://{self.account_name}.blob.core.windows.net" if self.account_name
                                  else "(account from the connection string)")
        return scrub_secrets(f"{where}/{self.container_name} ({credential_kind(self.credential)})")

    def public(self) -> dict[str, Any]:
        return {"type": "azure_blob", "account_name": self.account_name, "container_name": self.container_name,
                "endpoint": self.endpoint, "credential": self.credential}

    def matches(self, url: StorageUri) -> bool:
        if url.container != self.container_name:
            return False
        if url.host is not None:
            return bool(self.endpoint) and self.endpoint.rstrip("/").startswith(url.host) and \
                (self.account_name in (None, url.account) or self.endpoint.rstrip("/").endswith(url.account))
        return self.account_name == url.account

    def remote_path(self, path: str) -> str:
        return f"{self.container_name}/{path}".rstrip("/")

    def service(self) -> Any:
        """An azure-storage-blob BlobServiceClient (used for uploads), created once."""
        with self._lock:
            if "service" not in self._clients:
                # a dead endpoint should fail in seconds, not after azure-storage's minute of back-off
                self._clients["service"] = self._make_service(max_single_put_size=32 * 1024 * 1024, retry_total=3,
                                                         initial_backoff=1, increment_base=2, connection_timeout=20)
            return self._clients["service"]

    def credential_kwargs(self) -> dict[str, Any]:
        """The client arguments for this datastore, secrets read from the variables amlrun.yaml names."""
        try:
            return blob_filesystem_kwargs(self.name, self.public())
        except CredentialMissing as exc:
            raise DataError(str(exc), hint="export the variable, or change `credential:` in amlrun.yaml") from None

    def shared_key(self, kw: dict[str, Any] | None = None) -> tuple[str | None, str] | None:
        """(account name, account key) when the credential is an account key, given alone or in a connection string.

        `kw` is `credential_kwargs()` when the caller has it already (building it may create a credential).
        """
        kw = self.credential_kwargs() if kw is None else kw
        if "account_key" in kw:
            return kw.get("account_name") or self.account_name, kw["account_key"]
        parts = {k.strip().lower(): v.strip() for k, _, v in
                 (p.partition("=") for p in kw.get("connection_string", "").split(";") if "=" in p)}
        if "accountkey" in parts:
            return parts.get("accountname") or self.account_name, parts["accountkey"]
        return None

    def _make_service(self, **options: Any) -> Any:
        from azure.storage.blob import BlobServiceClient

        _quiet_azure_sign_in_warnings()
        kw = self.credential_kwargs()
        self._check_account_key(kw)
        if "connection_string" in kw:
            return BlobServiceClient.from_connection_string(kw["connection_string"], **options)
        url = self.endpoint or f"https://{self.account_name}.blob.core.windows.net"
        credential = ({"account_name": kw["account_name"], "account_key": kw["account_key"]}
                      if "account_key" in kw else kw.get("sas_token") or kw.get("credential"))
        return BlobServiceClient(url, credential=None if kw.get("anon") else credential, **options)

    def _check_account_key(self, kw: dict[str, Any]) -> None:
        """A key that is not base64 fails deep inside request signing; say so up front, naming its variable."""
        import base64
        import binascii

        shared = self.shared_key(kw)
        if shared is None:
            return
        try:
            base64.b64decode(shared[1], validate=True)
        except (binascii.Error, ValueError):
            raise DataError(f"the account key of datastore {self.name!r} ({credential_kind(self.credential)}) is not "
                            "valid base64", hint="copy the key again from the storage account's Access keys page "
                            "(88 characters ending in '=='); a SAS token goes in sas_token_env instead") from None

    def check(self) -> str | None:
        from amlrun.data.blob_errors import storage_errors

        try:
            client = self._make_service(retry_total=0, connection_timeout=5, read_timeout=10)
            with storage_errors(self, "listing the container"):
                blobs = client.get_container_client(self.container_name).list_blobs(results_per_page=1)
                next(iter(blobs.by_page()), None)  # a list call: what a read-only SAS is allowed to do
        except DataError as exc:
            return exc.message
        except Exception as exc:  # noqa: BLE001 - any other failure still means "not usable"
            return redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", [self])
        return None


Datastore = LocalDatastore | BlobDatastore


def _quiet_azure_sign_in_warnings() -> None:
    """azure-identity logs every credential it tried as a warning; amlrun reports the failure once itself."""
    if not os.environ.get("AMLRUN_DEBUG"):
        import logging

        logging.getLogger("azure.identity").setLevel(logging.ERROR)
