"""Parallel-job throughput: amlrun's driver vs a hand-written ProcessPoolExecutor, in one run.

    python bench/parallel_throughput.py [--rows 20000] [--big-rows 100000] [--workers 2] [--size 10kb]

Prints rows/s for a table with a trivial run() through amlrun (end to end: MLTable read, partitioning,
worker start, init(), run(), durable exactly-once append) and through a ProcessPoolExecutor that calls
the same init()/run() on the same mini-batches (already cut, so it does strictly less work), their
ratio, the time to the first mini-batch started, and the peak RSS of the amlrun driver process for a
larger table. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

SCRIPT = """
    def init():
        global ready
        ready = True

    def run(mini_batch):
        return mini_batch["id"].tolist()
"""


def make_job(root: Path, rows: int, workers: int, size: str) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "score.py").write_text(textwrap.dedent(SCRIPT))
    table = root / "table"
    table.mkdir(exist_ok=True)
    with open(table / "data.csv", "w") as fh:
        fh.write("id,name,value\n")
        fh.writelines(f"{i},name-{i},{i * 0.5}\n" for i in range(rows))
    (table / "MLTable").write_text("paths:\n  - file: ./data.csv\ntransformations:\n"
                                   "  - read_delimited:\n      delimiter: ','\n      header: all_files_same_headers\n")
    job = root / "job.yml"
    job.write_text(textwrap.dedent(f"""
        type: parallel
        inputs:
          table: {{type: mltable, path: ./table, mode: direct}}
        outputs:
          results: {{type: uri_file}}
        input_data: ${{{{inputs.table}}}}
        mini_batch_size: "{size}"
        max_concurrency_per_instance: {workers}
        retry_settings: {{max_retries: 0, timeout: 600}}
        task:
          type: run_function
          code: ./src
          entry_script: score.py
          append_row_to: ${{{{outputs.results}}}}
    """))
    return job


def run_amlrun(job: Path, store: Path, workers: int) -> dict:
    from amlrun.data.locations import DataContext
    from amlrun.engine.events import SilentReporter
    from amlrun.engine.parallel import plan_parallel_step, run_parallel_step
    from amlrun.spec.loader import load_job

    node = load_job(job)
    run_dir = store / "runs" / "bench"
    plan = plan_parallel_step(node, DataContext(store), "bench", run_dir)
    started = time.perf_counter()
    outcome = run_parallel_step(plan, SilentReporter(), max_workers=workers)
    elapsed = time.perf_counter() - started
    assert outcome.status == "Completed", outcome.error
    counts = outcome.extra["parallel"]
    return {"seconds": elapsed, "rows": counts["items_succeeded"], "first": counts["first_mini_batch_seconds"],
            "partition": counts["partition_seconds"], "batches": counts["mini_batches"],
            "minibatches_dir": str(run_dir / "parallel" / "minibatches"), "out": outcome.extra["append_row_file"]}


_module = None


def _pool_init(script: str) -> None:
    global _module
    spec = importlib.util.spec_from_file_location("score", script)
    assert spec and spec.loader
    _module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_module)
    _module.init()


def _pool_run(frame) -> str:
    return "".join(f"{item}\n" for item in _module.run(frame))


def hand_written(root: Path, counts: list[int], workers: int) -> dict:
    """What a user would write by hand: read the MLTable, cut the same mini-batches, map them in a pool."""
    import mltable

    read_started = time.perf_counter()
    frame = mltable.load(str(root / "table")).to_pandas_dataframe()
    read_seconds = time.perf_counter() - read_started
    batches, start = [], 0
    for n in counts:
        batches.append(frame.iloc[start:start + n])
        start += n
    pool_started = time.perf_counter()
    rows = 0
    with ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(str(root / "src" / "score.py"),)) as pool, \
            open(root / "pool.txt", "w") as fh:
        for text in pool.map(_pool_run, batches):
            fh.write(text)
            rows += text.count("\n")
    return {"rows": rows, "pool_seconds": time.perf_counter() - pool_started, "read_seconds": read_seconds}


def child(role: str, root: Path, workers: int) -> None:
    """One measurement in a fresh interpreter, timed from its first line to its last."""
    started = time.perf_counter()
    if role == "amlrun":
        result = run_amlrun(root / "job.yml", root / "store", workers)
        import csv

        report = root / "store" / "runs" / "bench" / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
        result["counts"] = [int(r["items"]) for r in csv.DictReader(report.open())]
    else:
        result = hand_written(root, json.loads((root / "counts.json").read_text()), workers)
    result["wall"] = time.perf_counter() - started
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _spawn_child(role: str, root: Path, workers: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", role, "--root", str(root), "--workers", str(workers)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{role} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    """The run with the median whole-process time (its other figures come along)."""
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def _walls(runs: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}s" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--big-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size", default="10kb")
    parser.add_argument("--repeat", type=int, default=3, help="alternate runs of each side; medians are shown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root, args.workers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "small"
        make_job(root, args.rows, args.workers, args.size)
        ours_runs, pool_runs = [], []
        for _ in range(max(1, args.repeat)):  # alternate, so a busy machine slows both sides alike
            shutil.rmtree(root / "store", ignore_errors=True)
            ours_runs.append(_spawn_child("amlrun", root, args.workers))
            (root / "counts.json").write_text(json.dumps(ours_runs[-1]["counts"]))
            pool_runs.append(_spawn_child("pool", root, args.workers))
            assert ours_runs[-1]["rows"] == pool_runs[-1]["rows"] == args.rows
            assert sorted(Path(ours_runs[-1]["out"]).read_text().split()) == sorted(
                (root / "pool.txt").read_text().split())
        ours = _median(ours_runs)
        pool = _median(pool_runs)
        big_root = Path(tmp) / "big"
        make_job(big_root, args.big_rows, args.workers, args.size)
        big = _spawn_child("amlrun", big_root, args.workers)
    n = args.rows
    steady = n / (ours["seconds"] - ours["first"])
    print(f"table: {n} rows, {len(ours['counts'])} mini-batches of ~{args.size}, {args.workers} workers; "
          f"each side in a fresh interpreter, median of {len(ours_runs)} alternating runs "
          f"(amlrun {_walls(ours_runs)}; pool {_walls(pool_runs)})")
    print(f"amlrun (whole process):        {n / ours['wall']:9.0f} rows/s  ({ours['wall']:.2f}s)")
    print(f"ProcessPoolExecutor (whole):   {n / pool['wall']:9.0f} rows/s  ({pool['wall']:.2f}s: mltable read "
          f"{pool['read_seconds']:.2f}s after importing it, same cuts, fork pool, same init/run)")
    print(f"ratio amlrun / pool:           {pool['wall'] / ours['wall']:9.2f}x  (goal >= 0.8x)")
    print(f"  of which amlrun start-up:    {ours['wall'] - ours['seconds']:9.2f}s (imports, spec, plan); "
          f"the step itself {ours['seconds']:.2f}s")
    print(f"amlrun after first mini-batch: {steady:9.0f} rows/s  ({ours['seconds'] - ours['first']:.2f}s)")
    print(f"pool map alone:                {n / pool['pool_seconds']:9.0f} rows/s  ({pool['pool_seconds']:.2f}s, "
          "workers forked from a warm parent)")
    print(f"time to first mini-batch:      {ours['first']:9.3f}s after the step started "
          f"(reading the MLTable: {ours['partition']:.2f}s)")
    print(f"driver peak RSS, {args.big_rows} rows: {big['peak_mb']:6.1f} MB  ({len(big['counts'])} mini-batches, "
          f"{args.big_rows / big['wall']:.0f} rows/s whole process; the ProcessPoolExecutor parent for "
          f"{n} rows peaked at {pool['peak_mb']:.1f} MB)")


if __name__ == "__main__":
    main()
