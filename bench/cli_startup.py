"""Start-up: `amlrun --help` and `amlrun run` of a one-line command job, whole processes.

    python bench/cli_startup.py [--repeat 15]

Goals (issue 13):
- `amlrun --help` / `python -c pass`                                  <= 2x
- `amlrun run` of a one-line command job, over the same command run by
  `bash -c` from a fresh interpreter (interpreter start + the command)   <= 0.35 s absolute overhead
Also shown: `amlrun check --no-sdk` of the example job. If the SDK check keeps verdicts (issue 10), the
second `amlrun check` of an unchanged file with the SDK is measured too (goal <= 0.5 s).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from measure import ROOT, Goal, Timed, alternate, amlrun, env, median_min, report, run_tree

__all__ = ["main"]

COMMAND = "echo hello"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    compileall.compile_dir(str(ROOT / "src"), quiet=1)  # an installed amlrun has its bytecode (pip compiles)
    work = Path(tempfile.mkdtemp(prefix="amlrun-bench-startup-"))
    environ = env(AMLRUN_HOME=str(work / "home"))
    job = work / "job.yml"
    job.write_text(f"type: command\ncommand: {COMMAND}\n")
    python_pass = [sys.executable, "-c", "pass"]
    bash_from_python = [sys.executable, "-c", f"import subprocess; subprocess.run(['bash', '-c', {COMMAND!r}])"]

    def side(cmd: list[str]) -> Timed:
        return run_tree(cmd, cwd=work, environ=environ)

    def walls(runs: list[Timed]) -> list[float]:
        return [r.seconds for r in runs]

    def cpu(runs: list[Timed]) -> float:
        return statistics.median(r.cpu for r in runs)

    goals = []
    bare_runs, our_runs = alternate(args.repeat, lambda: side(python_pass), lambda: side(amlrun("--help")))
    bare, ours = walls(bare_runs), walls(our_runs)
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    goals.append(Goal("amlrun --help / python -c pass", *median_min(ratios), 2.0,
                      note=f"amlrun --help {median_min(ours)[0] * 1000:.0f} ms, "
                           f"python -c pass {median_min(bare)[0] * 1000:.0f} ms (medians); CPU "
                           f"{cpu(our_runs) * 1000:.0f} ms vs {cpu(bare_runs) * 1000:.0f} ms "
                           f"(ratio {cpu(our_runs) / max(cpu(bare_runs), 1e-3):.2f}x)"))

    script = Path(sys.executable).with_name("amlrun")  # the console script a user types (no runpy)
    if script.is_file():
        bare_runs, our_runs = alternate(max(3, args.repeat // 3), lambda: side(python_pass),
                                        lambda: side([str(script), "--help"]))
        print(f"console script `amlrun --help`: median {median_min(walls(our_runs))[0] * 1000:.0f} ms, CPU "
              f"{cpu(our_runs) * 1000:.0f} ms (python -c pass {median_min(walls(bare_runs))[0] * 1000:.0f} ms, "
              f"CPU {cpu(bare_runs) * 1000:.0f} ms)")

    bare_runs, our_runs = alternate(args.repeat, lambda: side(bash_from_python),
                                    lambda: side(amlrun("run", str(job))))
    bare, ours = walls(bare_runs), walls(our_runs)
    overhead = [o - b for o, b in zip(ours, bare, strict=True)]
    goals.append(Goal(f"amlrun run of `{COMMAND}` - (python + bash -c) ", *median_min(overhead), 0.35, unit="s",
                      note=f"amlrun run {median_min(ours)[0] * 1000:.0f} ms, python + bash -c "
                           f"{median_min(bare)[0] * 1000:.0f} ms (medians); CPU {cpu(our_runs) * 1000:.0f} ms vs "
                           f"{cpu(bare_runs) * 1000:.0f} ms: overhead {(cpu(our_runs) - cpu(bare_runs)) * 1000:.0f} ms"))

    example = str(ROOT / "examples" / "hello" / "job.yml")
    bare_runs, our_runs = alternate(max(3, args.repeat // 3), lambda: side(python_pass),
                                    lambda: side(amlrun("check", "--no-sdk", example)))
    bare, ours = walls(bare_runs), walls(our_runs)
    print(f"amlrun check --no-sdk hello/job.yml: median {median_min(ours)[0] * 1000:.0f} ms, "
          f"min {median_min(ours)[1] * 1000:.0f} ms (python -c pass {median_min(bare)[0] * 1000:.0f} ms)")

    if _sdk_installed():
        run_tree(amlrun("check", example), cwd=work, environ=environ, check=False)  # the first, full check
        again = [run_tree(amlrun("check", example), cwd=work, environ=environ, check=False)
                 for _ in range(max(3, args.repeat // 3))]
        goals.append(Goal("second `amlrun check` with the SDK, unchanged file", *median_min(walls(again)), 0.5,
                          unit="s", note=f"CPU {cpu(again) * 1000:.0f} ms"))
    report(goals)
    shutil.rmtree(work, ignore_errors=True)


def _sdk_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("azure.ai.ml") is not None


if __name__ == "__main__":
    main()
