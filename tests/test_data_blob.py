"""Jobs whose data lives in blob datastores served by a real Azurite, read and written through amlrun."""

from __future__ import annotations

from pathlib import Path

from azurite_fixtures import (  # the session fixture `azurite` and the project fixture `blob_project`
    ACCOUNT2,
    KEY2,
    LONG,
    Azurite,
    assert_no_secret,
    azurite_server,  # noqa: F401
    blob_project_fixture,  # noqa: F401
)


def test_inputs_from_two_blob_stores_and_a_local_one_output_uploaded_to_a_third(
        amlrun, blob_project: dict, azurite: Azurite, store: Path, write) -> None:
    write("proj/src/merge.py", """
        import os, sys
        out = sys.argv[4]
        os.makedirs(out, exist_ok=True)
        lines = []
        for folder in sys.argv[1:4]:
            for root, _, files in sorted(os.walk(folder)):
                for f in sorted(files):
                    lines.append(open(os.path.join(root, f)).read().strip())
        open(os.path.join(out, "merged.txt"), "w").write("\\n".join(lines) + "\\n")
        print("merged", len(lines))
    """)
    job = write("proj/job.yml", f"""
        type: command
        code: ./src
        command: python merge.py ${{{{inputs.a}}}} ${{{{inputs.b}}}} ${{{{inputs.c}}}} ${{{{outputs.merged}}}}
        inputs:
          a: {{type: uri_folder, path: azureml://datastores/lake/paths/a/}}
          b: {{type: uri_folder, path: {LONG}/lake2/paths/b, mode: download}}
          c: {{type: uri_folder, path: azureml://datastores/local_ds/paths/c}}
        outputs:
          merged: {{type: uri_folder, mode: upload, path: azureml://datastores/results/paths/runs/merged/}}
    """)
    first = amlrun("run", job, "--name", "merge1", env=blob_project["env"])
    assert first.code == 0, first.text
    assert "merged 6" in first.out
    assert "inputs.a: fetched 3 files" in first.err and "inputs.b: fetched 2 files" in first.err
    assert "outputs.merged: uploaded 1 file" in first.err
    merged = azurite.read(blob_project["containers"]["results"], "runs/merged/merged.txt").decode()
    assert merged.splitlines() == ["lake 0", "lake 1", "lake 2", "raw x", "raw y", "local z"]

    second = amlrun("run", job, "--name", "merge2", env=blob_project["env"])
    assert second.code == 0, second.text
    assert "inputs.a: fetched 0 files (0 B)" in second.err and "3 from cache" in second.err
    assert "inputs.b: fetched 0 files (0 B)" in second.err
    assert_no_secret(blob_project, store, blob_project["dir"], texts=(first.text, second.text))


def test_direct_mode_and_azureml_fsspec_resolve_through_the_datastore_map(
        amlrun, blob_project: dict, azurite: Azurite, write) -> None:
    write("proj/src/read.py", f"""
        import importlib.util, sys
        import fsspec
        with fsspec.open(sys.argv[1] + "/part1.txt", "rt") as f:
            print("direct:", f.read().strip())
        from azureml.fsspec import AzureMachineLearningFileSystem
        fs = AzureMachineLearningFileSystem("{LONG}/lake2/paths/")
        print("listed:", sorted(p.rsplit("/", 1)[-1] for p in fs.ls("b", detail=False)))
        with fs.open("b/sub/y.txt") as f:
            print("aml:", f.read().decode().strip())
        with fsspec.open("azureml://datastores/local_ds/paths/c/z.txt", "rt") as f:
            print("local:", f.read().strip())
        try:
            fsspec.open("azureml://datastores/results/paths/direct/out.txt", "wt").open()
        except ValueError as exc:
            print("write refused:", "read-only" in str(exc))
        with open("out.txt", "w") as f:
            f.write("written from the step")
        AzureMachineLearningFileSystem("{LONG}/results").upload("out.txt", "direct")
        print("dataprep still importable:", importlib.util.find_spec("azureml.dataprep") is not None)
    """)
    job = write("proj/direct.yml", """
        type: command
        code: ./src
        command: python read.py ${{inputs.a}}
        inputs:
          a: {type: uri_folder, mode: direct, path: azureml://datastores/lake/paths/a}
    """)
    result = amlrun("run", job, env=blob_project["env"])
    assert result.code == 0, result.text
    assert "direct: lake 1" in result.out
    assert "listed: ['sub', 'x.txt']" in result.out
    assert "aml: raw y" in result.out and "local: local z" in result.out
    assert "dataprep still importable: True" in result.out
    assert "write refused: True" in result.out  # azureml-fsspec opens read-only, on AzureML too
    assert azurite.read(blob_project["containers"]["results"], "direct/out.txt") == b"written from the step"
    assert "fetched" not in result.err  # direct mode moves nothing itself


def test_writing_into_a_remote_ro_mount_fails_and_leaves_the_blob_alone(
        amlrun, blob_project: dict, azurite: Azurite, write) -> None:
    job = write("proj/ro.yml", """
        type: command
        command: chmod u+w ${{inputs.a}}/part0.txt 2>/dev/null; echo tampered > ${{inputs.a}}/part0.txt
        inputs:
          a: {type: uri_folder, path: azureml://datastores/lake/paths/a}
    """)
    result = amlrun("run", job, "--name", "ro1", env=blob_project["env"])
    assert result.code == 1
    assert "a/part0.txt" in amlrun("show", "ro1").out
    assert azurite.read(blob_project["containers"]["lake"], "a/part0.txt") == b"lake 0\n"
    again = write("proj/ro2.yml", """
        type: command
        command: cat ${{inputs.a}}/part0.txt
        inputs:
          a: {type: uri_folder, path: azureml://datastores/lake/paths/a}
    """)
    clean = amlrun("run", again, env=blob_project["env"])
    assert clean.code == 0 and "lake 0" in clean.out and "tampered" not in clean.out, clean.text
    assert "fetched 1 file" in clean.err  # the tampered cache object was dropped and fetched again


def test_failed_step_does_not_publish_its_output(amlrun, blob_project: dict, azurite: Azurite, write,
                                                 store: Path) -> None:
    job = write("proj/fail.yml", """
        type: command
        command: echo half > ${{outputs.o}}/half.txt; exit 5
        outputs:
          o: {type: uri_folder, mode: upload, path: azureml://datastores/results/paths/failed/}
    """)
    result = amlrun("run", job, env=blob_project["env"])
    assert result.code == 1
    assert not azurite.exists(blob_project["containers"]["results"], "failed/half.txt")
    assert [(p / "data" / "half.txt").read_text() for p in (store / "staging").iterdir() if (p / "FAILED").exists()] \
        == ["half\n"]


def test_datastores_command_lists_and_checks_each(amlrun, blob_project: dict, write) -> None:
    listed = amlrun("datastores", cwd=blob_project["dir"], env=blob_project["env"])
    assert listed.code == 0, listed.text
    for name in ("workspaceblobstore", "lake", "lake2", "results", "local_ds"):
        assert name in listed.out
    assert "account key from $LAKE_KEY" in listed.out and "UNREACHABLE" not in listed.out
    broken = amlrun("datastores", cwd=blob_project["dir"], env={**blob_project["env"], "LAKE_KEY": ""})
    assert broken.code == 1
    assert "LAKE_KEY" in broken.err and "UNREACHABLE" in broken.out
    assert_no_secret(blob_project, texts=(listed.text, broken.text))


def test_a_user_level_config_adds_datastores(amlrun, blob_project: dict, tmp_path: Path, write) -> None:
    user = write("home/amlrun.yaml", "datastores:\n  extra: {type: local, path: ./extra}\n")
    (tmp_path / "home" / "extra").mkdir()
    listed = amlrun("datastores", cwd=blob_project["dir"], env={**blob_project["env"], "AMLRUN_USER_CONFIG": str(user)})
    assert listed.code == 0, listed.text
    assert "extra" in listed.out and str(tmp_path / "home" / "extra") in listed.out


def test_an_mltable_input_whose_paths_are_datastore_uris_loads_with_mltable(
        amlrun, blob_project: dict, azurite: Azurite, write) -> None:
    azurite.fill(blob_project["containers"]["lake"], {
        "tables/t1/MLTable": (
            "paths:\n"
            f"  - file: {LONG}/lake2/paths/csv/one.csv\n"
            "  - pattern: azureml://datastores/local_ds/paths/csv/*.csv\n"
            "transformations:\n  - read_delimited:\n      delimiter: ','\n").encode()})
    azurite.fill(blob_project["containers"]["raw"], {"csv/one.csv": b"k,v\nblob,1\n"}, ACCOUNT2, KEY2)
    write("proj/localdata/csv/two.csv", "k,v\nlocal,2\n")
    write("proj/src/load.py", """
        import sys
        import mltable
        frame = mltable.load(sys.argv[1]).to_pandas_dataframe()
        print("rows:", sorted(frame["k"]))
    """)
    job = write("proj/tbl.yml", """
        type: command
        code: ./src
        command: python load.py ${{inputs.t}}
        inputs:
          t: {type: mltable, mode: ro_mount, path: azureml://datastores/lake/paths/tables/t1}
    """)
    result = amlrun("run", job, env=blob_project["env"])
    assert result.code == 0, result.text
    assert "rows: ['blob', 'local']" in result.out


def test_a_remote_rw_mount_input_writes_changes_back(amlrun, blob_project: dict, azurite: Azurite, write) -> None:
    job = write("proj/rw.yml", """
        type: command
        command: echo appended >> ${{inputs.a}}/part2.txt && echo new > ${{inputs.a}}/added.txt
        inputs:
          a: {type: uri_folder, mode: rw_mount, path: azureml://datastores/lake/paths/a}
    """)
    result = amlrun("run", job, env=blob_project["env"])
    assert result.code == 0, result.text
    lake = blob_project["containers"]["lake"]
    assert azurite.read(lake, "a/part2.txt") == b"lake 2\nappended\n"
    assert azurite.read(lake, "a/added.txt") == b"new\n"
    assert azurite.read(lake, "a/part0.txt") == b"lake 0\n"


def test_datastores_command_flags_a_missing_container_and_a_dead_endpoint(
        amlrun, blob_project: dict, azurite: Azurite, write) -> None:
    config = blob_project["dir"] / "amlrun.yaml"
    config.write_text(config.read_text() + (
        "  ghost: {type: azure_blob, account_name: devstoreaccount1, container_name: nosuchcontainer,\n"
        f"          endpoint: '{azurite.endpoint('devstoreaccount1')}', credential: {{account_key_env: LAKE_KEY}}}}\n"
        "  dead: {type: azure_blob, account_name: devstoreaccount1, container_name: c,\n"
        "         endpoint: 'http://127.0.0.1:9/devstoreaccount1', credential: {account_key_env: LAKE_KEY}}\n"))
    listed = amlrun("datastores", cwd=blob_project["dir"], env=blob_project["env"])
    assert listed.code == 1
    lines = {line.split()[0]: line for line in listed.out.splitlines()}
    assert "UNREACHABLE" in lines["ghost"] and "UNREACHABLE" in lines["dead"] and "UNREACHABLE" not in lines["lake"]
    assert "container 'nosuchcontainer' of datastore 'ghost'" in listed.err and "does not exist" in listed.err
    assert "cannot reach datastore 'dead'" in listed.err and "Connection refused" in listed.err
    assert_no_secret(blob_project, texts=(listed.text,))
