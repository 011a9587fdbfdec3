"""Helpers for the parallel-job tests: a folder of input files, an entry script, a job file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

__all__ = ["file_job", "read_rows", "table_job"]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def file_job(root: Path, script: str, files: int = 7, mini_batch_size: str = "2", append: bool = True,
             program_arguments: str = "", **fields) -> Path:
    """A parallel job over `files` small text files (`f00.txt` ...) with `script` as entry script."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (data / f"f{i:02d}.txt").write_text(f"content {i}\n")
    _write(root / "src" / "score.py", script)
    job: dict = {
        "type": "parallel",
        "inputs": {"files": {"type": "uri_folder", "path": "./data"}},
        "outputs": {"results": {"type": "uri_file"}},
        "input_data": "${{inputs.files}}",
        "mini_batch_size": mini_batch_size,
        "max_concurrency_per_instance": 2,
        "task": {"type": "run_function", "code": "./src", "entry_script": "score.py",
                 "program_arguments": program_arguments},
    }
    if append:
        job["task"]["append_row_to"] = "${{outputs.results}}"
    job.update(fields)
    path = root / "job.yml"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def table_job(root: Path, script: str, csv_files: dict[str, str], mini_batch_size: str = "1kb",
              program_arguments: str = "", **fields) -> Path:
    """A parallel job over an MLTable wrapping the given CSV files."""
    table = root / "table"
    for name, text in csv_files.items():
        _write(table / name, text)
    _write(table / "MLTable", """
        paths:
          - pattern: ./*.csv
        transformations:
          - read_delimited:
              delimiter: ','
              header: all_files_same_headers
    """)
    path = file_job(root, script, files=0, mini_batch_size=mini_batch_size, program_arguments=program_arguments,
                    **fields)
    job = yaml.safe_load(path.read_text())
    job["inputs"] = {"table": {"type": "mltable", "path": "./table", "mode": "direct"}}
    job["input_data"] = "${{inputs.table}}"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def read_rows(store: Path, run: str) -> list[str]:
    """The rows append_row wrote for run `run` (uri_file output `results`)."""
    out = store / "datastores" / "workspaceblobstore" / "azureml" / run / "results" / "results"
    return out.read_text().splitlines() if out.exists() else []
