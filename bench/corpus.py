"""Run amlrun over every job file of an Azure/azureml-examples checkout, as a stranger would.

    python bench/corpus.py <checkout> [--only SUBSTRING ...] [--start-at SUBSTRING] [--no-run]
                           [--no-sdk-check] [--timeout S] [--json FILE]

For each job file under `cli/jobs` (files whose `$schema` says Job, or job-shaped files without one):
1. `amlrun check --no-sdk FILE`: amlrun's own verdict;
2. azure-ai-ml's verdict, taken directly (`load_job` + `_validate()` where the job type has one), in
   one long-lived process; and `amlrun check FILE` (amlrun with the SDK, its verdict cache included);
3. `amlrun run FILE` in a fresh temporary store with a per-job timeout, unless the job needs
   something this machine cannot give (a GPU, a registered data asset, data on the internet): then
   the table says which, instead of running it. Nothing is skipped silently: a job amlrun refuses
   shows amlrun's first line of refusal; a job that fails shows the error line of its log.

Prints one row per file and the totals: agree/disagree (amlrun --no-sdk vs the SDK), "stricter and
right" refusals (amlrun's message says "AzureML would refuse this at run time"), tracebacks, and
ran/refused/failed/not-run. The checkout is never modified: runs write to temporary stores, with
the job's outputs under them. CPU heavy: use --only to iterate on a subset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
JOB_TYPES = ("command", "pipeline", "sweep", "spark", "automl", "parallel", "finetuning")
STRICTER = "AzureML would refuse this at run time"

# One process imports azure-ai-ml once and answers a verdict per line of input (a path).
_SDK_WORKER = r"""
import contextlib, io, json, logging, sys
logging.disable(logging.WARNING)
import azure.ai.ml as ml
for line in sys.stdin:
    path = line.strip()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            job = ml.load_job(path)
            result = job._validate() if hasattr(job, "_validate") else None
        verdict = "ok" if result is None or result.passed else "refused: " + str(dict(result.error_messages))
    except Exception as exc:
        verdict = "refused: " + type(exc).__name__ + ": " + " ".join(str(exc).split())
    print(json.dumps(verdict[:300]), flush=True)
"""


@dataclass
class Row:
    file: str
    check: str = ""
    sdk: str = ""
    check_sdk: str = ""
    run: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return _ok(self.check) == _ok(self.sdk)


def _ok(verdict: str) -> bool:
    return verdict == "ok" or verdict.startswith("ok ")


def job_files(jobs: Path) -> list[Path]:
    found = []
    for path in sorted(jobs.rglob("*")):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        schema = str(data.get("$schema", ""))
        if "Job" in schema or (not schema and ("command" in data or "jobs" in data or data.get("type") in JOB_TYPES)):
            found.append(path)
    return found


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMLRUN_HOME": str(tmp / "store"),
            "AMLRUN_STATE_DIR": str(tmp / "state"), "AMLRUN_NO_PROGRESS": "1", "NO_COLOR": "1"}


BUILD_ALLOWANCE = 1800.0  # seconds a first build of a job's own environment may add (a conda file with TensorFlow)


def _amlrun(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, stdout+stderr, seconds); a timed-out job's process group is killed.
    Building a job's environment (once per machine: venvs are cached) does not count against `timeout`."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "amlrun", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    deadline = started + timeout
    builds: set[str] = set()
    while proc.poll() is None and time.perf_counter() < deadline:
        time.sleep(0.2)
        for line in list(lines):
            build = re.search(r"building environment (\w+)", line)
            if build and build[1] not in builds:
                builds.add(build[1])
                deadline += BUILD_ALLOWANCE
    timed_out = proc.poll() is None
    if timed_out:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=10)
    return None if timed_out else proc.returncode, "".join(lines), time.perf_counter() - started


def _first_problem(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith(("note:", "ok:"))]
    for line in lines:
        if "Traceback (most recent" in line or "internal error" in line:
            return "TRACEBACK " + line.strip()
    if not lines:
        return "refused (no message)"
    first = re.sub(r"^\S+:\d+:\d+: ", "", lines[0]).strip()
    if first.endswith(":"):  # "... these steps run on AzureML only:" then one "  - step ..." line each
        items = [ln.strip().removeprefix("- ") for ln in lines[1:] if ln.startswith("  - ")]
        first += " " + "; ".join(items)
    return first


def _verdict(code: int | None, output: str) -> str:
    if code == 0:
        notes = sum(1 for ln in output.splitlines() if ln.startswith("note:"))
        return "ok" + (f" ({notes} note{'s' if notes != 1 else ''})" if notes else "")
    return f"refused: {_first_problem(output)}"


def cannot_run_here(path: Path) -> str | None:
    """Why this job cannot run on this machine whatever amlrun does, or None."""
    text = path.read_text()
    files = [text]
    for ref in re.findall(r"component:\s*(?:file:)?(\.{0,2}/?[\w./-]+\.ya?ml)", text):
        component = (path.parent / ref)
        if component.is_file():
            files.append(component.read_text())
    joined = "\n".join(files)
    # GPU compute or a CUDA image matter only to code that can use them: a step that only runs a shell
    # command (`echo $TF_CONFIG` on a gpu-cluster) runs here as it does there
    runs_code = re.search(r"(?m)^\s*code:", joined) or re.search(r"(?i)cuda|gpu|nvidia", " ".join(
        re.findall(r"(?m)^\s*command:(.*)", joined)))
    if runs_code and (re.search(r"(?i)gpu|instance_type:\s*\S*(nc|nd|nv)\d", joined) or "nvidia" in joined.lower()):
        return "needs a GPU (GPU compute or CUDA image)"
    data_asset = re.search(r"path:\s*(azureml:(?!//)[\w.-]+(?::[\w.-]+|@latest))", joined)
    if data_asset:
        return f"needs registered data asset {data_asset.group(1)} (map it under `data:` in amlrun.yaml)"
    remote = re.search(r"(?:path|url):\s*[\"']?((?:https?|wasbs?|abfss?)://\S+)", joined)
    if remote:
        return f"reads internet data {remote.group(1)[:70]} (no internet here; map a local copy with --set)"
    return downloads_at_run_time(path)


def run_result(path: Path, jobs: Path, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="amlrun-corpus-") as tmp:
        env = _env(Path(tmp))
        code, out, seconds = _amlrun(["run", str(path.relative_to(jobs))], jobs, env, timeout)
        if code is None:
            failing = sorted(Path(tmp, "store").rglob("minibatch_*.txt"))  # a parallel step failing slowly
            return f"timeout after {timeout:.0f}s" + _in_progress(out) + (
                f"; {len(failing)} mini-batches had failed attempts: {_failure(Path(tmp) / 'store', out)}"
                if failing else "")
        if "error: internal error" in out:  # amlrun's own crash (a job's traceback is the job's)
            return "TRACEBACK " + _first_problem(out)
        if code == 0:
            built = sum(float(x) for x in re.findall(r"environment \w+ built in ([\d.]+)s", out))
            return f"completed ({seconds:.0f}s" + (f", {built:.0f}s of it building its environment)" if built else ")")
        missing = re.search(r"is not in datastore '(\w+)' \(looked for ([^)]*)\)", out)
        if missing:
            return f"needs data: in datastore {missing[1]} ({Path(missing[2]).name}), uploaded beforehand on AzureML"
        if code == 2 or " started" not in out:
            return "refused: " + _first_problem(out).removeprefix("error: ")
        unbuildable = environment_cannot_be_built(out)
        if unbuildable:
            return f"refused: its environment cannot be built here: {unbuildable}"
        unbuilt = re.search(r"the command failed importing '([\w.]+)': environment '([^']+)' is not built here", out)
        if unbuilt:
            return f"failed: environment {unbuilt[2]} is not built here (the host interpreter lacks {unbuilt[1]})"
        reason = _failure(Path(tmp) / "store", out)
        if re.search(r"URLError|Name or service not known|Temporary failure in name resolution|"
                     r"ConnectionError|Max retries exceeded", reason):
            return f"failed: no internet here (the job downloads at run time): {reason}"
        if re.search(r"ModuleNotFoundError|No module named", reason):
            return f"failed: a package its environment needs is missing: {reason}"
        return "failed: " + reason


def environment_cannot_be_built(output: str) -> str | None:
    """What stops a job's conda/pip environment from being built here, from amlrun's build error."""
    if "could not build the environment from" not in output:
        return None
    pins = re.findall(r"(?m)^\s+\S+:\d+: (\S.*)$", output.split("uv said:")[0])
    old_pin = re.search(r"could not build the environment from \S+: (.+? has wheels for Python .+? the nearest here)", output)
    if old_pin:  # amlrun refused before building: wheels exist only for the older Python the file pins
        return f"{', '.join(dict.fromkeys(pins))}: {old_pin[1]}"[:300]
    abi = re.search(r"only found wheels for `([\w.-]+)` \(v([\w.]+)\) with the following Python ABI tags: (.+)", output)
    stand_in = re.search(r"It asks for Python ([\d.]+), which is not on this machine: Python ([\d.]+) stood in", output)
    python = re.search(r"You require CPython ([\d.]+)", output)
    if abi:
        reason = (f"{abi[1]}=={abi[2]} has no build for Python {python[1] if python else '?'} "
                  f"(only {abi[3].replace('`', '').strip()})")
    else:
        cause = re.search(r"(?m)^\s*(?:cause: |error: )(.+)$", output.split("uv said:")[-1])
        reason = (f"{', '.join(dict.fromkeys(pins))}: " if pins else "") + (cause[1] if cause else "uv failed")
    if stand_in:
        reason += f"; it pins Python {stand_in[1]}, which this machine lacks (`uv python install {stand_in[1]}`)"
    return reason[:300]


def downloads_at_run_time(path: Path) -> str | None:
    """A URL the job's own code downloads when it runs (`urlretrieve(...)`, `requests.get(...)`, `wget`),
    found in the code folders of the job and its components: no internet here, so it cannot run."""
    folders = []
    for yml in [path, *(path.parent / ref for ref in re.findall(r"component:\s*(?:file:)?(\.{0,2}/?[\w./-]+\.ya?ml)",
                                                                 path.read_text()))]:
        if yml.is_file():
            folders += [(yml.parent / code).resolve() for code in re.findall(r"(?m)^\s*code:\s*[\"']?([\w./-]+)", yml.read_text())]
    fetch = re.compile(r"(?:urlretrieve|urlopen|requests\.get|wget|curl)\s*\(?\s*[\"']?(https?://[^\"'\s)]+)")
    for folder in dict.fromkeys(folders):
        if not folder.is_dir():
            continue
        for script in sorted(folder.rglob("*")):
            if script.suffix not in (".py", ".sh") or not script.is_file():
                continue
            found = fetch.search(script.read_text(errors="replace"))
            if found:
                return f"its code downloads {found[1]} at run time ({script.name}; no internet here)"
    return None


def _in_progress(output: str) -> str:
    """What a timed-out run was doing: building an environment (and uv's last line), or its last event."""
    events = [ln for ln in output.splitlines() if ln.startswith("[amlrun] ")]
    builds = [i for i, ln in enumerate(events) if "building environment " in ln]
    if builds and not any(" built in " in ln for ln in events[builds[-1]:]):
        source = re.search(r"building environment \w+ from (.*?) \(", events[builds[-1]])
        uv_lines = [ln.strip() for ln in events[builds[-1] + 1:] if ln.startswith("[amlrun]   ")]
        return (f" building the environment from {source[1] if source else '?'}"
                + (f" (uv's last line: {uv_lines[-1].removeprefix('[amlrun]').strip()[:60]})" if uv_lines else ""))
    return f" (last: {events[-1].removeprefix('[amlrun] ')[:80]})" if events else ""


def _failure(store: Path, output: str) -> str:
    """The most telling error line: the last exception line in a step's log, else amlrun's message."""
    best = ""
    # a parallel step's failed attempts are in logs/user/error/minibatch_<i>.txt
    for log in sorted(store.rglob("std_log*.txt")) + sorted(store.rglob("*.log")) + sorted(store.rglob("minibatch_*.txt")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        hits = [ln for ln in lines if re.search(r"\w+(Error|Exception)\b|error:", ln)]
        if hits:
            best = hits[-1].strip()
    if not best:
        errors = [ln for ln in output.splitlines() if "error" in ln.lower() or "Failed" in ln]
        best = errors[-1].strip() if errors else output.strip().splitlines()[-1] if output.strip() else "?"
    return best[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of Azure/azureml-examples (or its cli/jobs)")
    parser.add_argument("--only", action="append", default=[], help="only files whose path contains this")
    parser.add_argument("--no-run", action="store_true", help="checks only")
    parser.add_argument("--no-sdk-check", action="store_true", help="skip `amlrun check` with the SDK")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per `amlrun run` [240]")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--start-at", help="skip files before the first whose path contains this (to continue)")
    args = parser.parse_args()
    jobs = args.checkout / "cli" / "jobs" if (args.checkout / "cli" / "jobs").is_dir() else args.checkout
    files = [f for f in job_files(jobs) if not args.only or any(o in str(f) for o in args.only)]
    if args.start_at:
        first = next((i for i, f in enumerate(files) if args.start_at in str(f)), len(files))
        files = files[first:]
    sdk = subprocess.Popen([sys.executable, "-c", _SDK_WORKER], cwd=jobs, text=True, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rows = []
    with tempfile.TemporaryDirectory(prefix="amlrun-corpus-check-") as tmp:
        env = _env(Path(tmp))
        for path in files:
            rel = str(path.relative_to(jobs))
            row = Row(rel)
            code, out, _ = _amlrun(["check", "--no-sdk", rel], jobs, env, 120)
            row.check = _verdict(code, out)
            assert sdk.stdin is not None and sdk.stdout is not None
            sdk.stdin.write(rel + "\n")
            sdk.stdin.flush()
            row.sdk = json.loads(sdk.stdout.readline() or '"refused: the SDK worker died"')
            if not args.no_sdk_check:
                code, out, _ = _amlrun(["check", rel], jobs, env, 300)
                row.check_sdk = _verdict(code, out)
            if not args.no_run:
                reason = cannot_run_here(path) if _ok(row.check) else None
                row.run = f"not run: {reason}" if reason else run_result(path, jobs, args.timeout) \
                    if _ok(row.check) else "not run: check refuses it"
            rows.append(row)
            print(f"{rel}\n    check={row.check[:150]}\n    sdk={row.sdk[:150]}"
                  + (f"\n    check+sdk={row.check_sdk[:150]}" if row.check_sdk else "")
                  + (f"\n    run={row.run[:200]}" if row.run else ""), flush=True)
    sdk.stdin.close()  # type: ignore[union-attr]
    sdk.wait()
    _summary(rows)
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=1))


def _summary(rows: list[Row]) -> None:
    agree = sum(r.agree for r in rows)
    stricter = [r for r in rows if not r.agree and not _ok(r.check) and STRICTER in r.check]
    sdk_ok_check_refuses = [r for r in rows if _ok(r.sdk) and not _ok(r.check) and r not in stricter]
    tracebacks = [r for r in rows if "TRACEBACK" in r.check + r.check_sdk + r.run]
    runs = [r.run for r in rows if r.run]
    print(f"\n{len(rows)} job files: {agree} agree with the SDK, {len(rows) - agree} disagree "
          f"({len(stricter)} stricter-and-right, {len(sdk_ok_check_refuses)} SDK accepts but check refuses, "
          f"{sum(1 for r in rows if _ok(r.check) and not _ok(r.sdk))} check accepts but the SDK refuses)")
    if any(r.check_sdk for r in rows):
        print(f"amlrun check with the SDK vs the SDK: {sum(_ok(r.check_sdk) == _ok(r.sdk) for r in rows)} agree")
    print(f"tracebacks: {len(tracebacks)}")
    if runs:
        counts = {k: sum(1 for r in runs if r.startswith(k)) for k in ("completed", "refused", "failed", "needs data",
                                                                      "timeout", "not run", "TRACEBACK")}
        print("runs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for r in sdk_ok_check_refuses + tracebacks:
        print(f"  ! {r.file}: {r.check} | {r.run}")


if __name__ == "__main__":
    main()
