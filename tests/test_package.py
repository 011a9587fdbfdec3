"""`amlrun package` and `run --package`: isolated, deterministic snapshots of uv-workspace packages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from amlrun.projects.workspace import find_uv


@pytest.fixture
def workspace(tmp_path: Path, write) -> Path:
    """Two experiment packages and a shared one in a uv workspace (locked), and a pipeline of both."""
    root = tmp_path / "repo"
    write("repo/pyproject.toml", """
        [tool.uv.workspace]
        members = ["packages/*"]
    """)
    write("repo/amlrun.yaml", "datastores: {}\n")
    write("repo/packages/shared/pyproject.toml", """
        [project]
        name = "shared"
        version = "0.1.0"
        requires-python = ">=3.10"
    """)
    write("repo/packages/shared/src/shared/__init__.py", 'GREETING = "hello v1"\n')
    for name, body in (("trainer", "train"), ("scorer", "score")):
        write(f"repo/packages/{name}/pyproject.toml", f"""
            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.10"
            dependencies = ["shared"]

            [tool.uv.sources]
            shared = {{ workspace = true }}
        """)
        write(f"repo/packages/{name}/src/{name}/__init__.py", "")
        write(f"repo/packages/{name}/src/.amlignore", "*.log\n")
        write(f"repo/packages/{name}/environment/Dockerfile",
              "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n")
        write(f"repo/packages/{name}/src/{name}/{body}.py", """
            import argparse, pathlib
            from shared import GREETING
            parser = argparse.ArgumentParser()
            parser.add_argument("--out")
            parser.add_argument("--model", default=None)
            args = parser.parse_args()
            seen = pathlib.Path(args.model, "result.txt").read_text() if args.model else ""
            pathlib.Path(args.out, "result.txt").write_text(seen + GREETING + "\\n")
        """)
        command = f"python -m {name}.{body} --out ${{{{outputs.out}}}}" + (
            " --model ${{inputs.model}}" if name == "scorer" else "")
        inputs = "inputs:\n  model: {type: uri_folder}\n" if name == "scorer" else ""
        write(f"repo/packages/{name}/aml-component.yaml",
              f"type: command\nname: {name}\nversion: '1'\ncode: ./src\ncommand: {command}\n"
              f"environment: {{build: {{path: ./environment}}}}\n{inputs}outputs:\n  out: {{type: uri_folder}}\n")
    write("repo/data/seed/result.txt", "seed\n")
    write("repo/packages/trainer/aml-job.yaml", """
        type: command
        code: ./src
        command: python -m trainer.train --out ${{outputs.out}} --model ${{inputs.seed}}
        environment: {build: {path: ./environment}}
        inputs:
          seed: {type: uri_folder, path: ../../data/seed}
        outputs:
          out: {type: uri_folder}
    """)
    write("repo/pipelines/train_score.yaml", """
        type: pipeline
        jobs:
          train:
            component: ../packages/trainer/aml-component.yaml
          score:
            component: ../packages/scorer/aml-component.yaml
            inputs:
              model: ${{parent.jobs.train.outputs.out}}
    """)
    subprocess.run([find_uv(), "lock", "--offline", "--quiet"], cwd=root, check=True)
    return root


def _hash(amlrun, job: Path, *args: str) -> str:
    result = amlrun("package", job, *args, cwd=job.parent)
    assert result.code == 0, result.text
    return result.out.strip()


def test_package_is_deterministic_and_isolated(amlrun, workspace: Path, tmp_path: Path) -> None:
    job = workspace / "packages" / "trainer" / "aml-job.yaml"
    first = _hash(amlrun, job, "-o", tmp_path / "pkg")
    assert _hash(amlrun, job, "-o", tmp_path / "pkg") == first
    snapshot = tmp_path / "pkg"
    assert (snapshot / "code" / "trainer" / "train.py").is_file()
    assert (snapshot / "code" / "shared" / "__init__.py").is_file()  # the shared code it imports
    assert (snapshot / "environment" / "Dockerfile").is_file()
    assert (snapshot / "environment" / "requirements.txt").is_file()
    rewritten = yaml.safe_load((snapshot / "aml-job.yaml").read_text())
    assert rewritten["code"] == "./code" and rewritten["environment"]["build"]["path"] == "./environment"
    assert (snapshot / rewritten["inputs"]["seed"]["path"]).resolve() == workspace / "data" / "seed"

    (workspace / "packages" / "trainer" / "src" / "debug.log").write_text("ignored by .amlignore\n")
    assert _hash(amlrun, job, "-o", tmp_path / "pkg") == first
    assert not (snapshot / "code" / "debug.log").exists()

    (workspace / "packages" / "shared" / "src" / "shared" / "__init__.py").write_text('GREETING = "hello v2"\n')
    assert _hash(amlrun, job, "-o", tmp_path / "pkg") != first

    # `submit --package` sends a fresh snapshot: its code upload holds the shared code
    dry = amlrun("submit", "--package", job, "--dry-run", "--compute", "cpu", cwd=workspace)
    assert dry.code == 0, dry.text
    assert "shared/__init__.py" in dry.out and "trainer/train.py" in dry.out and ".amlrun/packages/" in dry.text


def test_run_packaged_job_and_pipeline(amlrun, workspace: Path, store: Path) -> None:
    job = workspace / "packages" / "trainer" / "aml-job.yaml"
    result = amlrun("run", "--package", job, "--name", "packaged_job", cwd=workspace, env={"AMLRUN_ENV": "auto"})
    assert result.code == 0, result.text
    # the snapshot's environment/ (Dockerfile + uv-exported requirements.txt) is the step's venv
    assert "venv" in result.err and "environment/Dockerfile" in result.err
    digest = next(line.split()[-1] for line in result.err.splitlines() if "package hash" in line)
    shown = amlrun("show", "packaged_job", cwd=workspace)
    assert digest in shown.out and f"packages/{digest[:12]}/aml-job.yaml" in shown.out
    outputs = [p for p in store.rglob("result.txt") if p.parent.name == "out"]
    assert [p.read_text() for p in outputs] == ["seed\nhello v1\n"]

    pipeline = workspace / "pipelines" / "train_score.yaml"
    ran = amlrun("run", "--package", pipeline, "--name", "packaged_pipeline", cwd=workspace)
    assert ran.code == 0, ran.text
    scored = [p for p in store.rglob("result.txt") if p.parent.name == "out" and "score" in str(p)]
    assert scored and scored[0].read_text() == "hello v1\nhello v1\n"


def test_shared_folders_from_amlrun_yaml_and_snapshot_limits(amlrun, workspace: Path, tmp_path: Path, write) -> None:
    """`shared:` folders are copied too; a snapshot over AzureML's file limit is warned about by name."""
    write("repo/amlrun.yaml", "shared: [missing]\n")
    missing = amlrun("package", workspace / "packages" / "trainer" / "aml-job.yaml", "-o", tmp_path / "pkg")
    assert missing.code == 2 and "missing" in missing.err and "amlrun.yaml" in missing.err

    write("repo/amlrun.yaml", "shared: [common]\n")
    write("repo/common/helpers.py", "X = 1\n")
    dump = workspace / "packages" / "trainer" / "src" / "dump"
    dump.mkdir()
    for i in range(2001):
        (dump / f"f{i:04}.txt").write_text("x")
    (dump / "big.bin").write_bytes(b"0" * 300_000)
    result = amlrun("package", workspace / "packages" / "trainer" / "aml-job.yaml", "-o", tmp_path / "pkg")
    assert result.code == 0, result.text
    assert (tmp_path / "pkg" / "code" / "common" / "helpers.py").is_file()
    assert "AzureML refuses more than 2000 files" in result.err and "code/dump/big.bin" in result.err
