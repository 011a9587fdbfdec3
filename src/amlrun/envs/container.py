"""`--env container`: run a step inside its image with docker or podman, as AzureML runs it.

The image is the environment's `image:`, or one built from `build.path` (tagged
`localhost/amlrun-env:<hash of the build context>`, built once). The step's folders are mounted at the
same paths inside (code, inputs read-only, outputs, amlrun's small runtime), the working directory and
the step's variables are the same, and the process runs as the calling user, so what it writes is
the user's. Variables are passed by name (`-e NAME`), so no value, secret or not, is on a command line.
No engine answering is an error naming the engines tried: never a silent fallback to the host.
"""

from __future__ import annotations

import functools
import hashlib
import os
import resource
import shlex
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlrun.errors import EnvironmentError_

__all__ = ["ContainerSpec", "container_plan", "find_engine"]

ENGINES = ("docker", "podman")


@functools.cache
def find_engine() -> str:
    """The first container engine that answers (`$AMLRUN_CONTAINER_ENGINE` to choose one)."""
    wanted = os.environ.get("AMLRUN_CONTAINER_ENGINE")
    tried = []
    for engine in ([wanted] if wanted else ENGINES):
        try:
            answer = subprocess.run([engine, "info"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{engine} ({'not installed' if isinstance(exc, OSError) else 'no answer in 20s'})")
            continue
        if answer.returncode == 0:
            return engine
        tried.append(f"{engine} (installed, but its engine does not answer)")
    raise EnvironmentError_(f"--env container needs a container engine; tried {', '.join(tried)}",
                            hint="start Docker, or install podman; or run with --env auto (a venv) or --env host")


def _context_digest(context: Path, dockerfile: Path) -> str:
    digest = hashlib.sha256()
    for root, dirs, names in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__"))
        for name in sorted(names):
            path = Path(root) / name
            digest.update(f"{path.relative_to(context)}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                continue
    if not dockerfile.is_relative_to(context):
        digest.update(dockerfile.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ContainerSpec:
    """An image to run a step in, built from a context when there is one."""

    image: str
    context: Path | None = None
    dockerfile: Path | None = None

    @property
    def label(self) -> str:
        return self.image + (f" (built from {self.context})" if self.context else "")

    def prepare(self, progress: Callable[[str], None]) -> None:
        engine = find_engine()
        if self.context is None:
            return
        if subprocess.run([engine, "image", "inspect", self.image], capture_output=True).returncode == 0:
            return
        progress(f"building image {self.image} from {self.context} with {engine}")
        command = [engine, "build", *(["--isolation=chroot"] if engine == "podman" else []), "-t", self.image,
                   "-f", str(self.dockerfile), str(self.context)]
        built = subprocess.run(command, capture_output=True, text=True, errors="replace")
        if built.returncode != 0:
            tail = "\n".join(f"  {line}" for line in (built.stdout + built.stderr).strip().splitlines()[-12:])
            raise EnvironmentError_(f"{engine} could not build {self.dockerfile}:\n{tail}",
                                    hint=f"fix the Dockerfile; to see everything: {shlex.join(command)}")

    def argv(self, command: str, cwd: Path, env: dict[str, str], mounts: Iterable[tuple[Path, bool]]) -> list[str]:
        """The engine command line running `command` in the image; `env` must be given to it as its environment."""
        # bash as AzureML runs commands, when the image has it; sh otherwise (a busybox or distroless image)
        return [*self._run_args(cwd, env, mounts), self.image, "sh", "-c",
                'command -v bash >/dev/null 2>&1 && exec bash -c "$0" || exec sh -c "$0"', command]

    def python_argv(self, name: str, script: Path, cwd: Path, env: dict[str, str],
                    mounts: Iterable[tuple[Path, bool]]) -> list[str]:
        """The engine command line running `python script` in the image, stdin kept open, as container `name`."""
        mounts = [*mounts, (script.parent, False)]
        return [*self._run_args(cwd, env, mounts, ["-i", "--name", name]), self.image, "sh", "-c",
                'exec "$(command -v python || command -v python3)" "$@"', "python", str(script)]

    def stop(self, name: str) -> None:
        subprocess.run([find_engine(), "kill", name], capture_output=True)

    def _run_args(self, cwd: Path, env: dict[str, str], mounts: Iterable[tuple[Path, bool]],
                  extra: list[str] | None = None) -> list[str]:
        engine = find_engine()
        args = [engine, "run", "--rm", *(extra or []), "-w", str(cwd)]
        if engine == "podman" and os.geteuid() != 0:
            args.append("--userns=keep-id")
        else:
            args += ["--user", f"{os.getuid()}:{os.getgid()}"]
        if engine == "podman":  # rlimits the runtime may not raise (checked on hybrid-cgroup machines)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            args += ["--ulimit", f"nofile={soft}:{hard}", "--ulimit", "nproc=4096:4096"]
        args += shlex.split(os.environ.get("AMLRUN_CONTAINER_ARGS", ""))
        seen: set[str] = set()
        for path, writable in mounts:
            text = str(path)
            if text in seen or not path.exists():
                continue
            seen.add(text)
            args += ["-v", f"{text}:{text}" + ("" if writable else ":ro")]
        for name in sorted(env):
            args += ["-e", name]
        return args


def container_plan(spec: Any, base_dir: Path, choice: Any, mapped: str | None = None) -> Any:
    """An EnvPlan running the step in a container, from the environment or an amlrun.yaml mapping."""
    from amlrun.envs.resolve import EnvPlan, _described

    container: ContainerSpec | None = None
    if mapped is not None:
        path = Path(mapped)
        container = _built(path, None) if path.is_dir() else ContainerSpec(mapped)
    elif spec is not None and spec.build is not None and "://" not in spec.build.path:
        container = _built((base_dir / spec.build.path).resolve(), spec.build.dockerfile_path)
    elif spec is not None and spec.image:
        container = ContainerSpec(spec.image)
    if container is None:
        raise EnvironmentError_(
            f"--env container: the environment ({_described(spec)}) names no image or build context",
            hint="give it `image:` or `build: {path: ...}`, map it in amlrun.yaml `environments: {<name>: "
                 "{container: <image or folder>}}`, or use --env auto")
    return EnvPlan(strategy="container", description=f"{_described(spec)} -> container {container.label}",
                   python="python", fingerprint=hashlib.sha256(container.label.encode()).hexdigest()[:16]
                   if container.context is None else container.image.rsplit(":", 1)[-1], container=container)


def _built(context: Path, dockerfile: str | None) -> ContainerSpec:
    file = context / (dockerfile or "Dockerfile")
    if not file.is_file():
        raise EnvironmentError_(f"no Dockerfile in build context {context}",
                                hint="a build context holds a Dockerfile (or set build.dockerfile_path)")
    return ContainerSpec(f"localhost/amlrun-env:{_context_digest(context, file)}", context, file)
