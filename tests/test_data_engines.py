"""Blob datastores under the pipeline and parallel engines, against a real Azurite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from azurite_fixtures import (  # the session fixture `azurite` and the project fixture `blob_project`
    LONG,
    Azurite,
    assert_no_secret,
    azurite_server,  # noqa: F401
    blob_project_fixture,  # noqa: F401
)


def _engine(name: str) -> None:
    if importlib.util.find_spec(f"amlrun.engine.{name}") is None:
        pytest.skip(f"the {name} engine is not on this branch yet")


def test_a_pipeline_reads_two_blob_stores_and_a_local_one_and_uploads_to_a_third(
        amlrun, blob_project: dict, azurite: Azurite, store: Path, write) -> None:
    _engine("pipeline")
    write("proj/src/merge.py", """
        import os, sys
        out = sys.argv[-1]
        os.makedirs(out, exist_ok=True)
        lines = []
        for folder in sys.argv[1:-1]:
            for root, _, files in sorted(os.walk(folder)):
                lines += [open(os.path.join(root, f)).read().strip() for f in sorted(files)]
        open(os.path.join(out, "merged.txt"), "w").write("\\n".join(lines) + "\\n")
    """)
    write("proj/src/count.py", """
        import os, sys
        lines = open(os.path.join(sys.argv[1], "merged.txt")).read().splitlines()
        os.makedirs(sys.argv[2], exist_ok=True)
        open(os.path.join(sys.argv[2], "count.txt"), "w").write(f"{len(lines)} lines\\n")
    """)
    job = write("proj/pipeline.yml", f"""
        type: pipeline
        inputs:
          a: {{type: uri_folder, path: azureml://datastores/lake/paths/a}}
          b: {{type: uri_folder, path: {LONG}/lake2/paths/b}}
          c: {{type: uri_folder, path: azureml://datastores/local_ds/paths/c}}
        outputs:
          merged: {{type: uri_folder, mode: upload, path: azureml://datastores/results/paths/pipe/merged/}}
          summary: {{type: uri_folder, mode: upload, path: azureml://datastores/results/paths/pipe/summary/}}
        jobs:
          merge:
            type: command
            code: ./src
            command: python merge.py ${{{{inputs.a}}}} ${{{{inputs.b}}}} ${{{{inputs.c}}}} ${{{{outputs.merged}}}}
            inputs:
              a: ${{{{parent.inputs.a}}}}
              b: ${{{{parent.inputs.b}}}}
              c: ${{{{parent.inputs.c}}}}
            outputs:
              merged: ${{{{parent.outputs.merged}}}}
          count:
            type: command
            code: ./src
            command: python count.py ${{{{inputs.merged}}}} ${{{{outputs.summary}}}}
            inputs:
              merged: ${{{{parent.jobs.merge.outputs.merged}}}}
            outputs:
              summary: ${{{{parent.outputs.summary}}}}
    """)
    result = amlrun("run", job, "--name", "pipe1", env=blob_project["env"])
    assert result.code == 0, result.text
    results = blob_project["containers"]["results"]
    merged = azurite.read(results, "pipe/merged/merged.txt").decode().splitlines()
    assert merged == ["lake 0", "lake 1", "lake 2", "raw x", "raw y", "local z"]
    assert azurite.read(results, "pipe/summary/count.txt") == b"6 lines\n"
    # steps stage side by side: each data line says whose it is
    assert "data: merge: inputs.a: fetched 3 files" in result.err and "data: merge: inputs.b: fetched 2" in result.err
    assert "data: count: outputs.summary: uploaded 1 file" in result.err
    assert_no_secret(blob_project, store, blob_project["dir"], texts=(result.text,))


def test_a_dispatch_table_parallel_job_reads_three_stores_through_azureml_fsspec(
        amlrun, blob_project: dict, store: Path, write, tmp_path: Path) -> None:
    _engine("parallel")
    rows = ["sequence_id,camera_uri,lidar_uri,radar_uri"]
    for i in range(3):
        rows.append(f"seq{i},{LONG}/lake/paths/a/part{i}.txt,{LONG}/lake2/paths/b/x.txt,"
                    f"{LONG}/local_ds/paths/c/z.txt")
    write("proj/dispatch/dispatch.csv", "\n".join(rows) + "\n")
    write("proj/dispatch/MLTable", """
        paths:
          - file: ./dispatch.csv
        transformations:
          - read_delimited:
              delimiter: ','
              header: all_files_same_headers
    """)
    write("proj/src/entry.py", f"""
        from azureml.fsspec import AzureMachineLearningFileSystem

        def init():
            global stores
            stores = {{name: AzureMachineLearningFileSystem("{LONG}/" + name) for name in ("lake", "lake2", "local_ds")}}

        def read(uri):
            import os, tempfile
            name = uri.split("/datastores/", 1)[1].split("/", 1)[0]
            local = tempfile.mkdtemp()
            stores[name].download(uri.split("/paths/", 1)[1], local)  # relative to the datastore root
            with open(os.path.join(local, uri.rsplit("/", 1)[1])) as f:
                return f.read().strip()

        def run(mini_batch):
            out = []
            for row in mini_batch.itertuples(index=False):
                texts = [read(uri) for uri in (row.camera_uri, row.lidar_uri, row.radar_uri)]
                out.append(row.sequence_id + ":" + "|".join(texts))
            return out
    """)
    job = write("proj/parallel.yml", """
        type: parallel
        inputs:
          dispatch: {type: mltable, path: ./dispatch, mode: direct}
        outputs:
          results: {type: uri_file}
        input_data: ${{inputs.dispatch}}
        mini_batch_size: "100"
        max_concurrency_per_instance: 2
        task:
          type: run_function
          code: ./src
          entry_script: entry.py
          append_row_to: ${{outputs.results}}
    """)
    result = amlrun("run", job, "--name", "disp1", env=blob_project["env"], timeout=240)
    assert result.code == 0, result.text
    produced = [f for f in (store / "datastores" / "workspaceblobstore" / "azureml" / "disp1").rglob("*")
                if f.is_file()]
    assert len(produced) == 1, produced
    rows_out = sorted(produced[0].read_text().splitlines())
    assert rows_out == [f"seq{i}:lake {i}|raw x|local z" for i in range(3)]
    assert_no_secret(blob_project, store, texts=(result.text,))
