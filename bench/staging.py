"""Benchmark: fetch 3 blob datastores x 200 files x 1 MB from a local Azurite.

Prints, from one run against one server, the time through amlrun's input staging (a cold cache, then
a warm one) vs a naive sequential download loop and vs raw concurrent adlfs `get` per store, and the
ratios (goals: >= 3x naive, >= 0.8x raw). Not a test: timings on a 2-core machine vary.

Beside each time it prints the CPU seconds the client (this process) and the server (Azurite) spent,
and how busy that kept the machine's cores: when a method keeps every core busy, only doing less
work per byte (not more concurrency) can make it faster.

    python bench/staging.py [--files 200] [--size-mb 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
os.environ.setdefault("AMLRUN_NO_PROGRESS", "1")

from amlrun.data.locations import DataContext  # noqa: E402
from amlrun.data.staging import materialize_inputs  # noqa: E402
from azurite_fixtures import ACCOUNT1, KEY1, start_azurite, stop_azurite  # noqa: E402

STORES = ("bench1", "bench2", "bench3")


class Span:
    """Wall time, this process's CPU time and the server's CPU time over one measured stretch."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> Span:
        self._wall, self._client, self._server = time.perf_counter(), _own_cpu(), _group_cpu(self.server_pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.client = _own_cpu() - self._client
        self.server = _group_cpu(self.server_pid) - self._server

    def describe(self) -> str:
        busy = (self.client + self.server) / (self.wall * (os.cpu_count() or 1))
        return f"cpu: client {self.client:5.2f} s, server {self.server:5.2f} s, cores {busy:4.0%} busy"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _group_cpu(pgid: int) -> float:
    """CPU seconds of every process in the server's process group (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def fill(server, files: int, size: int) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(server.connection_string())
    payload = os.urandom(size)

    def upload(args: tuple[str, int]) -> None:
        container, i = args
        service.get_blob_client(container, f"data/f{i:04d}.bin").upload_blob(
            payload[:-16] + container.encode().ljust(8, b"_") + i.to_bytes(8, "big"), overwrite=True)

    for container in STORES:
        service.get_container_client(container).create_container()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, [(c, i) for c in STORES for i in range(files)]))


def through_amlrun(server, work: Path, store: str = "store") -> None:
    project = work / "project"
    project.mkdir(exist_ok=True)
    lines = ["datastores:"]
    for name in STORES:
        lines += [f"  {name}:", "    type: azure_blob", f"    account_name: {ACCOUNT1}", f"    container_name: {name}",
                  f"    endpoint: {server.endpoint(ACCOUNT1)}", "    credential: {account_key_env: BENCH_KEY}"]
    (project / "amlrun.yaml").write_text("\n".join(lines) + "\n")
    os.environ["BENCH_KEY"] = KEY1
    data = DataContext.for_project(work / store, project)
    requests = {name: ("uri_folder", "ro_mount", data.resolve(f"azureml://datastores/{name}/paths/data/", project))
                for name in STORES}  # one step with three inputs, as the engine stages it
    for item in materialize_inputs(requests, work / "run").values():
        item.verify()


def naive(server, work: Path) -> None:
    fs = server.fs()
    for container in STORES:
        target = work / "naive" / container
        target.mkdir(parents=True)
        for path in sorted(fs.find(f"{container}/data")):
            fs.get_file(path, str(target / path.rsplit("/", 1)[-1]))


def raw(server, work: Path) -> None:
    fs = server.fs()
    for container in STORES:
        target = work / "raw" / container
        target.mkdir(parents=True)
        paths = sorted(fs.find(f"{container}/data"))
        fs.get(paths, [str(target / p.rsplit("/", 1)[-1]) for p in paths])


def clear(work: Path) -> None:
    """Remove what earlier measurements fetched, so that each one writes into freed space (not timed)."""
    for entry in work.iterdir():
        if entry.name in ("naive", "raw", "run") or entry.name.startswith("store"):
            for folder, dirs, _ in os.walk(entry):  # views are read-only folders
                for d in dirs:
                    os.chmod(Path(folder) / d, 0o755)
            shutil.rmtree(entry)
    os.sync()  # settle the deletes (and an online-discard mount's trims) before the clock starts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-"))
    proc, server = start_azurite(work / "azurite")
    try:
        fill(server, args.files, int(args.size_mb * 1024 * 1024))
        total = len(STORES) * args.files
        raw(server, work)  # warm the server up (node's JIT, the page cache) before measuring anything
        runs: dict[str, list[Span]] = {"naive": [], "raw": [], "cold": []}
        for _ in range(args.rounds):  # interleaved rounds, best of each: the machine is shared
            for method, call in (("naive", naive), ("raw", raw), ("cold", through_amlrun)):
                clear(work)
                with Span(proc.pid) as span:
                    call(server, work)
                runs[method].append(span)
        with Span(proc.pid) as warm:  # the last cold run's store is still there
            through_amlrun(server, work)
        best = {method: min(spans, key=lambda s: s.wall) for method, spans in runs.items()}
        t_naive, t_raw, t_cold = best["naive"].wall, best["raw"].wall, best["cold"].wall
        print(f"fetch {len(STORES)} stores x {args.files} files x {args.size_mb:g} MB ({total} files) from Azurite, "
              f"best of {args.rounds} interleaved rounds, {os.cpu_count()} cores")
        print(f"  naive sequential loop      {t_naive:7.2f} s   {best['naive'].describe()}")
        print(f"  raw concurrent adlfs get   {t_raw:7.2f} s   {best['raw'].describe()}")
        print(f"  amlrun (cold cache)        {t_cold:7.2f} s   {best['cold'].describe()}")
        print(f"  amlrun (warm cache)        {warm.wall:7.2f} s   0 bytes fetched")
        print(f"  ratios: amlrun {t_naive / t_cold:5.2f}x naive (goal >= 3), {t_raw / t_cold:5.2f}x raw (goal >= 0.8)")
    finally:
        stop_azurite(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
