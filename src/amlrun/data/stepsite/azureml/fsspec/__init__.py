"""amlrun's stand-in for `azureml.fsspec` during a local run (the real package needs a workspace).

Resolves `azureml://` URIs through the datastore map amlrun passes in `AMLRUN_DATASTORES`.
"""

from amlrun_datastore_fs import AzureMachineLearningFileSystem

__all__ = ["AzureMachineLearningFileSystem"]
