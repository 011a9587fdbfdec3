"""Blob staging, whole processes: `amlrun run` of a job downloading a blob folder vs a 16-thread script.

    python bench/staging.py [--files 2000] [--size-kb 50] [--repeat 3]

Both sides fetch the same folder of small blobs from an Azurite started from node_modules (as the tests
do), each in a fresh process with nothing cached: amlrun as `amlrun run job.yml` of a command job whose
input is `azureml://datastores/bench/paths/data/` in download mode (a fresh store and AMLRUN_HOME every
run), the baseline as a script listing the container and downloading every blob with 16 threads of
azure-storage-blob. Both downloads are checked identical.

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


def fill(connection: str, files: int, size: int) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection)
    service.get_container_client(CONTAINER).create_container()
    payload = os.urandom(size)

    def upload(i: int) -> None:
        service.get_blob_client(CONTAINER, f"data/f{i:05d}.bin").upload_blob(payload[:-8] + i.to_bytes(8, "big"))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, range(files)))


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-staging-"))
    proc, server = start_azurite(work / "azurite")
    try:
        connection = server.connection_string()
        fill(connection, args.files, args.size_kb * 1024)
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
        (project / "job.yml").write_text(textwrap.dedent(f"""\
            type: command
            inputs:
              data: {{type: uri_folder, path: azureml://datastores/{CONTAINER}/paths/data/, mode: download}}
            command: echo STAGED=${{{{inputs.data}}}}
        """))
        (work / "fetch.py").write_text(textwrap.dedent(SCRIPT))
        runs = {"amlrun": 0, "script": 0}
        staged: dict[str, Path] = {}

        def fresh(side: str) -> Path:
            runs[side] += 1
            place = work / f"{side}{runs[side]}"
            for old in work.glob(f"{side}*"):
                shutil.rmtree(old, ignore_errors=True)
            os.sync()  # settle the deletes before the clock starts
            return place

        def ours() -> float:
            place = fresh("amlrun")
            environ = env(AMLRUN_HOME=str(place / "home"), BENCH_KEY=KEY1)
            timed = run_tree(amlrun("run", str(project / "job.yml"), "--store", str(place / "store")),
                             cwd=project, environ=environ)
            line = next(x for x in timed.stdout.splitlines() if "STAGED=" in x)
            staged["amlrun"] = Path(line.split("STAGED=", 1)[1].strip())
            return timed.seconds

        def theirs() -> float:
            place = fresh("script")
            staged["script"] = place / "data"
            return run_tree([sys.executable, str(work / "fetch.py"), connection, CONTAINER, "data/",
                             str(place / "data")], environ=env()).seconds

        a, b = alternate(args.repeat, ours, theirs)
        assert digest(staged["amlrun"]) == digest(staged["script"]), "amlrun staged other bytes than the script"
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        goal = Goal(f"cold blob staging, {args.files} x {args.size_kb} KB / 16-thread azure-storage-blob",
                    *median_min(ratios), 0.9,
                    note=f"amlrun run {statistics.median(a):.2f}s, script {statistics.median(b):.2f}s "
                         "(medians, whole processes); downloads identical")
        report([goal])
    finally:
        stop_azurite(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
