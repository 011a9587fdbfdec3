"""How much does amlrun add to a pipeline's own work? Prints ratios against bare commands.

    python bench/pipeline_overhead.py

1. a 10-step chain of `python -c pass` steps through amlrun (in-process API, every step forced to
   run) vs. the same 10 commands run bare in sequence; goal: ratio <= 1.3
2. an 8-wide fan-out of the same steps on this machine's cores vs. the 8 commands bare in sequence
3. the wall time of an unchanged re-run (every step reused); goal < 0.5 s, in-process and via the CLI

Bare and amlrun runs alternate, so a busy machine slows both alike; each line shows the best
(least disturbed) and the median of REPEAT pairs, measured in this process after a warm-up run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from amlrun.engine.events import SilentReporter  # noqa: E402
from amlrun.engine.runner import RunRequest, run_job  # noqa: E402

REPEAT = 7
STEP = 'python -c pass'


def chain_yaml(n: int) -> str:
    lines = ["type: pipeline", "jobs:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    command: {STEP}" + (" # ${{inputs.prev}}" if i else "")]
        if i:
            lines += ["    inputs:", f"      prev: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}"]
        lines += ["    outputs:", "      out:"]
    return "\n".join(lines) + "\n"


def fan_out_yaml(width: int) -> str:
    lines = ["type: pipeline", "jobs:", "  source:", f"    command: {STEP}", "    outputs:", "      out:"]
    for i in range(width):
        lines += [f"  leaf{i}:", f"    command: {STEP} # ${{{{inputs.x}}}}", "    inputs:",
                  "      x: ${{parent.jobs.source.outputs.out}}"]
    return "\n".join(lines) + "\n"


def bare(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def bare_shell(n: int) -> float:
    """The commands as AzureML runs them, through a shell (what a user's shell script would cost)."""
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(["bash", "-c", f"{sys.executable} -c pass"], check=True)
    return time.perf_counter() - started


def through_amlrun(file: Path, store: Path, force: bool, max_parallel: int | None = None) -> float:
    request = RunRequest(file=file, store_root=store, force_rerun=force, max_parallel=max_parallel)
    started = time.perf_counter()
    record = run_job(request, reporter=SilentReporter())
    elapsed = time.perf_counter() - started
    assert record.status == "Completed", record.error
    return elapsed


def paired(base_fn, ours_fn, repeat: int = REPEAT) -> tuple[list[float], list[float]]:
    """Alternate the two measurements; returns (bare times, amlrun times)."""
    bases, ours = [], []
    for _ in range(repeat):
        bases.append(base_fn())
        ours.append(ours_fn())
    return bases, ours


def describe(bases: list[float], ours: list[float]) -> str:
    best = min(ours) / min(bases)
    ratio = statistics.median(o / b for o, b in zip(ours, bases, strict=True))
    return (f"bare {min(bases) * 1000:6.1f} ms   amlrun {min(ours) * 1000:6.1f} ms   "
            f"ratio best {best:.2f}, median of pairs {ratio:.2f}")


def own_cpu(fn, repeat: int = REPEAT) -> float:
    """Median CPU seconds this process spends per call (children excluded)."""
    import resource

    spent = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_SELF)
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF)
        spent.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(spent)


def main() -> None:
    # `python` in the steps must be this interpreter, as it is for amlrun's current-interpreter envs
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = folder / "store"
        chain = folder / "chain.yml"
        chain.write_text(chain_yaml(10))
        fan = folder / "fan.yml"
        fan.write_text(fan_out_yaml(8))

        through_amlrun(chain, store, force=True)  # warm-up: imports, sqlite files, page cache
        bare(10)
        print(f"10-step chain of `{STEP}` vs the 10 commands bare in sequence (goal <= 1.3):")
        print("   " + describe(*paired(lambda: bare(10), lambda: through_amlrun(chain, store, force=True))))
        print("   vs the 10 commands through `bash -c` (as every AzureML command runs):")
        print("   " + describe(*paired(lambda: bare_shell(10), lambda: through_amlrun(chain, store, force=True))))
        cpu = own_cpu(lambda: through_amlrun(chain, store, force=True))
        bare_cpu = own_cpu(lambda: bare(10))
        print(f"   CPU time of this process alone (not the steps'; independent of machine load): "
              f"bare {bare_cpu * 1000:.1f} ms, amlrun {cpu * 1000:.1f} ms")

        print(f"1 + 8-wide fan-out on {cores} cores vs the 9 commands bare in sequence "
              f"(ideal with {cores} cores: {(1 + 8 / cores) / 9:.2f}):")
        print("   " + describe(*paired(lambda: bare(9), lambda: through_amlrun(fan, store, force=True))))

        reuse = [through_amlrun(chain, store, force=False) for _ in range(REPEAT)]
        print(f"unchanged re-run of the chain (all Reused), in-process: best {min(reuse) * 1000:.1f} ms, "
              f"median {statistics.median(reuse) * 1000:.1f} ms (goal < 500 ms)")
        env = {**os.environ, "AMLRUN_HOME": str(store), "PYTHONPATH": str(ROOT / "src")}

        def cli() -> float:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "amlrun", "run", str(chain)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - started

        times = [cli() for _ in range(REPEAT)]
        print(f"unchanged re-run of the chain (all Reused), `amlrun run` CLI: best {min(times) * 1000:.1f} ms, "
              f"median {statistics.median(times) * 1000:.1f} ms (includes interpreter start and imports)")


if __name__ == "__main__":
    main()
