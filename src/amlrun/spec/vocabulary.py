"""The words of the job schema (types, modes) that checks and the engine name without the pydantic models."""

__all__ = ["ASSET_TYPES", "CLOUD_ONLY_TYPES", "DEFAULT_OUTPUTS", "HINT_SEP", "INPUT_MODES", "LITERAL_TYPES", "OUTPUT_MODES"]

LITERAL_TYPES = ("string", "number", "integer", "boolean")
ASSET_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model")
INPUT_MODES = ("ro_mount", "rw_mount", "download", "direct", "eval_mount", "eval_download")
OUTPUT_MODES = ("rw_mount", "upload", "direct")
DEFAULT_OUTPUTS = ("artifacts", "default")
"""A command job's outputs that exist undeclared: its artifacts folder (`./outputs`, `./logs`). Pipelines
bind `artifacts` (hello-pipeline-default-artifacts.yml); azure-ai-ml's job outputs call it `default`."""

HINT_SEP = " -- hint: "
"""Our validators' messages carry their fix after this (spec.schema_messages splits it off)."""

CLOUD_ONLY_TYPES = ("sweep", "automl", "spark", "import", "data_transfer", "flow", "finetuning",
                    "distillation")
"""Job and step types the service runs and amlrun cannot: `check`/`submit` accept them, `run` refuses."""
