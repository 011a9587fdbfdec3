"""Local datastores, URI forms, read-only inputs and staged outputs, through the real CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from amlrun.data.cache import ObjectCache
from amlrun.data.locations import DataContext
from amlrun.errors import DataError, SpecError
from amlrun.spec.project import load_project_config


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_step_writing_into_a_ro_mount_fails_naming_the_file_and_the_source_is_unchanged(
        amlrun, write, tmp_path: Path) -> None:
    write("p/data/keep.txt", "original\n")
    write("p/data/sub/other.txt", "other\n")
    source = tmp_path / "p" / "data"
    before = _digest(source)
    job = write("p/job.yml", """
        type: command
        command: chmod -R u+w ${{inputs.d}}; echo changed > ${{inputs.d}}/sub/other.txt; touch ${{inputs.d}}/new.txt
        inputs:
          d: {type: uri_folder, path: ./data}
    """)
    result = amlrun("run", job, "--name", "ro")
    assert result.code == 1
    shown = amlrun("show", "ro").out
    assert "d/sub/other.txt" in shown and "d/new.txt" in shown and "keep.txt" not in shown
    assert _digest(source) == before
    again = write("p/read.yml", """
        type: command
        command: cat ${{inputs.d}}/sub/other.txt
        inputs:
          d: {type: uri_folder, path: ./data}
    """)
    clean = amlrun("run", again)
    assert clean.code == 0 and "other" in clean.out and "changed" not in clean.out, clean.text


def test_download_mode_gives_a_private_copy_the_step_may_change(amlrun, write, tmp_path: Path) -> None:
    write("p/data/f.txt", "original\n")
    job = write("p/job.yml", """
        type: command
        command: echo changed > ${{inputs.d}}/f.txt && cat ${{inputs.d}}/f.txt
        inputs:
          d: {type: uri_folder, path: ./data, mode: download}
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert "changed" in result.out
    assert (tmp_path / "p" / "data" / "f.txt").read_text() == "original\n"


def test_uri_file_input_and_output_on_a_local_datastore(amlrun, write, tmp_path: Path) -> None:
    write("p/amlrun.yaml", "datastores:\n  shared: {type: local, path: ./shared}\n")
    write("p/shared/in/words.txt", "a b c\n")
    job = write("p/job.yml", """
        type: command
        command: wc -w < ${{inputs.f}} > ${{outputs.n}}
        inputs:
          f: {type: uri_file, path: azureml://datastores/shared/paths/in/words.txt}
        outputs:
          n: {type: uri_file, path: azureml://datastores/shared/paths/out/count.txt}
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert (tmp_path / "p" / "shared" / "out" / "count.txt").read_text().strip() == "3"


def test_an_upload_output_is_published_only_when_the_step_succeeds(amlrun, write, tmp_path: Path) -> None:
    write("p/amlrun.yaml", "datastores:\n  shared: {type: local, path: ./shared}\n")
    job = write("p/job.yml", """
        type: command
        command: echo half > ${{outputs.o}}/part.txt; test -f ${{outputs.o}}/part.txt && exit ${{inputs.code}}
        inputs:
          code: 4
        outputs:
          o: {type: uri_folder, mode: upload, path: azureml://datastores/shared/paths/result}
    """)
    assert amlrun("run", job).code == 1
    assert not (tmp_path / "p" / "shared" / "result" / "part.txt").exists()
    assert amlrun("run", job, "--set", "inputs.code=0").code == 0
    assert (tmp_path / "p" / "shared" / "result" / "part.txt").read_text() == "half\n"


def test_what_a_failed_run_staged_is_never_published_by_the_next_run_and_show_says_so(
        amlrun, write, tmp_path: Path) -> None:
    write("p/amlrun.yaml", "datastores:\n  shared: {type: local, path: ./shared}\n")
    job = write("p/job.yml", """
        type: command
        command: echo x > ${{outputs.o}}/${{inputs.file}} && exit ${{inputs.code}}
        inputs:
          file: partial.txt
          code: 4
        outputs:
          o: {type: uri_folder, mode: upload, path: azureml://datastores/shared/paths/result}
    """)
    assert amlrun("run", job, "--name", "up_bad").code == 1
    shown = amlrun("show", "up_bad").out
    assert f"o -> {tmp_path / 'p' / 'shared' / 'result'} (not published: the run did not succeed" in shown
    staged = Path(shown.split("what it wrote is in ", 1)[1].split(" until", 1)[0])
    assert (staged / "partial.txt").exists()
    assert amlrun("run", job, "--set", "inputs.file=good.txt", "--set", "inputs.code=0").code == 0
    assert sorted(p.name for p in (tmp_path / "p" / "shared" / "result").iterdir()) == ["good.txt"]


def test_an_inline_secret_is_refused_with_its_line_and_how_to_fix_it(amlrun, write) -> None:
    write("p/amlrun.yaml", """
        datastores:
          lake:
            type: azure_blob
            account_name: acct
            container_name: c
            account_key: c3VwZXJzZWNyZXRrZXl2YWx1ZQ==
    """)
    job = write("p/job.yml", "type: command\ncommand: echo hi\n")
    result = amlrun("run", job)
    assert result.code == 2
    assert "amlrun.yaml:6:" in result.err and "inline secret `account_key` refused" in result.err
    assert "export LAKE_ACCOUNT_KEY=" in result.err and "account_key_env: LAKE_ACCOUNT_KEY" in result.err
    assert "c3VwZXJzZWNyZXRrZXl2YWx1ZQ==" not in result.text


def test_config_problems_are_reported_with_positions(tmp_path: Path) -> None:
    (tmp_path / "amlrun.yaml").write_text(
        "datastores:\n  a: {type: nfs, path: x}\n  b: {type: azure_blob, account_name: x}\n"
        "  c: {type: azure_blob, account_name: x, container_name: y, credential: {account_key_env: 'not a var'}}\n")
    with pytest.raises(SpecError) as info:
        load_project_config(tmp_path)
    text = info.value.render()
    assert "amlrun.yaml:2:" in text and "unknown datastore type 'nfs'" in text
    assert "amlrun.yaml:3:" in text and "container_name" in text
    assert "amlrun.yaml:4:" in text and "must name an environment variable" in text


@pytest.fixture
def context(tmp_path: Path) -> DataContext:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "amlrun.yaml").write_text(
        "datastores:\n"
        "  shared: {type: local, path: ./shared}\n"
        "  lake: {type: azure_blob, account_name: acct, container_name: raw, credential: identity}\n"
        "data:\n"
        "  words: azureml://datastores/shared/paths/words/\n"
        "  images: {'1': ./img/v1, '2': ./img/v2}\n")
    return DataContext.for_project(tmp_path / "store", tmp_path / "proj")


def test_every_uri_form_resolves_to_the_same_place(context: DataContext, tmp_path: Path) -> None:
    shared = (tmp_path / "proj" / "shared").resolve()
    long = "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/shared/paths/x/y.csv"
    assert context.resolve(long, tmp_path).local_path == shared / "x" / "y.csv"
    assert context.resolve("azureml://datastores/shared/paths/x/./z/../y.csv", tmp_path).local_path == \
        shared / "x" / "y.csv"
    default = context.resolve("azureml://datastores/${{default_datastore}}/paths/o", tmp_path)
    assert default.local_path == (tmp_path / "store" / "datastores" / "workspaceblobstore" / "o").resolve()
    for url in ("wasbs://raw@acct.blob.core.windows.net/p/q.csv", "abfss://raw@acct.dfs.core.windows.net/p/q.csv",
                "https://acct.blob.core.windows.net/raw/p/q.csv", "azureml://datastores/lake/paths/p/q.csv"):
        location = context.resolve(url, tmp_path)
        assert (location.datastore, location.path, location.url) == ("lake", "p/q.csv", "az://raw/p/q.csv"), url
    assert context.resolve("data/x", tmp_path / "proj").local_path == (tmp_path / "proj" / "data" / "x").resolve()


@pytest.mark.parametrize("uri", [
    "azureml://datastores/shared/paths/../../etc/passwd",
    "azureml://datastores/shared/paths/a/%2e%2e/%2e%2e/secret",
    "azureml://datastores/shared/paths/~root/x",
    "wasbs://raw@acct.blob.core.windows.net/../other/x",
])
def test_paths_escaping_a_datastore_are_refused(context: DataContext, tmp_path: Path, uri: str) -> None:
    with pytest.raises(DataError):
        context.resolve(uri, tmp_path)


def test_a_symlink_leading_out_of_a_local_datastore_is_refused(context: DataContext, tmp_path: Path) -> None:
    (tmp_path / "proj" / "shared").mkdir()
    (tmp_path / "proj" / "shared" / "out").symlink_to(tmp_path)
    with pytest.raises(DataError, match="escapes the root"):
        context.resolve("azureml://datastores/shared/paths/out/x", tmp_path)


def test_data_assets_resolve_through_the_data_section(context: DataContext, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    assert context.resolve("azureml:words:3", tmp_path).local_path == (proj / "shared" / "words").resolve()
    assert context.resolve("azureml:images@latest", tmp_path).local_path == (proj / "img" / "v2").resolve()
    assert context.resolve("azureml:images:1", tmp_path).local_path == (proj / "img" / "v1").resolve()
    with pytest.raises(DataError, match="no version '7'"):
        context.resolve("azureml:images:7", tmp_path)
    with pytest.raises(DataError, match=r"'azureml:faces:1' is not known locally \(known assets: images, words\)"):
        context.resolve("azureml:faces:1", tmp_path)


def test_unknown_storage_account_says_how_to_declare_it(context: DataContext, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        context.resolve("wasbs://other@elsewhere.blob.core.windows.net/x", tmp_path)
    assert "account_name: elsewhere" in (info.value.hint or "")


def test_the_cache_evicts_least_recently_used_objects_past_its_limit(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=2500)
    for i, key in enumerate(["aa01", "bb02", "cc03"]):
        source = tmp_path / f"f{i}"
        source.write_bytes(b"x" * 1000)
        cache.add_copy(key, source)
    assert cache.has("aa01", 1000)  # used again: now the most recent
    freed = cache.evict()
    assert freed == 1000
    assert cache.has("aa01", 1000) and not cache.has("bb02", 1000) and cache.has("cc03", 1000)


def test_the_cache_still_evicts_when_objects_arrive_after_a_walk_found_it_under_its_limit(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=2500)
    source = tmp_path / "f"
    source.write_bytes(b"x" * 1000)
    cache.add_copy("aa01", source)
    cache.add_copy("bb02", source)
    assert cache.evict() == 0  # 2000 of 2500: nothing to do
    cache.add_copy("cc03", source)
    cache.add_copy("dd04", source)
    assert cache.evict(keep={"dd04"}) == 2000
    assert sorted(p.name for p in (cache.root / "objects").rglob("*") if p.is_file()) == ["cc03", "dd04"]


def test_the_engine_context_is_cheap_without_blob_datastores(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from amlrun.data.locations import DataContext; from pathlib import Path; "
            "c = DataContext.for_project(Path('s'), Path('.')); c.resolve('azureml://datastores/x/paths/y', Path('.')); "
            "c.step_env(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'adlfs')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "PATH": "/usr/bin"})
    assert out.stdout.strip() == "[]"


def test_a_transfer_longer_than_the_threshold_shows_progress_and_a_summary(monkeypatch) -> None:
    import io
    import time

    from amlrun.data import progress

    monkeypatch.delenv("AMLRUN_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.05)
    slow, quick = io.StringIO(), io.StringIO()
    with progress.Transfer("fetching inputs.x", 3, 3 * 1024**2, stream=slow) as t:
        time.sleep(0.3)
        t.advance(3, 3 * 1024**2)
    with progress.Transfer("fetching inputs.y", 3, 10, stream=quick):
        pass
    assert "fetching inputs.x: 3 files (3.0 MB)..." in slow.getvalue()
    assert quick.getvalue() == ""
    stats = progress.TransferStats(files=2, bytes=2048, cached_files=1, cached_bytes=10, seconds=1.25)
    assert stats.summary("fetched", "inputs.x") == \
        "data: inputs.x: fetched 2 files (2.0 KB) in 1.2s, 1 from cache (10 B)"


def test_fsspec_in_a_step_reads_a_local_datastore_and_the_real_package_option_drops_the_shim(
        amlrun, write) -> None:
    write("p/amlrun.yaml", "datastores:\n  shared: {type: local, path: ./shared}\n")
    write("p/shared/t.txt", "through the map\n")
    job = write("p/job.yml", """
        type: command
        command: >-
          python -c "import fsspec; print(fsspec.open('azureml://datastores/shared/paths/t.txt', 'rt').open().read())"
          && python -c "from azureml.fsspec import AzureMachineLearningFileSystem as F;
          print(F('azureml://datastores/shared/paths/').open('t.txt').read().decode())"
    """)
    result = amlrun("run", job)
    assert result.code == 0, result.text
    assert result.out.count("through the map") == 2
    write("p/amlrun.yaml", "datastores:\n  shared: {type: local, path: ./shared}\n"
                           "fsspec: {real_azureml_fsspec: true}\n")
    real = amlrun("run", job)
    assert real.code == 1 and "Protocol not known: azureml" in real.out  # the shim is left out


def test_output_paths_may_use_name_output_name_and_default_datastore(amlrun, write, store: Path) -> None:
    job = write("p/job.yml", """
        type: command
        command: echo hi > ${{outputs.o}}/hi.txt
        outputs:
          o:
            type: uri_folder
            path: azureml://datastores/${{default_datastore}}/paths/custom/${{name}}/${{output_name}}/
    """)
    assert amlrun("run", job, "--name", "named1").code == 0
    assert (store / "datastores" / "workspaceblobstore" / "custom" / "named1" / "o" / "hi.txt").read_text() == "hi\n"


def test_datastores_lists_stores_under_a_header_and_the_data_assets_they_map(amlrun, write, tmp_path: Path) -> None:
    (tmp_path / "proj" / "data" / "raw").mkdir(parents=True)
    write("proj/amlrun.yaml", """
        datastores:
          raw: {type: local, path: ./data/raw}
          gone: {type: local, path: ./data/missing}
        data:
          sequences: azureml://datastores/raw/paths/seq/
          model: {1: ./m1, 2: azureml://datastores/raw/paths/m2}
    """)
    listed = amlrun("datastores", cwd=tmp_path / "proj")
    assert listed.code == 1  # `gone` does not exist
    lines = [line.split() for line in listed.out.splitlines() if line.strip()]
    assert lines[0] == ["datastore", "type", "status", "where"]
    assert [row[:3] for row in lines[1:4]] == [["workspaceblobstore", "local", "(default)"], ["raw", "local", "ok"],
                                                ["gone", "local", "UNREACHABLE"]]
    assert ["azureml:sequences", "(any", "version)", "azureml://datastores/raw/paths/seq/"] in lines
    assert ["azureml:model:1", "./m1"] in lines and ["azureml:model:2", "azureml://datastores/raw/paths/m2"] in lines
    assert "does not exist" in listed.err
