"""The plan cache: an unchanged pipeline is recorded from its cached plan, as a planned run records it,
and every change a user makes (job file, component, code, data, `--set`, amlrun.yaml, environment)
is seen: the changed step runs again, never a stale Reused."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from amlrun.store.records import RunStore
from pipeline_fixtures import step_records, write_nested

# Stats of files changed less than 2 s before a run read them are not trusted (plan_cache._RACY_NS):
# a test lets its files age that long before the run whose plan it wants kept.
AGE = 2.1


def _last(store: Path) -> str:
    return RunStore(store).recent(1)[0].name


def _cached(store: Path, run: str) -> bool:
    return RunStore(store).get(run).extra.get("planned_from") == "plan cache"


def _statuses(store: Path, run: str) -> dict[str, str]:
    return {path: rec.status for path, rec in step_records(store, run).items()}


def _settle(amlrun, job: Path) -> None:
    """The first run creates the store's folders, which its planning found missing: the second keeps a plan."""
    _run(amlrun, job)
    _run(amlrun, job)


def _run(amlrun, job: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = amlrun("run", job, *args, env=env)
    assert result.code == 0, result.text
    return result.err


def _write_project(write, tmp_path: Path) -> Path:
    write("p/data/rows.csv", "a\n1\n")
    write("p/src/train.py", """
        import sys, pathlib
        rows = pathlib.Path(sys.argv[1], "rows.csv").read_text()
        pathlib.Path(sys.argv[2], "model.txt").write_text(f"lr={sys.argv[3]} rows={rows.count(chr(10))}")
    """)
    write("p/prep.yml", """
        type: command
        inputs:
          raw: {type: uri_folder}
        outputs:
          clean: {type: uri_folder}
        command: cp ${{inputs.raw}}/rows.csv ${{outputs.clean}}/rows.csv
    """)
    return write("p/pipe.yml", """
        type: pipeline
        inputs:
          data: {type: uri_folder, path: ./data}
          lr: 0.1
        jobs:
          prep:
            type: command
            component: ./prep.yml
            inputs:
              raw: ${{parent.inputs.data}}
          train:
            type: command
            code: ./src
            command: python train.py ${{inputs.x}} ${{outputs.model}} ${{inputs.lr}}
            inputs:
              x: ${{parent.jobs.prep.outputs.clean}}
              lr: ${{parent.inputs.lr}}
            outputs:
              model: {type: uri_folder}
    """)


def _model(store: Path, run: str) -> str:
    out = step_records(store, run)["train"].extra["outputs"]["model"]
    return (Path(out) / "model.txt").read_text()


def test_a_cached_plan_records_the_run_as_planning_would(amlrun, write, store: Path, tmp_path: Path) -> None:
    job = write_nested(write)  # nested pipeline records, outputs bound to the pipeline's (copied on reuse)
    time.sleep(AGE)
    _settle(amlrun, job)
    planned_err = _run(amlrun, job, env={"AMLRUN_NO_PLAN_CACHE": "1"})
    planned = _last(store)
    cached_err = _run(amlrun, job)
    cached = _last(store)
    assert not _cached(store, planned) and _cached(store, cached)

    def shown(err: str, run: str) -> list[str]:
        return [re.sub(r"in \d+\.\ds", "in Ns", line.replace(run, "RUN")) for line in err.splitlines()]

    assert shown(cached_err, cached) == shown(planned_err, planned)
    ours, theirs = step_records(store, cached), step_records(store, planned)
    assert list(ours) == list(theirs) == ["make", "quadruple", "quadruple.first", "quadruple.second", "show"]
    for path, rec in ours.items():
        other = theirs[path]
        assert (rec.type, rec.status, rec.reused_from, rec.run_dir.replace(cached, "RUN")) == \
            (other.type, other.status, other.reused_from, other.run_dir.replace(planned, "RUN")), path
        assert json.loads(json.dumps(rec.extra).replace(cached, "RUN")) == \
            json.loads(json.dumps(other.extra).replace(planned, "RUN")), path
        assert json.loads((Path(rec.run_dir) / "record.json").read_text())["status"] == rec.status
    pipeline, other = RunStore(store).get(cached), RunStore(store).get(planned)
    assert pipeline.status == "Completed" and (Path(pipeline.run_dir) / "spec.yml").read_text() == \
        (Path(other.run_dir) / "spec.yml").read_text()
    ignored = {"pid", "pid_start", "planned_from"}
    assert {k: v for k, v in json.loads(json.dumps(pipeline.extra).replace(cached, "RUN")).items()
            if k not in ignored} == \
        {k: v for k, v in json.loads(json.dumps(other.extra).replace(planned, "RUN")).items() if k not in ignored}
    final = Path(pipeline.extra["outputs"]["final"])
    assert final.is_dir() and cached in str(final)  # the bound output was filled for this run
    assert amlrun("logs", cached).out.count("Reused") >= 5


def test_edited_job_files_are_planned_again(amlrun, write, store: Path, tmp_path: Path) -> None:
    job = _write_project(write, tmp_path)
    time.sleep(AGE)
    _settle(amlrun, job)
    _run(amlrun, job)
    assert _cached(store, _last(store)) and set(_statuses(store, _last(store)).values()) == {"Reused"}

    component = tmp_path / "p" / "prep.yml"  # a component: prep copies the rows twice now
    component.write_text(component.read_text().replace("rows.csv ${{outputs.clean}}/rows.csv",
                                                       "rows.csv ${{outputs.clean}}/rows.csv; "
                                                       "cat ${{inputs.raw}}/rows.csv >> ${{outputs.clean}}/rows.csv"))
    _run(amlrun, job)
    run = _last(store)
    assert not _cached(store, run) and _statuses(store, run) == {"prep": "Completed", "train": "Completed"}
    assert _model(store, run) == "lr=0.1 rows=4"

    time.sleep(AGE)  # the edited component ages: the next planned run keeps its plan
    _run(amlrun, job)
    _run(amlrun, job)
    assert _cached(store, _last(store))
    job.write_text(job.read_text().replace("lr: 0.1", "lr: 0.25"))  # the job file itself
    _run(amlrun, job)
    run = _last(store)
    assert not _cached(store, run) and _statuses(store, run) == {"prep": "Reused", "train": "Completed"}
    assert _model(store, run) == "lr=0.25 rows=4"


def test_code_data_overrides_config_and_environment_changes_are_seen(amlrun, write, store: Path,
                                                                      tmp_path: Path) -> None:
    job = _write_project(write, tmp_path)
    time.sleep(AGE)
    _settle(amlrun, job)
    _run(amlrun, job)
    assert _cached(store, _last(store))

    script = tmp_path / "p" / "src" / "train.py"  # an edited script: train runs again
    script.write_text(script.read_text().replace('f"lr=', 'f"edited lr='))
    _run(amlrun, job)
    run = _last(store)
    assert _statuses(store, run) == {"prep": "Reused", "train": "Completed"}
    assert _model(store, run) == "edited lr=0.1 rows=2"

    _run(amlrun, job)  # the plan did not change with the code: it is still the cached one
    assert _cached(store, _last(store)) and set(_statuses(store, _last(store)).values()) == {"Reused"}
    (tmp_path / "p" / "src" / "helper.py").write_text("X = 1\n")  # a new file in the code folder
    _run(amlrun, job)
    assert _statuses(store, _last(store)) == {"prep": "Reused", "train": "Completed"}

    (tmp_path / "p" / "data" / "rows.csv").write_text("a\n1\n2\n")  # new input data: both steps
    _run(amlrun, job)
    run = _last(store)
    assert _statuses(store, run) == {"prep": "Completed", "train": "Completed"}
    assert _model(store, run) == "edited lr=0.1 rows=3"

    _run(amlrun, job, "--set", "inputs.lr=0.5")  # an override
    run = _last(store)
    assert not _cached(store, run) and _statuses(store, run) == {"prep": "Reused", "train": "Completed"}
    assert _model(store, run) == "edited lr=0.5 rows=3"
    _run(amlrun, job, "--set", "inputs.lr=0.5")
    assert _cached(store, _last(store))  # the same override again: its own plan, kept

    _run(amlrun, job, env={"AMLRUN_SOME_SETTING": "1"})  # another environment: planned again
    assert not _cached(store, _last(store))

    write("p/amlrun.yaml", """
        datastores:
          raw: {type: local, path: ./data}
    """)  # a new project config (it could map any datastore the plan resolves)
    _run(amlrun, job)
    assert not _cached(store, _last(store))
    time.sleep(AGE)
    _run(amlrun, job)
    _run(amlrun, job)
    assert _cached(store, _last(store))  # kept again once the config was read
