"""The one door to azure-ai-ml: imported lazily, with its import-time chatter silenced.

`import azure.ai.ml` costs about a second, so nothing on the `--help` or local-run path calls
these functions; `amlrun check`, `submit` and `submit --dry-run` do.
"""

from __future__ import annotations

import logging
from typing import Any

from amlrun.errors import SubmitError

__all__ = ["azure_ml", "sdk_available"]

_QUIET_LOGGERS = {
    "azure.ai.ml._utils._experimental": logging.ERROR,  # "This is an experimental class" per schema
    "azure.ai.ml._schema.core.fields": logging.ERROR,  # "This is an experimental field"
    "azure.ai.ml.operations._job_operations": logging.WARNING,  # "Proceeding with no tenant id ..."
}


def sdk_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("azure.ai.ml") is not None
    except ModuleNotFoundError:
        return False


def azure_ml() -> Any:
    """The `azure.ai.ml` module, or a SubmitError saying how to install it."""
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        import azure.ai.ml as ml
    except ImportError as exc:
        raise SubmitError("azure-ai-ml is not installed", hint="pip install 'amlrun[azure]'") from exc
    return ml
