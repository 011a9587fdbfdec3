"""`amlrun package`: an isolated, deterministic snapshot of a job (or pipeline) and everything it needs.

For each job or component file the snapshot holds, in its own folder:

    code/          the `code` folder (after .amlignore, else .gitignore) plus the shared code it imports
                   (its uv workspace dependencies' import packages, and amlrun.yaml `shared:` folders)
    environment/   the package's `environment/` folder (e.g. a Dockerfile) and `requirements.txt`
                   exported by uv from the lock file for just that package (hashes pinned)
    <file>.yaml    the YAML, rewritten to point inside the snapshot (`code`, `build.path`, `conda_file`,
                   local input paths)

A pipeline's steps name their components' packages (`component: ./<package>/aml-component.yaml`).
The content hash covers every file's path and bytes: packaging unchanged sources twice gives the same
hash; a changed shared module gives a new one; an ignored file changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from amlrun.engine.snapshot import list_snapshot_files
from amlrun.errors import UsageError
from amlrun.projects.workspace import Member, export_requirements, find_member, import_packages
from amlrun.spec.project import find_project_config, load_project_config
from amlrun.spec.source import read_yaml

__all__ = ["MARKER", "PackageResult", "build_package", "package_home"]

MARKER = ".amlrun-package.json"
MAX_FILES = 2000
MAX_BYTES = 300 * 1024 * 1024
_REMOTE = ("azureml:", "http://", "https://", "wasbs://", "abfss://", "git+", "file:")


@dataclass
class PackageResult:
    folder: Path
    job_file: Path
    digest: str
    files: int
    bytes: int
    units: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.digest[:12]


def package_home(job_file: Path) -> Path:
    """Where `run/submit --package` keep snapshots: `.amlrun/packages/` of the job's project.

    Under the project so that amlrun.yaml (datastores, data assets) is found above the snapshot.
    """
    config = find_project_config(job_file)
    found = find_member(job_file)
    root = config.parent if config else (found[0].root if found else job_file.resolve().parent)
    return root / ".amlrun" / "packages"


class _Packager:
    def __init__(self, job_file: Path, stage: Path, anchor: Path) -> None:
        self.job_file = job_file.resolve()
        self.stage = stage
        self.anchor = anchor  # where the snapshot will be (or a folder as deep): relative data paths start there
        self.config = load_project_config(job_file)
        self.units: dict[Path, str] = {}  # component file -> its folder in the snapshot
        self.warnings: list[str] = []
        self.requirements: dict[str, str] = {}

    # documents -----------------------------------------------------------------------------------

    def document(self, source_file: Path, data: dict[str, Any], unit_dir: str, yaml_dir: str) -> dict[str, Any]:
        """`data` (read from `source_file`) rewritten for a YAML written at `yaml_dir` in the snapshot."""
        data = copy.deepcopy(data)
        src = source_file.parent
        if data.get("type") == "pipeline":
            for step_name, step in (data.get("jobs") or {}).items():
                if not isinstance(step, dict):
                    continue
                component = step.get("component")
                if isinstance(component, str) and not component.startswith("azureml:"):
                    target = (src / component.removeprefix("file:")).resolve()
                    step["component"] = self._component(target, yaml_dir)
                elif isinstance(step.get("code"), str):
                    self._unit(src, step, _join(unit_dir, step_name), yaml_dir)
                self._inputs(step, src, yaml_dir)
            self._inputs(data, src, yaml_dir)
            return data
        self._unit(src, data, unit_dir, yaml_dir)
        task = data.get("task")
        if isinstance(task, dict) and isinstance(task.get("code"), str) and "code" not in data:
            self._unit(src, task, unit_dir, yaml_dir)  # a parallel job's code and environment are in `task`
        self._inputs(data, src, yaml_dir)
        return data

    def _component(self, file: Path, from_dir: str) -> str:
        if file not in self.units:
            if not file.is_file():
                raise UsageError(f"component file not found: {file}", hint="run `amlrun check` on the pipeline")
            found = find_member(file)
            base = _safe(found[1].name if found else file.parent.name)
            name, n = base, 2
            while name in self.units.values():
                name, n = f"{base}_{n}", n + 1
            self.units[file] = name
            data = read_yaml(file).data
            rewritten = self.document(file, data, name, name)
            self._write_yaml(self.stage / name / file.name, rewritten)
        return _relative(f"{self.units[file]}/{file.name}", from_dir)

    def _unit(self, src: Path, holder: dict[str, Any], unit_dir: str, yaml_dir: str) -> None:
        """Copy `holder['code']` with its shared code, and its environment; rewrite their paths."""
        code = holder.get("code")
        member = None
        if isinstance(code, str) and not code.startswith(_REMOTE):
            code_dir = (src / code).resolve()
            if not code_dir.is_dir():
                raise UsageError(f"code folder not found: {code_dir}", hint="run `amlrun check` on the job")
            found = find_member(code_dir)
            member = found[1] if found else None
            target = self.stage / unit_dir / "code"
            _copy_tree(code_dir, target)
            shared = found[0].shared_of(found[1]) if found else []
            self._shared(shared, target)
            holder["code"] = _relative(_join(unit_dir, "code"), yaml_dir)
            if found:
                key = found[1].name
                if key not in self.requirements:
                    self.requirements[key] = export_requirements(found[0], found[1])
        self._environment(src, holder, unit_dir, yaml_dir, member)

    def _shared(self, members: list[Member], target: Path) -> None:
        sources: list[Path] = [p for m in members for p in import_packages(m.folder)]
        for entry in self.config_shared():
            if not entry.exists():
                raise UsageError(f"shared code {entry} (amlrun.yaml `shared:`) does not exist",
                                 hint=f"fix the entry in {self.config.path}; paths are relative to that file")
            sources.extend(import_packages(entry) if (entry / "pyproject.toml").is_file() else [entry])
        for source in sources:
            destination = target / source.name
            if destination.exists():
                self.warnings.append(f"shared {source} not copied: the code folder already has {source.name}")
                continue
            if source.is_dir():
                _copy_tree(source, destination)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, destination)

    def config_shared(self) -> list[Path]:
        return [(self.config.folder / entry).resolve() for entry in self.config.shared]

    def _environment(self, src: Path, holder: dict[str, Any], unit_dir: str, yaml_dir: str,
                     member: Member | None) -> None:
        env_dir = self.stage / unit_dir / "environment"
        environment = holder.get("environment")
        if isinstance(environment, dict):
            build = environment.get("build")
            if isinstance(build, dict) and isinstance(build.get("path"), str) and not build["path"].startswith(_REMOTE):
                _copy_tree((src / build["path"]).resolve(), env_dir)
                build["path"] = _relative(_join(unit_dir, "environment"), yaml_dir)
            conda = environment.get("conda_file")
            if isinstance(conda, str) and not conda.startswith(_REMOTE) and (src / conda).is_file():
                env_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / conda, env_dir / Path(conda).name)
                environment["conda_file"] = _relative(_join(unit_dir, "environment", Path(conda).name), yaml_dir)
        elif member is not None and (member.folder / "environment").is_dir():
            _copy_tree(member.folder / "environment", env_dir)
        if member is not None:
            env_dir.mkdir(parents=True, exist_ok=True)
            (env_dir / "requirements.txt").write_text(self.requirements[member.name], encoding="utf-8")

    def _inputs(self, data: dict[str, Any], src: Path, yaml_dir: str) -> None:
        """Local input paths still point at the same data, seen from the snapshot."""
        for spec in (data.get("inputs") or {}).values():
            if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                path = spec["path"]
                if not path.startswith(_REMOTE) and "${{" not in path and not os.path.isabs(path):
                    spec["path"] = os.path.relpath(src / path, self.anchor / yaml_dir).replace(os.sep, "/")

    def _write_yaml(self, path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "package"


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _relative(path: str, from_dir: str) -> str:
    text = os.path.relpath(path, from_dir or ".").replace(os.sep, "/")
    return text if text.startswith("..") else f"./{text}"


def _copy_tree(source: Path, target: Path) -> None:
    files, _ = list_snapshot_files(source)
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / relative, destination)  # content and mode: a tool script stays executable
    target.mkdir(parents=True, exist_ok=True)


def _digest(folder: Path) -> tuple[str, int, int, list[tuple[int, str]]]:
    """sha256 over sorted (path, executable bit, content hash); also file count, bytes and sizes."""
    outer = hashlib.sha256()
    count = total = 0
    sizes = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        relative = path.relative_to(folder).as_posix()
        content = path.read_bytes()
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        outer.update(relative.encode() + b"\0" + executable + hashlib.sha256(content).digest())
        count += 1
        total += len(content)
        sizes.append((len(content), relative))
    return outer.hexdigest(), count, total, sizes


def build_package(job_file: Path, output: Path | None = None) -> PackageResult:
    """Build the snapshot of `job_file` into `output` (default: the project's `.amlrun/packages/<hash>`)."""
    job_file = Path(job_file)
    source = read_yaml(job_file)
    from amlrun.spec.azmlops import is_azmlops

    if is_azmlops(source.data):
        raise UsageError(f"{job_file} is an azmlops file", hint=f"`amlrun convert {job_file} -o job.yml`, then "
                         "package job.yml")
    home = package_home(job_file)
    home.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".building-", dir=home))
    try:
        anchor = Path(output).resolve() if output is not None else home / ("0" * 12)  # as deep as home/<hash>
        packager = _Packager(job_file, stage, anchor)
        rewritten = packager.document(job_file.resolve(), source.data, "", "")
        packager._write_yaml(stage / job_file.name, rewritten)
        digest, count, total, sizes = _digest(stage)
        warnings = list(packager.warnings)
        if count > MAX_FILES or total > MAX_BYTES:
            largest = ", ".join(f"{p} ({s / 1024 / 1024:.1f} MB)" for s, p in sorted(sizes, reverse=True)[:5])
            warnings.append(f"the snapshot has {count} files, {total / 1024 / 1024:.1f} MB: AzureML refuses more "
                            f"than {MAX_FILES} files or {MAX_BYTES // 1024 // 1024} MB; largest: {largest} "
                            "(exclude them in .amlignore)")
        (stage / MARKER).write_text(json.dumps({"hash": digest, "source": str(job_file.resolve())}, indent=1))
        target = Path(output) if output is not None else home / digest[:12]
        if output is not None or _hash_of(target) != digest:  # same content: a run may be using it, keep it
            _replace(stage, target)
        return PackageResult(target, target / job_file.name, digest, count, total,
                             sorted(packager.units.values()), warnings)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _hash_of(folder: Path) -> str | None:
    try:
        return json.loads((folder / MARKER).read_text()).get("hash")
    except (OSError, ValueError, AttributeError):
        return None


def _replace(stage: Path, target: Path) -> None:
    """Move the built snapshot to `target`, replacing an earlier package there, never other files."""
    if target.exists():
        if not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).is_file()):
            raise UsageError(f"{target} exists and is not an amlrun package", hint="choose an empty or new -o folder")
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(stage, target)
