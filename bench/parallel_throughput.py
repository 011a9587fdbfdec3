"""Parallel jobs, whole processes: `amlrun run parallel.yml` vs a hand-written multiprocessing.Pool script.

    python bench/parallel_throughput.py [--rows 200000] [--big-rows 1000000] [--files 10000] [--repeat 3]

The Pool script is what a user would write by hand: `pandas.read_csv` of the table (or a listing of the
folder), the same mini-batches amlrun cut (their sizes are read from amlrun's processed_mini-batches.csv
of a warm-up run), a fork Pool with the same workers calling the same init()/run(), results written to a
file. Both outputs are checked identical (as sorted lines). Memory is the peak of the summed RSS of each
side's whole process tree (driver/parent + workers), sampled every 20 ms.

Goals (issue 13):
- 200k-row CSV MLTable, trivial run(), 2 workers: time / Pool's                  <= 1.15x
- same table: first mini-batch after the step started                            <= 0.5 s
- folder of 10k files, 100 files a mini-batch: time / Pool's                     <= 1.3x
- 1M-row table: peak RSS of driver + workers / the Pool script's                 <= 1.2x
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from measure import Goal, alternate, amlrun, env, median_min, report, run_tree

__all__ = ["main"]

SCORE = """
    import os
    import time

    _first = None


    def init():
        pass


    def run(mini_batch):
        global _first
        if _first is None:
            _first = time.time()
            with open(os.environ["BENCH_FIRST_FILE"], "a") as fh:
                fh.write(f"{_first}\\n")
        if hasattr(mini_batch, "columns"):
            return mini_batch["id"].tolist()
        return [os.path.basename(path) for path in mini_batch]
"""

POOL = """
    import importlib.util
    import json
    import multiprocessing
    import os
    import sys

    _module = None


    def _init(script):
        global _module
        spec = importlib.util.spec_from_file_location("score", script)
        _module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_module)
        _module.init()


    def _work(batch):
        return "".join(f"{item}\\n" for item in _module.run(batch))


    def main():
        kind, source, counts_file, script, out, workers = sys.argv[1:]
        counts = json.load(open(counts_file))
        if kind == "table":
            import pandas

            items = pandas.read_csv(source)
            cut = lambda a, b: items.iloc[a:b]
        else:
            items = sorted(os.path.join(source, name) for name in os.listdir(source))
            cut = lambda a, b: items[a:b]
        batches, start = [], 0
        for n in counts:
            batches.append(cut(start, start + n))
            start += n
        assert start == len(items), (start, len(items))
        with multiprocessing.get_context("fork").Pool(int(workers), _init, (script,)) as pool, open(out, "w") as fh:
            for text in pool.imap(_work, batches):
                fh.write(text)


    if __name__ == "__main__":
        main()
"""


def make_table(root: Path, rows: int) -> Path:
    table = root / "table"
    table.mkdir(parents=True, exist_ok=True)
    with open(table / "data.csv", "w") as fh:
        fh.write("id,name,value\n")
        fh.writelines(f"{i},name-{i},{i * 0.5}\n" for i in range(rows))
    (table / "MLTable").write_text("paths:\n  - file: ./data.csv\ntransformations:\n"
                                   "  - read_delimited:\n      delimiter: ','\n      header: all_files_same_headers\n")
    return table


def make_folder(root: Path, files: int) -> Path:
    folder = root / "files"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"f{i:05d}.txt").write_text(f"{i}\n")
    return folder


def make_job(root: Path, name: str, input_yaml: str, size: str, workers: int) -> Path:
    job = root / f"{name}.yml"
    job.write_text(textwrap.dedent(f"""\
        type: parallel
        inputs:
          data: {input_yaml}
        outputs:
          results: {{type: uri_file}}
        input_data: ${{{{inputs.data}}}}
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


class Case:
    """One parallel job and its Pool twin, run side by side."""

    def __init__(self, root: Path, job: Path, kind: str, source: Path, workers: int) -> None:
        self.root, self.job, self.kind, self.source, self.workers = root, job, kind, source, workers
        self.environ = env(AMLRUN_HOME=str(root / "home"), BENCH_FIRST_FILE=str(root / "first.txt"))
        self.counts = root / f"{job.stem}.counts.json"
        self.runs = 0
        self.cpu = {}

    def cpu_note(self) -> str:
        ours, theirs = statistics.median(self.cpu["amlrun"]), statistics.median(self.cpu["pool"])
        return f"CPU of the process trees: amlrun {ours:.2f}s, Pool {theirs:.2f}s ({ours / theirs:.2f}x)"

    cpu: dict[str, list[float]]

    def amlrun(self, memory: bool = False) -> tuple[float, float, dict]:
        self.runs += 1
        name = f"{self.job.stem}_{self.runs}"
        timed = run_tree(amlrun("run", str(self.job), "--name", name, "--store", str(self.root / "store")),
                         cwd=self.root, environ=self.environ, sample_memory=memory)
        self.cpu.setdefault("amlrun", []).append(timed.cpu)
        run_dir = self.root / "store" / "runs" / name
        report_csv = run_dir / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
        counts = [int(row["items"]) for row in csv.DictReader(report_csv.open())]
        self.counts.write_text(json.dumps(counts))
        record = json.loads((run_dir / "record.json").read_text())
        self.last_output = Path(record["extra"]["append_row_file"])
        return timed.seconds, timed.peak_mb, record

    def pool(self, memory: bool = False) -> tuple[float, float]:
        script = self.root / "pool.py"
        out = self.root / "pool_out.txt"
        timed = run_tree([sys.executable, str(script), self.kind, str(self.source),
                          str(self.counts), str(self.root / "src" / "score.py"), str(out), str(self.workers)],
                         cwd=self.root, environ=self.environ, sample_memory=memory)
        self.cpu.setdefault("pool", []).append(timed.cpu)
        return timed.seconds, timed.peak_mb

    def check_identical(self) -> None:
        ours = sorted(self.last_output.read_text().split())
        theirs = sorted((self.root / "pool_out.txt").read_text().split())
        assert ours == theirs, f"{self.job.name}: amlrun wrote {len(ours)} rows, the Pool script {len(theirs)}"


def setup(root: Path) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "score.py").write_text(textwrap.dedent(SCORE))
    (root / "pool.py").write_text(textwrap.dedent(POOL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", default="100kb", help="mini_batch_size of the tables")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-parallel-"))
    goals = []

    # 1. a 200k-row CSV MLTable
    root = work / "table"
    setup(root)
    table = make_table(root, args.rows)
    case = Case(root, make_job(root, "table", "{type: mltable, path: ./table, mode: direct}", args.size,
                               args.workers), "table", table / "data.csv", args.workers)
    ours, theirs, firsts, partitions = [], [], [], []

    def amlrun_side() -> float:
        seconds, _, record = case.amlrun()
        firsts.append(float(record["extra"]["parallel"]["first_mini_batch_seconds"]))
        partitions.append(float(record["extra"]["parallel"].get("partition_seconds") or 0))
        return seconds

    ours, theirs = alternate(args.repeat, amlrun_side, lambda: case.pool()[0])
    case.check_identical()
    ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
    goals.append(Goal(f"parallel, {args.rows // 1000}k-row CSV MLTable, trivial run(), {args.workers} workers / Pool",
                      *median_min(ratios), 1.15,
                      note=f"amlrun {statistics.median(ours):.2f}s, Pool + pandas.read_csv "
                           f"{statistics.median(theirs):.2f}s (medians); outputs identical; {case.cpu_note()}"))
    goals.append(Goal("parallel, first mini-batch after the step started", *median_min(firsts[1:]), 0.5, unit="s",
                      note=f"every mini-batch known after {statistics.median(partitions[1:]):.2f}s (median)"))

    # 2. a folder of 10k files, 100 a mini-batch
    root = work / "folder"
    setup(root)
    folder = make_folder(root, args.files)
    case = Case(root, make_job(root, "folder", "{type: uri_folder, path: ./files, mode: direct}", "100",
                               args.workers), "folder", folder, args.workers)
    ours, theirs = alternate(args.repeat, lambda: case.amlrun()[0], lambda: case.pool()[0])
    case.check_identical()
    ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
    goals.append(Goal(f"parallel, folder of {args.files // 1000}k files, 100 a mini-batch / Pool",
                      *median_min(ratios), 1.3,
                      note=f"amlrun {statistics.median(ours):.2f}s, Pool {statistics.median(theirs):.2f}s "
                           f"(medians); outputs identical; {case.cpu_note()}"))

    # 3. memory, a 1M-row table
    root = work / "big"
    setup(root)
    table = make_table(root, args.big_rows)
    case = Case(root, make_job(root, "big", "{type: mltable, path: ./table, mode: direct}", "1mb", args.workers),
                "table", table / "data.csv", args.workers)
    case.amlrun()  # the cuts, for the Pool script
    ours_mb, theirs_mb, ours_s, theirs_s = [], [], [], []
    for _ in range(max(1, args.repeat - 1)):
        seconds, peak, _ = case.amlrun(memory=True)
        ours_mb.append(peak)
        ours_s.append(seconds)
        seconds, peak = case.pool(memory=True)
        theirs_mb.append(peak)
        theirs_s.append(seconds)
    case.check_identical()
    ratios = [o / t for o, t in zip(ours_mb, theirs_mb, strict=True)]
    goals.append(Goal(f"parallel memory, {args.big_rows // 1000}k rows: peak RSS of the tree / Pool's",
                      *median_min(ratios), 1.2,
                      note=f"amlrun {statistics.median(ours_mb):.0f} MB in {statistics.median(ours_s):.2f}s, "
                           f"Pool {statistics.median(theirs_mb):.0f} MB in {statistics.median(theirs_s):.2f}s "
                           "(medians)"))
    report(goals)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
