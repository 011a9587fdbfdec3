"""Blob staging, whole processes: `amlrun run` of jobs reading and writing blob folders vs 16-thread scripts.

    python bench/staging.py [--files 2000] [--size-kb 50] [--repeat 3] [--sides download,ro_mount,warm,upload]

Every side fetches (or writes) the same folder of small blobs on an Azurite started from node_modules
(as the tests do), each in a fresh process. Inputs: `amlrun run job.yml` of a command job whose input
is `azureml://datastores/bench/paths/data/` in download (or ro_mount) mode, with a fresh store and
AMLRUN_HOME every run (cold), or the same store again (warm: every object from the cache), vs a
script listing the container and downloading every blob with 16 threads of azure-storage-blob.
Outputs: a job copying a local folder of the same files into an `upload` output, vs a script
uploading that folder with 16 threads. Downloads and uploads are checked identical to the scripts'.
Each side's CPU (user+sys of its process tree) and peak memory (summed RSS of the tree) are printed.

Goal (issue 13): cold blob staging time / the 16-thread script's                    <= 0.9x
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from measure import ROOT, Goal, alternate, amlrun, env, median_min, report, run_tree

sys.path.insert(0, str(ROOT / "tests"))
from azurite_fixtures import ACCOUNT1, KEY1, start_azurite, stop_azurite  # noqa: E402

__all__ = ["main"]

CONTAINER = "bench"

SCRIPT = """
    import os
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from azure.storage.blob import ContainerClient

    connection, container, prefix, target = sys.argv[1:]
    client = ContainerClient.from_connection_string(connection, container)


    def fetch(name):
        path = os.path.join(target, name[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            client.download_blob(name).readinto(fh)


    with ThreadPoolExecutor(16) as pool:
        list(pool.map(fetch, (blob.name for blob in client.list_blobs(name_starts_with=prefix))))
"""

UPLOAD_SCRIPT = """
    import os
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from azure.storage.blob import ContainerClient

    connection, container, source, prefix = sys.argv[1:]
    client = ContainerClient.from_connection_string(connection, container)


    def put(path):
        with open(path, "rb") as fh:
            client.upload_blob(prefix + os.path.relpath(path, source).replace(os.sep, "/"), fh, overwrite=True)


    files = [os.path.join(folder, name) for folder, _, names in os.walk(source) for name in names]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
"""

SIDES = ("download", "ro_mount", "warm", "upload")


def fill(connection: str, files: int, size: int, local: Path) -> None:
    """The blobs under data/, and the same bytes in the local folder the upload sides send."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection)
    service.get_container_client(CONTAINER).create_container()
    payload = os.urandom(size)
    local.mkdir(parents=True)

    def upload(i: int) -> None:
        data = payload[:-8] + i.to_bytes(8, "big")
        (local / f"f{i:05d}.bin").write_bytes(data)
        service.get_blob_client(CONTAINER, f"data/f{i:05d}.bin").upload_blob(data)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, range(files)))


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def names_sizes(folder: Path) -> str:
    """What the jobs print for a view: md5 of `find -printf '%P %s\\n' | sort`."""
    lines = sorted(f"{p.relative_to(folder).as_posix()} {p.stat().st_size}\n" for p in folder.rglob("*") if p.is_file())
    return hashlib.md5("".join(lines).encode()).hexdigest()


def remote_digest(connection: str, prefix: str) -> str:
    """Names (below `prefix`), sizes and content MD5s of the blobs there, as the service lists them."""
    from azure.storage.blob import ContainerClient

    h = hashlib.sha256()
    for blob in ContainerClient.from_connection_string(connection, CONTAINER).list_blobs(name_starts_with=prefix):
        h.update(f"{blob.name[len(prefix):]} {blob.size} {bytes(blob.content_settings.content_md5 or b'').hex()}\n"
                 .encode())
    return h.hexdigest()


def local_md5_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        data = path.read_bytes()
        h.update(f"{path.relative_to(folder).as_posix()} {len(data)} {hashlib.md5(data).hexdigest()}\n".encode())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sides", default=",".join(SIDES), help=f"some of {','.join(SIDES)}")
    args = parser.parse_args()
    sides = [x for x in args.sides.split(",") if x]
    if unknown := set(sides) - set(SIDES):
        parser.error(f"unknown side(s) {sorted(unknown)}; choose from {SIDES}")
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-staging-"))
    proc, server = start_azurite(work / "azurite")
    try:
        connection = server.connection_string()
        local = work / "local"
        fill(connection, args.files, args.size_kb * 1024, local)
        project = work / "project"
        project.mkdir()
        (project / "amlrun.yaml").write_text(textwrap.dedent(f"""\
            datastores:
              {CONTAINER}:
                type: azure_blob
                account_name: {ACCOUNT1}
                container_name: {CONTAINER}
                endpoint: {server.endpoint(ACCOUNT1)}
                credential: {{account_key_env: BENCH_KEY}}
        """))
        for mode in ("download", "ro_mount"):
            (project / f"{mode}.yml").write_text(textwrap.dedent(f"""\
                type: command
                inputs:
                  data: {{type: uri_folder, path: azureml://datastores/{CONTAINER}/paths/data/, mode: {mode}}}
                command: >-
                  echo STAGED=${{{{inputs.data}}}} &&
                  echo NAMES_SIZES=$(cd ${{{{inputs.data}}}} && find . -type f -printf '%P %s\\n' | sort | md5sum)
            """))
        (project / "upload.yml").write_text(textwrap.dedent(f"""\
            type: command
            outputs:
              out: {{type: uri_folder, path: azureml://datastores/{CONTAINER}/paths/out_amlrun/, mode: upload}}
            command: cp -r {local}/. ${{{{outputs.out}}}}
        """))
        (work / "fetch.py").write_text(textwrap.dedent(SCRIPT))
        (work / "put.py").write_text(textwrap.dedent(UPLOAD_SCRIPT))
        runs: dict[str, int] = {}
        staged: dict[str, Path] = {}
        listed: dict[str, str] = {}
        results: dict[str, list[tuple[float, float, float]]] = {}  # side -> (seconds, cpu, peak MB) per run

        def fresh(side: str) -> Path:
            runs[side] = runs.get(side, 0) + 1
            place = work / f"{side}{runs[side]}"
            for old in work.glob(f"{side}[0-9]*"):
                shutil.rmtree(old, ignore_errors=True)
            os.sync()  # settle the deletes before the clock starts
            return place

        def amlrun_run(job: str, place: Path, side: str) -> float:
            environ = env(AMLRUN_HOME=str(place / "home"), BENCH_KEY=KEY1)
            timed = run_tree(amlrun("run", str(project / job), "--store", str(place / "store")),
                             cwd=project, environ=environ, sample_memory=True)
            for line in timed.stdout.splitlines():
                if line.startswith("STAGED="):
                    staged[side] = Path(line.split("=", 1)[1].strip())
                elif line.startswith("NAMES_SIZES="):
                    listed[side] = line.split("=", 1)[1].split()[0]
            results.setdefault(side, []).append((timed.seconds, timed.cpu, timed.peak_mb))
            return timed.seconds

        def script_run(args: list[str], side: str) -> float:
            timed = run_tree([sys.executable, *args], environ=env(), sample_memory=True)
            results.setdefault(side, []).append((timed.seconds, timed.cpu, timed.peak_mb))
            return timed.seconds

        def fetch_script() -> float:
            place = fresh("script")
            staged["script"] = place / "data"
            return script_run([str(work / "fetch.py"), connection, CONTAINER, "data/", str(place / "data")], "script")

        warm_store = work / "warmstore"
        calls = {
            "download": lambda: amlrun_run("download.yml", fresh("download"), "download"),
            "ro_mount": lambda: amlrun_run("ro_mount.yml", fresh("ro_mount"), "ro_mount"),
            "warm": lambda: amlrun_run("ro_mount.yml", warm_store, "warm"),  # the warm-up round fills its cache
            "upload": lambda: amlrun_run("upload.yml", fresh("upload"), "upload"),
            "upload script": lambda: script_run([str(work / "put.py"), connection, CONTAINER, str(local),
                                                 "out_script/"], "upload script"),
        }
        order = [side for side in SIDES if side in sides]
        if set(sides) & {"download", "ro_mount", "warm"}:
            order.insert(0, "script")
            calls["script"] = fetch_script
        if "upload" in sides:
            order.append("upload script")
        timings = dict(zip(order, alternate(args.repeat, *(calls[side] for side in order)), strict=True))
        for side in results:  # the warm-up round is not counted
            results[side] = results[side][-args.repeat:]
        if "download" in sides:
            assert digest(staged["download"]) == digest(staged["script"]), "amlrun download staged other bytes"
        for side in ("ro_mount", "warm"):  # a view is gone after its step: the step listed names and sizes
            if side in sides:
                assert listed[side] == names_sizes(staged["script"]), f"amlrun {side} showed other files"
        if "upload" in sides:
            assert remote_digest(connection, "out_amlrun/") == remote_digest(connection, "out_script/") == \
                local_md5_digest(local), "amlrun uploaded other bytes than the script"
        goals = []
        script = timings.get("script")
        what = f"{args.files} x {args.size_kb} KB"
        for side, name, limit in (("download", f"cold blob staging (download), {what} / 16-thread script", 0.9),
                                  ("ro_mount", f"cold blob staging (ro_mount), {what} / 16-thread script", 0.9),
                                  ("warm", f"warm staging (ro_mount, all cached), {what} / 16-thread script", 0.9)):
            if side in timings and script:
                goals.append(Goal(name, *median_min([a / b for a, b in zip(timings[side], script, strict=True)]),
                                  limit, note=_note(side, "script", results)))
        if "upload" in timings:
            goals.append(Goal(f"upload output, {what} / 16-thread upload script",
                              *median_min([a / b for a, b in zip(timings["upload"], timings["upload script"],
                                                                 strict=True)]),
                              1.0, note=_note("upload", "upload script", results)))
        report(goals)
    finally:
        stop_azurite(proc)
        shutil.rmtree(work, ignore_errors=True)


def _note(ours: str, theirs: str, results: dict[str, list[tuple[float, float, float]]]) -> str:
    def medians(side: str) -> str:
        seconds, cpu, peak = (statistics.median(column) for column in zip(*results[side], strict=True))
        return f"{seconds:.2f}s, CPU {cpu:.2f}s, peak {peak:.0f} MB"

    return f"amlrun run {medians(ours)}; {theirs} {medians(theirs)} (medians, whole process trees); outputs identical"


if __name__ == "__main__":
    main()
