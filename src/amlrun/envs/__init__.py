"""Environments: how a job's `environment:` becomes a process locally.

    choice.py      --env auto|host|container and amlrun.yaml `environments:` (per project, environment, step)
    definition.py  the Python a conda file / requirements file / Dockerfile declares, with file:line
    pythons.py     interpreters on this machine, found without running any
    venvs.py       cached uv venvs: key, lock, offline-first build, marker
    cached.py      the cache as `amlrun envs` shows and prunes it
    container.py   docker/podman: engine, image build, the `run` command line
    resolve.py     EnvPlan: the decision (plan time) and `prepare` (build before the step runs)
    runtime/       what job venvs get on PYTHONPATH instead of amlrun (azureml_user.parallel_run)
"""
