"""A local stand-in for the service's `azureml_user.parallel_run` (which exists only inside AzureML).

Entry scripts of parallel jobs do `from azureml_user.parallel_run import EntryScript` to get a logger
and the job's folders; amlrun's workers put this package on `sys.path` so those scripts run unchanged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["EntryScript"]


def _folder(variable: str, fallback: str) -> Path:
    path = Path(os.environ.get(variable) or fallback)
    path.mkdir(parents=True, exist_ok=True)
    return path


class EntryScript:
    """The helper entry scripts use: `logger`, `output_dir`, `working_dir`, `log_dir`, names."""

    _logger: logging.Logger | None = None

    @property
    def process_name(self) -> str:
        return os.environ.get("AMLRUN_PRS_WORKER", "process000")

    @property
    def node_id(self) -> str:
        return "0"

    @property
    def agent_name(self) -> str:
        return self.process_name

    @property
    def log_dir(self) -> Path:
        """logs/user of the run (the service's per-job user log folder)."""
        return _folder("AMLRUN_PRS_LOGS", os.path.join(os.getcwd(), "logs", "user"))

    @property
    def output_dir(self) -> Path:
        """The folder of the job's output (`AZUREML_BI_OUTPUT_PATH`)."""
        return _folder("AZUREML_BI_OUTPUT_PATH", os.path.join(os.getcwd(), "outputs"))

    @property
    def working_dir(self) -> Path:
        """A private scratch folder for this worker process."""
        return _folder("AMLRUN_PRS_WORKING_DIR", os.path.join(os.getcwd(), "working")) / self.process_name

    @property
    def logger(self) -> logging.Logger:
        """Writes to logs/user/entry_script_log/<node>/<process>.log.txt."""
        if EntryScript._logger is None:
            logger = logging.getLogger("azureml_user.parallel_run.entry_script")
            level = os.environ.get("AMLRUN_PRS_LOGGING_LEVEL", "INFO").upper()
            logger.setLevel(getattr(logging, level, logging.INFO))
            folder = self.log_dir / "entry_script_log" / self.node_id
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(folder / f"{self.process_name}.log.txt", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s|%(levelname)s|%(process)d|%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
            EntryScript._logger = logger
        return EntryScript._logger
