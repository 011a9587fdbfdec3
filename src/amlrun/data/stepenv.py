"""Give a step process the datastore map and the `azureml://` fsspec shim.

The shim folder (data/stepsite) goes first on PYTHONPATH. It holds:
- `amlrun_datastore_fs.py` plus a dist-info whose `fsspec.specs` entry point registers the `azureml`
  protocol: fsspec reads entry points from every sys.path entry at import, so no sitecustomize or .pth
  is needed and nothing of the user's is shadowed;
- `azureml/fsspec/` without an `azureml/__init__.py`: a namespace-package portion that merges with
  azureml-dataprep's `azureml` namespace (mltable) instead of replacing it.
When the real azureml-fsspec is installed, or `fsspec: {real_azureml_fsspec: true}` is set, the shim is
left out and the real package (and its own protocol registration) is used.
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["apply_step_env"]


def _real_azureml_fsspec_installed() -> bool:
    try:
        spec = importlib.util.find_spec("azureml.fsspec")
    except (ImportError, ValueError):
        return False
    return spec is not None and "stepsite" not in str(spec.origin or "")


def apply_step_env(env: dict[str, str], data_env: dict[str, str]) -> dict[str, str]:
    """`env` plus the data variables; the shim folder prepended to PYTHONPATH when it should be used."""
    out = dict(env)
    out.update({k: v for k, v in data_env.items() if k != "AMLRUN_STEPSITE"})
    site = data_env.get("AMLRUN_STEPSITE")
    if site and not _real_azureml_fsspec_installed():
        current = out.get("PYTHONPATH", "")
        out["PYTHONPATH"] = os.pathsep.join([site, *([current] if current else [])])
    return out
