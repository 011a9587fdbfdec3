"""Steps run in the environment their YAML declares: cached uv venvs built from local wheels (no index)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from amlrun.envs.definition import from_conda, from_dockerfile
from env_fixtures import (  # the fixtures env_vars, uv_spy, wheels (and the session's uv_cache)
    env_vars_fixture,  # noqa: F401
    uv_cache_fixture,  # noqa: F401
    uv_spy_fixture,  # noqa: F401
    wheels_fixture,  # noqa: F401
    write_wheel,
)

PRINT_VERSION = 'python -c "import testpkg, sys; print(\'testpkg\', testpkg.__version__, sys.prefix)"'


def _conda(version: str, extra: str = "") -> str:
    return f"""
        name: step-env
        channels: [conda-forge]
        dependencies:
          - python=3.11
          - pip
          - numpy=1.21.2
          - pip:
            - amlrun-testpkg=={version}{extra}
        """


def _job(write, conda: str, command: str = PRINT_VERSION) -> Path:
    write("job/conda.yml", conda)
    return write("job/job.yml", f"""
        command: {command}
        environment:
          image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
          conda_file: conda.yml
        """)


def test_conda_file_venv_is_built_then_reused_without_uv_and_rebuilt_when_edited(
        amlrun, write, env_vars, uv_spy, tmp_path: Path) -> None:
    spy_env, calls = uv_spy
    job = _job(write, _conda("1.0"))
    first = amlrun("run", job, env={**env_vars, **spy_env})
    assert first.code == 0, first.text
    assert "testpkg 1.0" in first.out and str(tmp_path / "env-cache") in first.out
    assert "building environment" in first.err and "numpy=1.21.2 (pip: numpy==1.21.2)" in first.err
    assert [c.split()[0] for c in calls.read_text().splitlines()].count("venv") == 1

    calls.write_text("")
    second = amlrun("run", job, env={**env_vars, **spy_env})
    assert second.code == 0 and "testpkg 1.0" in second.out, second.text
    assert "cached" in second.err and "building" not in second.err
    assert calls.read_text() == "", "reusing a venv must not start uv"

    job.parent.joinpath("conda.yml").write_text(job.parent.joinpath("conda.yml").read_text().replace("1.0", "2.0"))
    third = amlrun("run", job, env={**env_vars, **spy_env})
    assert third.code == 0 and "testpkg 2.0" in third.out and "building environment" in third.err, third.text

    listing = amlrun("envs", env=env_vars)
    assert listing.code == 0 and listing.out.count("job/conda.yml") == 2, listing.text
    pruned = amlrun("envs", "prune", env=env_vars)
    assert pruned.code == 0 and "removed 2" in pruned.err, pruned.text
    assert not [p for p in (tmp_path / "env-cache").iterdir() if p.is_dir()]
    assert "no cached environments" in amlrun("envs", env=env_vars).err


def test_two_pipeline_steps_pin_different_versions_and_show_names_their_environments(
        amlrun, write, env_vars) -> None:
    for version in ("1.0", "2.0"):
        write(f"p/env{version[0]}.yml", _conda(version))
    pipeline = write("p/pipeline.yml", f"""
        type: pipeline
        jobs:
          old:
            type: command
            command: {PRINT_VERSION}
            environment: {{conda_file: env1.yml}}
          new:
            type: command
            command: {PRINT_VERSION}
            environment: {{conda_file: env2.yml}}
          plain:
            type: command
            command: echo plain
            environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
        """)
    result = amlrun("run", pipeline, "--name", "pins", env=env_vars)
    assert result.code == 0, result.text
    assert "old | testpkg 1.0" in result.out and "new | testpkg 2.0" in result.out
    assert "environment (plain): azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest -> host interpreter" \
        in result.err
    shown = amlrun("show", "pins", env=env_vars)
    assert "[venv " in shown.out and "[host interpreter]" in shown.out, shown.text
    pipeline.parent.joinpath("env1.yml").write_text(pipeline.parent.joinpath("env1.yml").read_text()
                                                    .replace("1.0", "2.0"))
    again = amlrun("run", pipeline, "--name", "pins2", env=env_vars)
    assert again.code == 0 and "old | testpkg 2.0" in again.out, again.text  # its environment changed: it reruns
    # env1.yml now says what env2.yml says: one venv by content (as AzureML hashes environments), not rebuilt
    assert "building environment" not in again.err, again.err
    assert "Reused (outputs of pins_new)" in again.err and "Reused (outputs of pins_plain)" in again.err


def test_a_jobs_pip_install_never_lands_in_amlruns_environment(amlrun, write, wheels, tmp_path: Path) -> None:
    job = write("pip/job.yml", f"""
        command: >-
          pip install --quiet --no-index --find-links {wheels} amlrun-testpkg==2.0 &&
          python -c "import testpkg; print('job sees', testpkg.__version__, testpkg.__file__)"
        """)
    result = amlrun("run", job, "--env", "host", "--name", "piprun")
    assert result.code == 0, result.text
    assert "job sees 2.0" in result.out and str(tmp_path / "store" / "runs" / "piprun") in result.out
    assert "a `pip install` in the job goes to the step's folder" in result.err
    probe = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('testpkg'))"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "None", "the job's package leaked into amlrun's interpreter"


def test_parallel_job_runs_in_a_venv_without_amlrun(amlrun, write, env_vars, tmp_path: Path) -> None:
    data = tmp_path / "store" / "datastores" / "workspaceblobstore" / "rows"
    data.mkdir(parents=True)
    for i in range(3):
        (data / f"r{i}.txt").write_text(f"row {i}\n")
    write("par/conda.yml", """
        dependencies:
          - python=3.11
          - pip:
            - azureml-fsspec
            - amlrun-testpkg==1.0
        """)
    write("par/src/score.py", """
        import importlib.util, os, sys
        from azureml_user.parallel_run import EntryScript
        from azureml.fsspec import AzureMachineLearningFileSystem

        def init():
            global fs
            fs = AzureMachineLearningFileSystem("azureml://datastores/workspaceblobstore/paths/rows")
            EntryScript().logger.info("init in %s", sys.prefix)

        def run(mini_batch):
            amlrun_there = importlib.util.find_spec("amlrun") is not None
            rows = []
            for f in mini_batch:  # azureml-fsspec: paths from the datastore root, files read through open()
                with fs.open("rows/" + os.path.basename(f)) as handle:
                    text = handle.read().decode().strip()
                rows.append(f"{os.path.basename(f)} {text} amlrun={amlrun_there} prefix={sys.prefix}")
            return rows
        """)
    job = write("par/job.yml", """
        type: parallel
        inputs:
          rows: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/rows}
        outputs:
          out: {type: uri_folder}
        input_data: ${{inputs.rows}}
        mini_batch_size: "2"
        task:
          type: run_function
          code: src
          entry_script: score.py
          environment: {conda_file: conda.yml}
          append_row_to: ${{outputs.out}}
        """)
    result = amlrun("run", job, "--name", "par", env=env_vars)
    assert result.code == 0, result.text
    rows = next((tmp_path / "store").rglob("parallel_run_step.txt")).read_text().splitlines()
    assert sorted(r.split()[:3] for r in rows) == [[f"r{i}.txt", "row", str(i)] for i in range(3)]
    assert all("amlrun=False" in r and f"prefix={tmp_path / 'env-cache'}" in r for r in rows), rows


def test_dockerfile_build_context_becomes_a_venv_under_auto(amlrun, write, env_vars) -> None:
    write("docker/context/requirements.txt", "amlrun-testpkg==2.0\n")
    write("docker/context/Dockerfile", """
        FROM python:3.11-slim
        RUN apt-get update && apt-get install -y curl
        COPY requirements.txt /tmp/requirements.txt
        RUN pip install --no-cache-dir \\
            -r /tmp/requirements.txt
        """)
    job = write("docker/job.yml", f"""
        command: {PRINT_VERSION}
        environment:
          build: {{path: context}}
        """)
    result = amlrun("run", job, env=env_vars)
    assert result.code == 0 and "testpkg 2.0" in result.out, result.text
    assert "context/Dockerfile also runs apt-get" in result.err


def test_amlrun_yaml_maps_a_registered_environment_to_a_venv_and_a_step_to_the_host(amlrun, write,
                                                                                   env_vars) -> None:
    write("proj/amlrun.yaml", """
        environments:
          AzureML-sklearn-1.0-ubuntu20.04-py38-cpu: {venv: envs/sk.txt}
          plain: host
        """)
    write("proj/envs/sk.txt", "amlrun-testpkg==1.0\n")
    pipeline = write("proj/pipeline.yml", f"""
        type: pipeline
        jobs:
          mapped:
            type: command
            command: {PRINT_VERSION}
            environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
          plain:
            type: command
            command: python -c "import sys; print('plain', sys.prefix)"
            environment: {{conda_file: conda.yml}}
        """)
    write("proj/conda.yml", _conda("2.0"))
    result = amlrun("run", pipeline, env=env_vars)
    assert result.code == 0, result.text
    assert "mapped | testpkg 1.0" in result.out and f"plain | plain {sys.prefix}" in result.out


def test_missing_python_builds_with_the_nearest_or_refuses_when_strict(amlrun, write, env_vars) -> None:
    job = _job(write, _conda("1.0").replace("python=3.11", "python=3.5"))
    strict = amlrun("run", job, "--strict-python", env=env_vars)
    assert strict.code == 1 and "asks for Python 3.5, which is not on this machine" in strict.err, strict.text
    result = amlrun("run", job, env=env_vars)
    assert result.code == 0 and "testpkg 1.0" in result.out, result.text
    assert "Python 3.5 is not on this machine: building with Python 3." in result.err


def test_a_failed_build_names_the_line_and_shows_uvs_words(amlrun, write, env_vars) -> None:
    job = _job(write, _conda("9.9").replace("python=3.11", "python=3.5"))  # as old corpus files pin
    result = amlrun("run", job, env=env_vars)
    assert result.code == 1, result.text
    assert "could not build the environment from job/conda.yml" in result.err
    assert "conda.yml:8: amlrun-testpkg==9.9" in result.err and "uv said:" in result.err
    assert "failed.log" in result.err and "`--env host` runs the step" in result.err
    # the pinned Python was missing: the error says which stood in and how to get the pinned one
    assert "It asks for Python 3.5, which is not on this machine: Python 3." in result.err
    assert "uv python install 3.5" in result.err


def test_two_runs_building_one_environment_at_once_build_it_once(amlrun, write, env_vars, uv_spy) -> None:
    spy_env, calls = uv_spy
    job = _job(write, _conda("1.0"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(amlrun("run", job, env={**env_vars, **spy_env})))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.code == 0 and "testpkg 1.0" in r.out for r in results), [r.text for r in results]
    assert [c.split()[0] for c in calls.read_text().splitlines()].count("venv") == 1


def test_definitions_report_conda_only_packages_and_read_dockerfile_pip_lines(tmp_path: Path) -> None:
    conda = from_conda({"dependencies": ["python=3.8.5", "pytorch=1.10", "cudatoolkit=11.3", "pip",
                                         {"pip": ["six==1.16", "--find-links ./wheels"]}]}, "c.yml", tmp_path)
    assert conda.python == "3.8" and conda.packages == ["six"]
    assert conda.conda_only == ["pytorch=1.10 (pip: torch==1.10.*)", "cudatoolkit=11.3 (no pip package)"]
    (tmp_path / "ctx" / "deps").mkdir(parents=True)
    (tmp_path / "ctx" / "deps" / "reqs.txt").write_text("six\n# comment\npyjokes==0.6.0  # pinned\n")
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\nWORKDIR /app\nCOPY deps/ /app/deps/\n"
        "RUN python -m pip install -U pip && pip install -r deps/reqs.txt \\\n    'attrs>=22' && uv pip install tqdm\n")
    docker = from_dockerfile(tmp_path / "ctx" / "Dockerfile", tmp_path / "ctx")
    assert docker.packages == ["six", "pyjokes", "attrs", "tqdm"] and not docker.notes
    assert [r.lineno for r in docker.requirements] == [1, 3, 4, 4]



def _podman_answers() -> bool:
    if not shutil.which("podman") or not shutil.which("busybox"):
        return False
    return subprocess.run(["podman", "info"], capture_output=True).returncode == 0


def test_container_mode_builds_the_image_and_runs_the_step_inside(amlrun, write, tmp_path: Path) -> None:
    if not _podman_answers():
        pytest.skip("needs podman and busybox-static (apt-get install podman runc busybox-static)")
    context = tmp_path / "ctr" / "image"
    context.mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), context / "busybox")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\n"
                                        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                                        "COPY validate.sh /opt/validation/validate.sh\n")
    (context / "validate.sh").write_text("#!/bin/sh\necho \"valid: $(cat \"$1\")\"\n")
    (context / "stamp.txt").write_text(str(tmp_path))  # a new context: this test builds its own image
    write("ctr/data/in.txt", "sequence 7\n")
    job = write("ctr/job.yml", """
        command: sh /opt/validation/validate.sh ${{inputs.data}}/in.txt > ${{outputs.result}}/report.txt && echo "tag=$TAG uid=$(id -u)"
        inputs:
          data: {type: uri_folder, path: ./data}
        outputs:
          result: {type: uri_folder}
        environment_variables: {TAG: local}
        environment: {build: {path: image}}
        """)
    env = {"AMLRUN_ENV_CACHE": str(tmp_path / "env-cache")}
    result = amlrun("run", job, "--env", "container", "--name", "ctr", env=env)
    assert result.code == 0, result.text
    assert f"tag=local uid={os.getuid()}" in result.out and "building image localhost/amlrun-env:" in result.err
    report = next((tmp_path / "store").rglob("report.txt"))
    assert report.read_text() == "valid: sequence 7\n" and report.stat().st_uid == os.getuid()
    again = amlrun("run", job, "--env", "container", env=env)
    assert again.code == 0 and "building image" not in again.err, again.text
    image = result.err.split("building image ")[1].split()[0]
    subprocess.run(["podman", "rmi", "-f", image], capture_output=True)


def test_container_engine_command_line_and_no_engine_error(amlrun, write, monkeypatch, tmp_path: Path) -> None:
    from amlrun.envs import container

    monkeypatch.setattr(container, "find_engine", lambda: "docker")
    spec = container.ContainerSpec("localhost/tool:1")
    argv = spec.argv("echo hi", tmp_path, {"AZUREML_RUN_ID": "r1", "SECRET": "s3cret"}, [(tmp_path, False)])
    assert argv[:5] == ["docker", "run", "--rm", "-w", str(tmp_path)]
    assert ["-v", f"{tmp_path}:{tmp_path}:ro"] == argv[argv.index("-v"):argv.index("-v") + 2]
    assert "-e" in argv and "SECRET" in argv and "s3cret" not in " ".join(argv)
    assert argv[-5:-3] == ["localhost/tool:1", "sh"] and argv[-1] == "echo hi"

    job = write("none/job.yml", "command: echo hi\nenvironment: {image: localhost/tool:1}\n")
    result = amlrun("run", job, "--env", "container", env={"AMLRUN_CONTAINER_ENGINE": "no-such-engine"})
    assert result.code == 1 and "tried no-such-engine (not installed)" in result.err, result.text


def test_a_table_parallel_job_in_a_venv_without_pandas_says_so(amlrun, write, env_vars, tmp_path: Path) -> None:
    from parallel_fixtures import table_job

    job = table_job(tmp_path / "tab", "def run(mini_batch):\n    return list(mini_batch.index)\n",
                    {"a.csv": "x,y\n1,2\n3,4\n"})
    import yaml

    write("tab/conda.yml", "dependencies:\n  - pip:\n    - amlrun-testpkg==1.0\n")
    spec = yaml.safe_load(job.read_text())
    spec["task"]["environment"] = {"conda_file": "conda.yml"}
    job.write_text(yaml.safe_dump(spec))
    result = amlrun("run", job, env=env_vars)
    assert result.code == 1, result.text
    assert "reads an MLTable" in result.text and "has no pandas: add pandas" in result.text


FAKE_ENGINE = """#!{python}
# A container engine stand-in without isolation (no image with Python can be had here): it checks the
# command line amlrun gives it, then runs the command with only the variables passed by name.
import os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if args[0] != "run":
    sys.exit(0)  # info, kill
i, cwd, names = 1, None, []
while not args[i].startswith("localhost/"):
    if args[i] in ("-w", "-v", "--name", "--ulimit", "--user", "-e"):
        cwd = args[i + 1] if args[i] == "-w" else cwd
        names += [args[i + 1]] if args[i] == "-e" else []
        i += 2
    else:
        i += 1
env = {{k: os.environ[k] for k in names}}
env["PATH"] = os.environ["PATH"]
os.chdir(cwd)
os.execvpe(args[i + 1], args[i + 1:], env)
"""


def test_parallel_workers_run_through_the_container_engine(amlrun, tmp_path: Path) -> None:
    from parallel_fixtures import file_job, read_rows

    log = tmp_path / "engine.log"
    engine = tmp_path / "fake-engine"
    engine.write_text(FAKE_ENGINE.format(python=sys.executable, log=str(log)))
    engine.chmod(0o755)
    job = file_job(tmp_path / "pj", "import os\n\ndef run(mini_batch):\n    print('hello from', os.getpid())\n"
                   "    return [f'{os.path.basename(f)} {os.environ.get(\"AZUREML_BI_OUTPUT_PATH\") is not None}' "
                   "for f in mini_batch]\n", files=3, mini_batch_size="1")
    job.write_text(job.read_text().replace("task:", "task:\n  environment: {image: localhost/tool:1}", 1))
    result = amlrun("run", job, "--env", "container", "--name", "pj", env={"AMLRUN_CONTAINER_ENGINE": str(engine)})
    assert result.code == 0, result.text
    assert sorted(read_rows(tmp_path / "store", "pj")) == [f"f{i:02d}.txt True" for i in range(3)]
    runs = [line for line in log.read_text().splitlines() if line.startswith("run ")]
    assert runs and all(" -i --name amlrun-pj-process" in line and "localhost/tool:1" in line for line in runs)
    printed = "".join(p.read_text() for p in (tmp_path / "store").rglob("process*.stdout.txt"))
    assert printed.count("hello from") == 3


def test_a_missing_conda_file_passes_check_and_fails_the_step_saying_where(amlrun, write, env_vars) -> None:
    job = write("gone/job.yml", "command: echo hi\nenvironment: {conda_file: ./nowhere.yml}\n")
    assert amlrun("check", "--no-sdk", job).code == 0
    result = amlrun("run", job, env=env_vars)
    assert result.code == 1 and "conda_file './nowhere.yml' does not exist" in result.err, result.text


def test_an_old_pin_without_a_wheel_for_the_stand_in_python_is_refused_at_once(amlrun, write, env_vars,
                                                                               tmp_path: Path) -> None:
    """python=3.7 and a pin with cp37 wheels only (numpy==1.21 in real files): no minutes-long source build."""
    index = tmp_path / "old-index"
    index.mkdir()
    wheel = write_wheel(index, "amlrun-oldpin", "1.0", {"oldpin/__init__.py": b"v = 1\n"})
    with zipfile.ZipFile(wheel) as pure, zipfile.ZipFile(index / "amlrun_oldpin-1.0-cp37-cp37m-manylinux1_x86_64.whl",
                                                         "w") as tagged:
        for item in pure.infolist():
            data = pure.read(item.filename)
            if item.filename.endswith("/WHEEL"):
                data = data.replace(b"py3-none-any", b"cp37-cp37m-manylinux1_x86_64")
            tagged.writestr(item, data)
    wheel.unlink()
    with tarfile.open(index / "amlrun_oldpin-1.0.tar.gz", "w:gz") as sdist:  # what a source build would start from
        for name, text in {"PKG-INFO": "Metadata-Version: 2.1\nName: amlrun-oldpin\nVersion: 1.0\n",
                           "pyproject.toml": "[build-system]\nrequires = ['setuptools']\n"
                                             "build-backend = 'setuptools.build_meta'\n"}.items():
            info = tarfile.TarInfo(f"amlrun_oldpin-1.0/{name}")
            info.size = len(text)
            sdist.addfile(info, io.BytesIO(text.encode()))
    job = _job(write, _conda("1.0").replace("python=3.11", "python=3.7").replace("amlrun-testpkg", "amlrun-oldpin"))
    online = {k: v for k, v in env_vars.items() if k != "UV_OFFLINE"}  # uv may "download", from this folder only
    result = amlrun("run", job, env={**online, "UV_FIND_LINKS": str(index), "UV_NO_INDEX": "1"})
    assert result.code == 1, result.text
    assert "amlrun-oldpin has wheels for Python 3.7 (which it asks for and this machine lacks) but none for " \
           "Python 3." in result.err, result.text
    assert "conda.yml:8: amlrun-oldpin==1.0" in result.err and "uv python install 3.7" in result.err
