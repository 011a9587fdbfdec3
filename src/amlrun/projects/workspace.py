"""A uv workspace as amlrun sees it: which member a file belongs to, what shared code it needs, its locked requirements.

    repo/pyproject.toml        [tool.uv.workspace] members = ["packages/*"]
    repo/uv.lock
    repo/packages/shared/      pyproject.toml, src/shared/...        imported by every experiment
    repo/packages/train/       pyproject.toml (depends on shared, [tool.uv.sources] shared = {workspace = true}),
                               src/train/..., aml-job.yaml, environment/Dockerfile

Shared code is a member's workspace dependencies (followed transitively) plus the folders amlrun.yaml
lists under `shared:`. Requirements come from `uv export --package <name>` against the lock file: the
package's third-party dependencies and those of its workspace dependencies, pinned with hashes; the
workspace members themselves are left out (their code is copied into the snapshot instead).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from amlrun.errors import EnvironmentError_, UsageError

__all__ = ["Member", "UvWorkspace", "export_requirements", "find_member", "find_uv", "import_packages"]


@dataclass(frozen=True)
class Member:
    """One package of the workspace (or a lone uv project)."""

    name: str
    folder: Path
    workspace_deps: tuple[str, ...] = ()


@dataclass
class UvWorkspace:
    root: Path
    members: dict[str, Member] = field(default_factory=dict)  # by normalized name

    def member(self, name: str) -> Member | None:
        return self.members.get(_normalize(name))

    def shared_of(self, member: Member) -> list[Member]:
        """The workspace members `member` depends on, transitively, in a stable order."""
        seen: dict[str, Member] = {}
        todo = list(member.workspace_deps)
        while todo:
            name = _normalize(todo.pop(0))
            found = self.members.get(name)
            if found is None or name in seen or found.name == member.name:
                continue
            seen[name] = found
            todo.extend(found.workspace_deps)
        return [seen[k] for k in sorted(seen)]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from None


def _member(folder: Path) -> Member | None:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    data = _read_toml(pyproject)
    name = (data.get("project") or {}).get("name")
    if not isinstance(name, str):
        return None
    sources = ((data.get("tool") or {}).get("uv") or {}).get("sources") or {}
    deps = tuple(sorted(k for k, v in sources.items() if isinstance(v, dict) and v.get("workspace")))
    return Member(name, folder.resolve(), deps)


def find_member(start: Path) -> tuple[UvWorkspace, Member] | None:
    """The uv project containing `start` and its workspace (a lone project is a workspace of one)."""
    here = start.resolve()
    here = here.parent if here.is_file() or not here.exists() else here
    own: Member | None = None
    own_folder = here
    for folder in (here, *here.parents):
        if own is None:
            own = _member(folder)
            own_folder = folder
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            workspace = ((_read_toml(pyproject).get("tool") or {}).get("uv") or {}).get("workspace")
            if isinstance(workspace, dict):
                found = _workspace(folder, workspace)
                if own is not None and found.member(own.name):
                    return found, found.member(own.name)  # type: ignore[return-value]
        if (folder / ".git").exists():
            break
    if own is None:
        return None
    return UvWorkspace(own_folder.resolve(), {_normalize(own.name): own}), own


def _workspace(root: Path, table: dict[str, Any]) -> UvWorkspace:
    members: dict[str, Member] = {}
    excluded = [str(p) for p in table.get("exclude") or []]
    for pattern in table.get("members") or []:
        for match in sorted(glob.glob(str(root / pattern))):
            relative = Path(match).relative_to(root).as_posix()
            if any(fnmatch.fnmatch(relative, e) for e in excluded):
                continue
            member = _member(Path(match))
            if member is not None:
                members[_normalize(member.name)] = member
    own = _member(root)
    if own is not None:
        members.setdefault(_normalize(own.name), own)
    return UvWorkspace(root.resolve(), members)


def import_packages(folder: Path) -> list[Path]:
    """The importable top-level packages and modules of a project folder (src layout or flat)."""
    base = folder / "src" if (folder / "src").is_dir() else folder
    found = []
    for child in sorted(base.iterdir()):
        if child.name.startswith((".", "_")) or child.name in ("tests", "test", "environment", "build", "dist"):
            continue
        if child.is_dir() and (child / "__init__.py").is_file() or base != folder and child.suffix == ".py":
            found.append(child)
    return found


def find_uv() -> str:
    """uv from the `uv` package installed with amlrun, else from PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise EnvironmentError_("uv is not installed", hint="pip install uv (amlrun uses it to export requirements)")
    return found


def export_requirements(workspace: UvWorkspace, member: Member) -> str:
    """`uv export` of `member`'s locked requirements (hashes pinned, workspace members left out)."""
    command = [find_uv(), "export", "--package", member.name, "--no-emit-workspace", "--no-dev",
               "--format", "requirements-txt", "--no-header", "--quiet"]
    if (workspace.root / "uv.lock").is_file():
        command.append("--locked")  # a stale lock is an error, not a silent re-resolve
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    proc = subprocess.run(command, cwd=workspace.root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        raise EnvironmentError_(f"uv could not export the requirements of {member.name!r}:\n{tail}",
                                hint="run `uv lock` in the workspace root after changing a pyproject.toml")
    return proc.stdout
