"""Azure storage and sign-in failures as one-paragraph DataErrors that name the datastore.

azure-core raises a handful of exception types whose text runs to many lines (DefaultAzureCredential
lists every credential it tried). Users need: which datastore, what went wrong in a line, and what to
change. Any secret the configured credentials point at is scrubbed from what is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from amlrun.data.secrets import credential_kind, redact
from amlrun.errors import DataError

if TYPE_CHECKING:  # (datastores imports this module when checking a datastore)
    from amlrun.data.datastores import BlobDatastore

__all__ = ["error_code", "storage_errors"]

CHECK = "check it with `amlrun datastores`"


def error_code(exc: BaseException) -> str:
    """The service's error code as it names it (`AuthorizationFailure`), not the SDK's enum spelling."""
    code = getattr(exc, "error_code", None) or ""
    return str(getattr(code, "value", code))


def _refused(doing: str, where: str, exc: BaseException) -> DataError:
    status = getattr(exc, "status_code", None)
    return DataError(f"{doing} in {where} was refused ({status} {error_code(exc)})".replace(" )", ")"),
                     hint=f"the credential needs read/list access to the container; {CHECK}")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


@contextmanager
def storage_errors(ds: BlobDatastore, doing: str) -> Iterator[None]:
    """Translate failures raised while `doing` something with `ds` (e.g. "listing a/b/")."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    where = f"datastore {ds.name!r} ({ds.describe()})"
    try:
        yield
    except DataError:
        raise
    except ClientAuthenticationError as exc:
        if getattr(exc, "status_code", None):  # the service refused the credential it was given
            raise _refused(doing, where, exc) from None
        raise DataError(f"{doing} in {where}: no Azure sign-in was found ({redact(_first_line(exc), [ds])})",
                        hint="this datastore has no `credential:` in amlrun.yaml, so DefaultAzureCredential is used: "
                             "run `az login`, or give it `credential: {account_key_env: VAR}` (or sas_token_env / "
                             "connection_string_env)") from None
    except ResourceNotFoundError as exc:
        if error_code(exc) == "ContainerNotFound":
            raise DataError(f"{doing}: container {ds.container_name!r} of {where} does not exist",
                            hint=f"check `container_name` in amlrun.yaml; {CHECK}") from None
        raise DataError(f"{doing} in {where}: not found", hint="check the path") from None
    except ServiceRequestError as exc:
        raise DataError(f"{doing}: cannot reach {where}: {redact(_first_line(exc), [ds])}",
                        hint=f"check the endpoint/account name and the network; {CHECK}") from None
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):
            raise _refused(doing, where, exc) from None
        raise DataError(f"{doing} in {where} failed: HTTP {exc.status_code} {error_code(exc)}".rstrip(),
                        hint=f"{CHECK} ({credential_kind(ds.credential)})") from None
