"""`azureml.fsspec` inside steps follows the real package's rules (azureml/fsspec/spec.py).

A filesystem is built on one datastore (its root, or a folder below it); relative paths are relative to
the datastore's root; downloads land *in* a local folder; files open read-only; a URI on another
datastore is refused, as AzureML refuses it.
"""

from __future__ import annotations

from pathlib import Path

LONG = "azureml://subscriptions/0000-1111/resourcegroups/rg-ml/workspaces/ws-ml/datastores"
STORES = ("camera", "lidar", "radar")


def _recordings(write, sequences: int) -> None:
    for store in STORES:
        for i in range(1, sequences + 1):
            write(f"proj/stores/{store}/sequence_{i:03d}/recording.bin", f"{store} {i}\n")
            write(f"proj/stores/{store}/sequence_{i:03d}/meta/info.txt", f"{store} meta {i}\n")
    write("proj/amlrun.yaml", "datastores:\n" + "".join(
        f"  {store}: {{type: local, path: ./stores/{store}}}\n" for store in STORES))


def test_a_dispatch_table_job_downloads_every_row_through_a_filesystem_per_datastore_root(
        amlrun, write, store: Path) -> None:
    sequences = 6
    _recordings(write, sequences)
    rows = ["sequence_id,camera_uri,lidar_uri,radar_uri"]
    rows += [f"sequence_{i:03d},{LONG}/camera/paths/sequence_{i:03d}/,"
             f"{LONG}/lidar/paths/sequence_{i:03d}/recording.bin,{LONG}/radar/paths/sequence_{i:03d}/recording.bin"
             for i in range(1, sequences + 1)]
    write("proj/dispatch/dispatch.csv", "\n".join(rows) + "\n")
    write("proj/dispatch/MLTable", """
        paths:
          - file: ./dispatch.csv
        transformations:
          - read_delimited: {delimiter: ',', header: all_files_same_headers}
    """)
    write("proj/src/validate.py", """
        import os, re, tempfile
        from azureml.fsspec import AzureMachineLearningFileSystem

        def init():
            global filesystems, scratch
            filesystems, scratch = {}, tempfile.mkdtemp()

        def store_of(uri):
            root, name, rel = re.match(r"^(azureml://.+?/datastores/([^/]+))/paths/(.*)$", uri).groups()
            if root not in filesystems:
                filesystems[root] = AzureMachineLearningFileSystem(root)
            return filesystems[root], name, rel

        def run(mini_batch):
            results = []
            for row in mini_batch.itertuples(index=False):
                local = os.path.join(scratch, row.sequence_id)
                camera, name, folder = store_of(row.camera_uri)
                camera.download(folder, os.path.join(local, name), recursive=True, overwrite="MERGE_WITH_OVERWRITE")
                for uri in (row.lidar_uri, row.radar_uri):
                    fs, name, rel = store_of(uri)
                    assert fs.exists(rel) and fs.info(rel)["type"] == "file", fs.info(rel)
                    fs.download(rel, os.path.join(local, name), overwrite="MERGE_WITH_OVERWRITE")
                got = sorted(os.path.relpath(os.path.join(r, n), local) for r, _, ns in os.walk(local) for n in ns)
                texts = [open(os.path.join(local, p)).read().strip() for p in got]
                results.append(f"{row.sequence_id} {len(got)} files: " + "|".join(texts))
            return results
    """)
    job = write("proj/validate.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
        type: parallel
        inputs:
          dispatch: {type: mltable, path: ./dispatch, mode: direct}
        outputs:
          results: {type: uri_file}
        input_data: ${{inputs.dispatch}}
        mini_batch_size: "200"
        max_concurrency_per_instance: 2
        mini_batch_error_threshold: 0
        task:
          type: run_function
          code: ./src
          entry_script: validate.py
          append_row_to: ${{outputs.results}}
    """)
    result = amlrun("run", job, "--name", "dispatch1", timeout=240)
    assert result.code == 0, result.text
    produced = [p for p in (store / "datastores" / "workspaceblobstore" / "azureml" / "dispatch1").rglob("*")
                if p.is_file()]
    lines = sorted(line for p in produced for line in p.read_text().splitlines())
    assert lines == [f"sequence_{i:03d} 4 files: camera meta {i}|camera {i}|lidar {i}|radar {i}"
                     for i in range(1, sequences + 1)]


def test_the_filesystem_follows_azureml_fsspec_path_and_copy_rules(amlrun, write, tmp_path: Path) -> None:
    _recordings(write, 2)
    write("proj/src/probe.py", f"""
        import os, fsspec
        from azureml.fsspec import AzureMachineLearningFileSystem as FS

        def attempt(call):
            try:
                call()
                return "ok"
            except Exception as exc:
                return type(exc).__name__

        camera = FS("{LONG}/camera")
        print("ls root:", camera.ls())
        print("ls folder:", camera.ls("sequence_001"))
        print("glob:", camera.glob("sequence_*/recording.bin"))
        print("find:", camera.find("sequence_002"))
        print("long form path:", camera.info("{LONG}/camera/paths/sequence_001/recording.bin")["name"])
        print("escape clamped:", camera.exists("../../sequence_001/recording.bin"))
        print("open text:", camera.open("sequence_002/recording.bin", "r").read().strip())
        print("write refused:", attempt(lambda: camera.open("new.txt", "w")))
        print("other store refused:", attempt(lambda: camera.info("{LONG}/lidar/paths/sequence_001/recording.bin")))

        short = FS("azureml://datastores/lidar/paths/sequence_002")
        print("folder fs lists its folder:", short.ls())
        print("relative is from the root:", short.exists("sequence_001/recording.bin"))

        out = os.path.abspath("downloaded")
        camera.download("sequence_001/recording.bin", out)
        camera.download("sequence_002", out)
        print("downloaded:", sorted(os.path.relpath(os.path.join(r, n), out) for r, _, ns in os.walk(out) for n in ns))
        print("again refused:", attempt(lambda: camera.download("sequence_001/recording.bin", out)))
        camera.download("sequence_001/recording.bin", out, overwrite="MERGE_WITH_OVERWRITE")

        os.makedirs("report/sub", exist_ok=True)
        open("report/summary.txt", "w").write("all good\\n")
        open("report/sub/detail.txt", "w").write("details\\n")
        radar = FS("{LONG}/radar")
        radar.upload("report", "reports/run1", recursive=True)
        radar.put("report/summary.txt", "reports/flat")
        print("uploaded:", radar.find("reports"))
        with fsspec.open("{LONG}/radar/paths/reports/run1/sub/detail.txt", "rt") as f:
            print("fsspec.open:", f.read().strip())
    """)
    job = write("proj/probe.yml", """
        type: command
        code: ./src
        command: python probe.py
    """)
    result = amlrun("run", job, "--name", "probe1")
    assert result.code == 0, result.text
    out = result.out
    assert "ls root: ['sequence_001', 'sequence_002']" in out
    assert "ls folder: ['sequence_001/meta', 'sequence_001/recording.bin']" in out
    assert "glob: ['sequence_001/recording.bin', 'sequence_002/recording.bin']" in out
    assert "find: ['sequence_002/meta/info.txt', 'sequence_002/recording.bin']" in out
    assert "long form path: sequence_001/recording.bin" in out
    assert "escape clamped: True" in out
    assert "open text: camera 2" in out
    assert "write refused: ValueError" in out and "other store refused: ValueError" in out
    assert "folder fs lists its folder: ['sequence_002/meta', 'sequence_002/recording.bin']" in out
    assert "relative is from the root: True" in out
    assert "downloaded: ['recording.bin', 'sequence_002/meta/info.txt', 'sequence_002/recording.bin']" in out
    assert "again refused: FileExistsError" in out
    assert ("uploaded: ['reports/flat/summary.txt', 'reports/run1/sub/detail.txt', 'reports/run1/summary.txt']"
            in out)
    assert "fsspec.open: details" in out
    assert (tmp_path / "proj" / "stores" / "radar" / "reports" / "run1" / "summary.txt").read_text() == "all good\n"
