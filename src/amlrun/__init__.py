"""amlrun: run AzureML v2 jobs, pipelines and parallel jobs locally; submit the same YAML to AzureML.

Importing this package is cheap: heavy libraries (azure-ai-ml, mltable, mlflow, pandas) load only
where a command needs them.
"""

__version__ = "0.1.0"
