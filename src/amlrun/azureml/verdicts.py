"""A cache of azure-ai-ml's verdicts, so `amlrun check` of an unchanged file skips the SDK import.

Importing and running azure-ai-ml costs seconds; its verdict on a file only depends on the bytes of
the job file and of every component file it names, the `--set` overrides and the azure-ai-ml
version. Those make the key. Entries live in `<user cache>/sdk-verdicts/` (see amlrun.userdirs);
a damaged or unwritable cache only costs the SDK's time again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from amlrun import __version__
from amlrun.errors import Problem
from amlrun.spec.overrides import Override
from amlrun.userdirs import cache_dir

__all__ = ["cached_sdk_problems", "verdict_key"]

_SCHEMA = 1  # bump when what is stored changes


def verdict_key(files: list[Path], overrides: list[Override], sdk_version: str) -> str:
    digest = hashlib.sha256(f"{_SCHEMA}\0{__version__}\0{sdk_version}\0".encode())
    digest.update(json.dumps([[k, repr(v)] for k, v in overrides]).encode())
    digest.update(str(Path.cwd()).encode())  # problems name files relative to here
    for file in files:
        digest.update(f"\0{file.resolve()}\0".encode())
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


def cached_sdk_problems(files: list[Path], overrides: list[Override],
                        compute: Callable[[], list[Problem]]) -> list[Problem]:
    """azure-ai-ml's problems for these files, from the cache when nothing changed, else `compute()`d."""
    version = _sdk_version()
    if version is None:
        return compute()
    entry = cache_dir() / "sdk-verdicts" / f"{verdict_key(files, overrides, version)}.json"
    try:
        return [Problem(**p) for p in json.loads(entry.read_text())["problems"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    problems = compute()
    _store(entry, problems)
    return problems


def _sdk_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("azure-ai-ml")
    except PackageNotFoundError:
        return None


def _store(entry: Path, problems: list[Problem]) -> None:
    """Write atomically (a concurrent `check` never reads half an entry); failures are ignored."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump({"problems": [p.__dict__ for p in problems]}, handle)
        os.replace(tmp, entry)
    except OSError:
        pass
