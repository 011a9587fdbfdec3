"""Pipelines, whole processes: what amlrun adds to the steps' own commands.

    python bench/pipeline_overhead.py [--repeat 5]

Goals (issue 13):
- an unchanged 200-step pipeline (every step Reused), `amlrun run` start to end      <= 0.5 s
- a forced chain: per-step overhead over running the same command with `bash -c`    <= 5 ms
  (the slope between a short and a long chain, so start-up cancels out; the baseline is a bash loop
  running `bash -c CMD` once per step)
Also shown: an 8-wide fan-out of `sleep` steps vs `xargs -P <cores>` running the same commands.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from measure import Goal, alternate, amlrun, env, median_min, report, run_tree

__all__ = ["main"]

STEP = "true"


def chain_yaml(n: int, command: str = STEP) -> str:
    lines = ["type: pipeline", "jobs:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    command: '{command}" + (" # ${{inputs.prev}}'" if i else "'")]
        if i:
            lines += ["    inputs:", f"      prev: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}"]
        lines += ["    outputs:", "      out:"]
    return "\n".join(lines) + "\n"


def fan_out_yaml(width: int, command: str) -> str:
    lines = ["type: pipeline", "jobs:"]
    for i in range(width):
        lines += [f"  leaf{i}:", f"    command: '{command} {i}'"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reused-steps", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-pipeline-"))
    environ = env(AMLRUN_HOME=str(work / "home"))
    goals = []

    cpu: dict[str, list[float]] = {}

    def run(*cmd: str, tag: str = "") -> float:
        timed = run_tree(list(cmd), cwd=work, environ=environ)
        cpu.setdefault(tag, []).append(timed.cpu)
        return timed.seconds

    # 1. an unchanged pipeline: every step Reused
    reused = work / "reused.yml"
    reused.write_text(chain_yaml(args.reused_steps))
    first = run(*amlrun("run", str(reused)))
    bare, ours = alternate(args.repeat, lambda: run("python3", "-c", "pass", tag="pass"),
                           lambda: run(*amlrun("run", str(reused)), tag="reused"))
    goals.append(Goal(f"unchanged {args.reused_steps}-step pipeline, all Reused (whole process)",
                      *median_min(ours), 0.5, unit="s",
                      note=f"first run (every step runs) {first:.2f}s; python -c pass "
                           f"{statistics.median(bare) * 1000:.0f} ms; CPU of the reused run "
                           f"{statistics.median(cpu['reused']) * 1000:.0f} ms"))

    # 2. forced chains: the slope per step, amlrun vs bash
    short, long = 5, 25
    files = {n: work / f"chain{n}.yml" for n in (short, long)}
    for n, file in files.items():
        file.write_text(chain_yaml(n))

    def bash_loop(n: int) -> float:
        return run("bash", "-c", f"for i in $(seq {n}); do bash -c {STEP!r}; done", tag=f"bash{n}")

    a_short, a_long, b_short, b_long = alternate(
        args.repeat, lambda: run(*amlrun("run", str(files[short]), "--force-rerun"), tag=f"amlrun{short}"),
        lambda: run(*amlrun("run", str(files[long]), "--force-rerun"), tag=f"amlrun{long}"),
        lambda: bash_loop(short), lambda: bash_loop(long))

    def slope(tag: str) -> float:
        return (statistics.median(cpu[f"{tag}{long}"]) - statistics.median(cpu[f"{tag}{short}"])) / (long - short)

    per_step = [((al - as_) - (bl - bs)) / (long - short)
                for as_, al, bs, bl in zip(a_short, a_long, b_short, b_long, strict=True)]
    amlrun_slope = statistics.median((al - as_) / (long - short) for as_, al in zip(a_short, a_long, strict=True))
    bash_slope = statistics.median((bl - bs) / (long - short) for bs, bl in zip(b_short, b_long, strict=True))
    goals.append(Goal("forced chain: per-step overhead over bash -c", *median_min(per_step), 0.005, unit="s",
                      note=f"per step: amlrun {amlrun_slope * 1000:.1f} ms, bash -c {bash_slope * 1000:.1f} ms; "
                           f"{long}-step chain {statistics.median(a_long):.2f}s whole process; CPU per step: "
                           f"amlrun {slope('amlrun') * 1000:.1f} ms, bash -c {slope('bash') * 1000:.1f} ms"))

    # 3. fan-out vs xargs -P
    width, cores = 8, os.cpu_count() or 2
    fan = work / "fan.yml"
    fan.write_text(fan_out_yaml(width, "sleep 0.2; echo"))
    xargs = f"seq 0 {width - 1} | xargs -P {cores} -I{{}} bash -c 'sleep 0.2; echo {{}}'"
    bare, ours = alternate(args.repeat, lambda: run("bash", "-c", xargs),
                           lambda: run(*amlrun("run", str(fan), "--force-rerun", "--max-parallel", str(cores))))
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    median, best = median_min(ratios)
    print(f"fan-out of {width} `sleep 0.2` steps, {cores} at once: amlrun {statistics.median(ours):.2f}s, "
          f"xargs -P {cores} {statistics.median(bare):.2f}s; ratio median {median:.2f}x, min {best:.2f}x")
    report(goals)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
