"""Seeded mutation fuzzing of job files through `amlrun check` (spec checks and run planning).

Run as a script: `python fuzz_jobs.py <workdir> <seed> <seconds>`; it writes valid jobs into
<workdir>, then mutates them (types, bindings, YAML structure, anchors and aliases) and calls the
real CLI entry point in-process for each case, printing one JSON summary line at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

BASES = {
    "command.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: ./src
command: >-
  python main.py --data ${{inputs.data}} --lr ${{inputs.lr}}
  $[[--note ${{inputs.note}}]] --out ${{outputs.model}}
inputs:
  data:
    type: uri_folder
    path: ./data
    mode: ro_mount
  lr: 0.01
  note: hello
outputs:
  model:
    type: uri_folder
    mode: rw_mount
environment: azureml:AzureML-sklearn-1.5@latest
environment_variables:
  GREETING: hi
limits:
  timeout: 300
""",
    "pipeline.yml": """\
type: pipeline
inputs:
  raw: {type: uri_folder, path: ./data}
  epochs: 3
outputs:
  final: {type: uri_folder}
settings:
  default_datastore: azureml:workspaceblobstore
  continue_on_step_failure: false
jobs:
  prep:
    type: command
    code: ./src
    command: python main.py --data ${{inputs.raw}} --out ${{outputs.clean}}
    inputs:
      raw: ${{parent.inputs.raw}}
    outputs:
      clean: {type: uri_folder}
  train:
    type: command
    code: ./src
    command: python main.py --data ${{inputs.clean}} --epochs ${{inputs.epochs}} --out ${{outputs.model}}
    inputs:
      clean: ${{parent.jobs.prep.outputs.clean}}
      epochs: ${{parent.inputs.epochs}}
    outputs:
      model: ${{parent.outputs.final}}
""",
    "parallel.yml": """\
type: parallel
inputs:
  files: {type: uri_folder, path: ./data}
outputs:
  rows: {type: uri_folder}
input_data: ${{inputs.files}}
mini_batch_size: "2"
error_threshold: -1
max_concurrency_per_instance: 2
retry_settings: {max_retries: 1, timeout: 30}
task:
  type: run_function
  code: ./src
  entry_script: score.py
  program_arguments: --threshold 0.5
  append_row_to: ${{outputs.rows}}
""",
}

SCALARS = [0, -1, 1.5, True, None, "", "x" * 300, "${{inputs.data}}", "${{parent.jobs.prep.outputs.clean}}",
           "azureml://datastores/workspaceblobstore/paths/../..", "azureml://datastores//paths", "/etc", "../..",
           "azureml:missing:1", "https://acct.blob.core.windows.net/c/p?sv=1&sig=abc", "wasbs://c@a.blob.core.windows.net/",
           "ünïcödé", "a b; rm -rf /", [], {}, [1, [2, [3]]], {"path": None}, {"type": "mltable"},
           "${{", "${{inputs.", "$[[", "${{ __import__('os').system('id') }}", "\t", 10**30, -10**30]
BINDINGS = ["${{inputs.nope}}", "${{outputs.nope}}", "${{parent.jobs.ghost.outputs.x}}", "${{parent.inputs.nope}}",
            "${{inputs.data", "${{ inputs.data }}", "${{${{inputs.data}}}}", "$[[--x ${{inputs.lr}}", "${{name}}",
            "${{parent.jobs.train.outputs.model}}", "${{default_datastore}}", "}}"]
FIELDS = ["type", "command", "code", "inputs", "outputs", "jobs", "environment", "limits", "task", "input_data",
          "mini_batch_size", "path", "mode", "settings", "component", "compute", "resources", "distribution"]
SNIPPETS = ["&a", "*a", "<<: *a", "- ", ": ", "[", "]", "{", "}", "'", '"', "|", ">", "!!python/object:os.system",
            "!!binary", "? ", "---", "...", "%YAML 1.1", "\t", "#", "~", "&a [*a]"]


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits of a YAML text: values, bindings, structure, aliases."""
    import yaml

    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["value", "value", "binding", "line", "line", "alias", "key", "bomb"])
        lines = text.splitlines()
        if kind == "value":
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                data = None
            if isinstance(data, dict):
                _set_random_leaf(data, rng.choice(SCALARS), rng)
                text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
                continue
            kind = "line"
        if kind == "binding" and "${{" in text:
            start = rng.choice([i for i in range(len(text)) if text.startswith("${{", i)])
            end = text.find("}}", start)
            text = text[:start] + rng.choice(BINDINGS) + (text[end + 2:] if end >= 0 else "")
        elif kind == "line" and lines:
            i = rng.randrange(len(lines))
            op = rng.choice(["drop", "dup", "indent", "dedent", "snippet", "swap"])
            if op == "drop":
                del lines[i]
            elif op == "dup":
                lines.insert(i, lines[i])
            elif op == "indent":
                lines[i] = "  " + lines[i]
            elif op == "dedent":
                lines[i] = lines[i][2:]
            elif op == "snippet":
                pos = rng.randrange(len(lines[i]) + 1)
                lines[i] = lines[i][:pos] + rng.choice(SNIPPETS) + lines[i][pos:]
            else:
                j = rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines) + "\n"
        elif kind == "alias":
            text += "tags: &t {a: 1}\ndescription: *t\nextra: {<<: *t, b: 2}\n"
        elif kind == "key":
            text += f"{rng.choice(FIELDS)}: {json.dumps(rng.choice(SCALARS))}\n"
        elif kind == "bomb":
            depth, width = rng.randint(2, 9), rng.randint(2, 12)
            rows = [f"  b0: &b0 [{', '.join(['x'] * width)}]"]
            rows += [f"  b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, depth)]
            text += "tags:\n" + "\n".join(rows) + "\n"
    return text


def _set_random_leaf(data: dict, value: object, rng: random.Random) -> None:
    node = data
    for _ in range(6):
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = rng.choice(keys)
        child = node[key]
        if not isinstance(child, dict | list) or not child or rng.random() < 0.3:
            node[key] = value
            return
        node = child


def _write_project(work: Path) -> None:
    (work / "src").mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    (work / "src" / "main.py").write_text("print('hi')\n")
    (work / "src" / "score.py").write_text("def init():\n    pass\n\ndef run(batch):\n    return batch\n")
    (work / "data" / "a.txt").write_text("a\n")
    (work / "pyproject.toml").write_text("[project]\nname = 'fuzz'\n")
    for name, text in BASES.items():
        (work / name).write_text(text)


class _Timeout(Exception):
    pass


def _one(path: Path) -> tuple[int, str]:
    """`amlrun check --no-sdk <path>` through the real entry point; (exit code, output)."""
    from amlrun.cli import main

    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["amlrun", "check", "--no-sdk", str(path)]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue() + err.getvalue()


def main() -> None:
    work, seed, seconds = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))  # a runaway case fails, not the machine
    _write_project(work)
    os.chdir(work)
    rng = random.Random(seed)
    summary: dict = {"seed": seed, "cases": 0, "exit": {}, "failures": [], "slowest": 0.0}

    def alarm(*_: object) -> None:
        raise _Timeout

    signal.signal(signal.SIGALRM, alarm)
    deadline = time.monotonic() + seconds
    for base in BASES:  # the unmutated files must pass
        code, text = _one(work / base)
        summary["exit"][str(code)] = summary["exit"].get(str(code), 0) + 1
        if code != 0:
            summary["failures"].append({"case": base, "why": f"valid file refused (exit {code})", "out": text[-600:]})
    while time.monotonic() < deadline:
        base = rng.choice(sorted(BASES))
        text = mutate(BASES[base], rng)
        case = work / f"case_{summary['cases']:05d}_{base}"
        case.write_text(text)
        started = time.monotonic()
        signal.alarm(10)
        try:
            code, out = _one(case)
        except _Timeout:
            code, out = -1, "timed out after 10 s"
        except BaseException:  # noqa: BLE001 - anything escaping the CLI's own handling is a finding
            code, out = -2, traceback.format_exc()
        finally:
            signal.alarm(0)
        took = time.monotonic() - started
        summary["slowest"] = max(summary["slowest"], round(took, 3))
        summary["cases"] += 1
        summary["exit"][str(code)] = summary["exit"].get(str(code), 0) + 1
        if code not in (0, 2) or "Traceback" in out or "internal error" in out:
            summary["failures"].append({"case": case.name, "why": f"exit {code}", "out": out[-1200:],
                                        "yaml": text[:1500]})
        else:
            case.unlink()
    summary["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
