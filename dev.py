#!/usr/bin/env python3
"""Set up everything amlrun needs in ./.venv (and ./node_modules), then run the demo or the tests.

    python3 dev.py demo     set up, then run the example jobs
    python3 dev.py test     set up, then lint and run the test suite
    python3 dev.py setup    set up only

Needs only python3 (and npm for the Azurite blob server used by the data tests). Re-running is
cheap: set-up is skipped while pyproject.toml and package.json are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".amlrun-setup"


def sh(*cmd: str | Path, **kw) -> None:
    """Run a step; on failure, say which and exit with its code (no traceback)."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw).returncode
    if code:
        print(f"dev.py: `{' '.join(str(c) for c in cmd)}` failed with exit code {code}", file=sys.stderr)
        sys.exit(code)


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "package.json", "package-lock.json", "dev.py"):
        file = ROOT / name
        if file.exists():
            digest.update(file.read_bytes())
    return digest.hexdigest()


def setup() -> None:
    if STAMP.exists() and STAMP.read_text() == fingerprint() and PY.exists():
        return
    if not PY.exists():
        sh(sys.executable, "-m", "venv", VENV)
    sh(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "uv")
    # Compiled bytecode: these machines set PYTHONDONTWRITEBYTECODE, so without it every process recompiles.
    sh(BIN / "uv", "pip", "install", "-q", "--compile-bytecode", "--python", PY, "-e", ".[dev]")
    compile_site_packages()
    install_system_packages()
    if (ROOT / "package.json").exists():
        npm = shutil.which("npm")
        if npm:
            lock = (ROOT / "package-lock.json").exists()
            sh(npm, "ci" if lock else "install", "--no-audit", "--no-fund", "--loglevel=error")
        else:
            print("npm not found: the Azurite blob tests will be skipped", file=sys.stderr)
    STAMP.write_text(fingerprint())


def compile_site_packages() -> None:
    """Bytecode for every installed module: uv compiles only what it installs in this call, so packages an
    earlier set-up (or pip) left uncompiled would be recompiled by every process. compileall skips
    modules whose bytecode is current; a file that does not compile (a package's Python 2 test data) is
    no reason to stop."""
    paths = subprocess.run([str(PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib']); "
                            "print(sysconfig.get_paths()['platlib'])"], capture_output=True, text=True).stdout
    folders = sorted(set(paths.split()))
    print("+", PY, "-m compileall -q -j 0", *folders, flush=True)
    subprocess.run([str(PY), "-m", "compileall", "-q", "-j", "0", *folders], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Debian packages some tests use (each test skips, naming what is missing, when one cannot be had).
APT_PACKAGES: list[str] = [
    "podman", "runc", "busybox-static",  # envs: --env container tests
    "chromium",  # the report renders in a real browser (test_report)
    "openmpi-bin",  # MPI jobs launch through mpirun (test_distributed_jobs; ~7 MB download)
]


def install_system_packages() -> None:
    """Best effort: apt-get the packages tests need when we are root on Debian; say so when we cannot."""
    missing = [p for p in APT_PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if not apt or os.geteuid() != 0:
        print(f"dev.py: cannot install {' '.join(missing)} (needs root and apt-get): tests using them will skip",
              file=sys.stderr)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    if subprocess.run([apt, "update", "-q"], **quiet).returncode or subprocess.run(
            [apt, "install", "-y", "-q", "--no-install-recommends", *missing], **quiet).returncode:
        print(f"dev.py: apt-get could not install {' '.join(missing)}: tests using them will skip", file=sys.stderr)


def demo() -> int:
    env = {**os.environ, "AMLRUN_HOME": str(ROOT / ".amlrun")}
    code = 0
    for example in DEMOS:
        print(f"\n=== amlrun run {example}", flush=True)
        code |= subprocess.run([str(BIN / "amlrun"), "run", example], cwd=ROOT, env=env).returncode
    subprocess.run([str(BIN / "amlrun"), "runs", "-n", "5"], cwd=ROOT, env=env)
    return code


DEMOS = ["examples/hello/job.yml", "examples/pipeline/pipeline.yml", "examples/dispatch_table/job.yml"]


def test(extra: list[str]) -> int:
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "lint-imports")
    compile_sources()
    return subprocess.run([str(PY), "-m", "pytest", *extra], cwd=ROOT).returncode


def compile_sources() -> None:
    """Bytecode for src/ too (the editable install leaves it uncompiled): each `python -m amlrun` a test
    starts would otherwise compile every module it imports again."""
    sh(PY, "-m", "compileall", "-q", "-j", "0", ROOT / "src")


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "demo"
    setup()
    if what == "setup":
        return 0
    if what == "demo":
        return demo()
    if what == "test":
        return test(sys.argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
