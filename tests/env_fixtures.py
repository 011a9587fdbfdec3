"""Fixtures for environment tests: local wheels built here (no index needed), a private env cache, a uv spy."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

import pytest


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-Python wheel holding `files` (archive name -> bytes), with the metadata installers need."""
    stem = f"{dist.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    files = {**files,
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: amlrun-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def wheel_from_installed(folder: Path, dist: str) -> Path:
    """A wheel of a pure-Python package installed here (fsspec for the datastore shim), without an index."""
    found = metadata.distribution(dist)
    files = {}
    for item in found.files or []:
        name = str(item)
        if "__pycache__" in name or name.endswith(".pyc") or name.startswith("..") or "dist-info" in name:
            continue
        source = Path(found.locate_file(item))
        if source.is_file():
            files[name] = source.read_bytes()
    return write_wheel(folder, dist, found.version, files)


@pytest.fixture(scope="session", name="wheels")
def wheels_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`amlrun-testpkg` 1.0 and 2.0 (module `testpkg`), and fsspec: what test environments install."""
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        write_wheel(folder, "amlrun-testpkg", version, {"testpkg/__init__.py": f"__version__ = '{version}'\n".encode()})
    wheel_from_installed(folder, "fsspec")
    return folder


@pytest.fixture(scope="session", name="uv_cache")
def uv_cache_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture(name="env_vars")
def env_vars_fixture(tmp_path: Path, wheels: Path, uv_cache: Path) -> dict[str, str]:
    """A private venv cache, uv's cache shared by the session, packages from `wheels` only (offline)."""
    return {"AMLRUN_ENV_CACHE": str(tmp_path / "env-cache"), "UV_CACHE_DIR": str(uv_cache),
            "UV_FIND_LINKS": str(wheels), "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_CONFIG": "1"}


@pytest.fixture(name="uv_spy")
def uv_spy_fixture(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """AMLRUN_UV pointing at a wrapper that records each uv call in a file, then runs the real uv."""
    from uv import find_uv_bin

    log = tmp_path / "uv-calls.txt"
    log.touch()
    script = tmp_path / "uv-spy"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexec {shutil.which('uv') or find_uv_bin()} \"$@\"\n")
    os.chmod(script, 0o755)
    return {"AMLRUN_UV": str(script)}, log
