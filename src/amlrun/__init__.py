"""amlrun: run AzureML v2 jobs, pipelines and parallel jobs locally; submit the same YAML to AzureML.

Importing this package is cheap: heavy libraries (azure-ai-ml, mltable, mlflow, pandas) load only
where a command needs them. `amlrun.run(...)` (see `amlrun.api`) is loaded on first use.
"""


__version__ = "0.1.0"
__all__ = ["RunFailed", "RunResult", "StepResult", "__version__", "run"]

_API = {"run", "RunResult", "StepResult", "RunFailed"}


def __getattr__(name: str) -> object:
    if name in _API:  # imported by name: the library API sits above every layer that imports `amlrun`
        import importlib

        return getattr(importlib.import_module("amlrun.api"), name)
    raise AttributeError(f"module 'amlrun' has no attribute {name!r}")
