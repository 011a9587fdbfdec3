"""A pipeline run where every step is reused, straight from its cached plan (`plan_cache`).

Nothing is loaded, validated or planned: the entry gives each step's static key digest and where
its inputs come from; code folders and local input data are hashed as in any run (by stat, from
the step cache's digests), so an edited script or data file changes the key. If every key finds
an earlier run whose outputs still exist, the run is recorded exactly as a planned run would
record it (`describe` keeps what that takes); at the first step that would run, nothing has been
written yet and the caller plans the job as usual.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from amlrun.engine import plan_cache
from amlrun.engine.cache import CacheEntry, StepCache, copy_output, input_part, step_key
from amlrun.engine.events import PlainReporter, Reporter, report_outputs
from amlrun.engine.naming import check_run_name, new_run_name
from amlrun.engine.pipeline_report import live_or, logged, started_message, summary_text
from amlrun.errors import scrub_secrets
from amlrun.store.liveness import owner_fields
from amlrun.store.records import RunRecord, RunStore, find_store_root

__all__ = ["cacheable", "describe", "keep_plan", "run_reused", "store_root_of"]


def cacheable(request: Any) -> bool:
    """Whether `amlrun run` as asked may take its plan from the plan cache (and keep one)."""
    return (plan_cache.enabled() and not request.step and request.debug is None and not request.force_rerun
            and not request.dry_run and request.source is None)


def store_root_of(request: Any) -> Path:
    """The store a run of `request` is kept in (as the planned path finds it)."""
    near = request.origin or request.file
    return Path(request.store_root or find_store_root(Path(near).parent))


def run_reused(request: Any, reporter: Reporter | None) -> RunRecord | None:
    """Record the run as a planned run would if every step of the cached plan is reused; else None."""
    root = store_root_of(request)
    entry = plan_cache.entry_path(root, request.file)
    if not entry.is_file():
        return None
    name = check_run_name(request.name) if request.name else new_run_name()
    try:
        body = plan_cache.load_entry(entry, plan_cache.entry_key(request, root), name)
        if body is None:
            return None
        store = RunStore(root)
        if store.exists(name):
            return None  # the planned path says why
        cache = StepCache(root)
        try:
            found = _all_reused(body, cache)
        finally:
            cache.close()
    except Exception:  # noqa: BLE001 - anything odd (a damaged entry, a code folder snapshots refuse): plan
        return None
    if found is None:
        return None
    return _record(request, body, store, name, found, reporter)


def _all_reused(body: dict[str, Any], cache: StepCache) -> dict[str, tuple[str, CacheEntry]] | None:
    """Each step's (key, earlier run), in plan order, or None at the first step that would run."""
    outputs: dict[str, dict[str, dict[str, str]]] = {}
    found: dict[str, tuple[str, CacheEntry]] = {}
    for step in body["steps"]:
        code = cache.hash_code(Path(step["code"])) if step["code"] is not None else None
        key = step_key(step["static"], code, {name: input_part(ref, cache, outputs)
                                              for name, ref in step["inputs"].items()})
        entry = cache.lookup(key)
        if entry is None or entry.run_name == step["run_name"] or not entry.outputs_exist() \
                or set(entry.outputs) != set(step["outputs"]):
            return None
        outputs[step["path"]] = entry.outputs
        found[step["path"]] = (key, entry)
    return found


def _record(request: Any, body: dict[str, Any], store: RunStore, name: str,
            found: dict[str, tuple[str, CacheEntry]], reporter: Reporter | None) -> RunRecord:
    run_dir = Path(body["run_dir"])
    reporter = reporter or PlainReporter(prefix_steps=True)
    if request.store_root is None and find_store_root(Path.cwd()) != store.root:
        reporter.event("note", message=f"this run is kept in {store.root} (the job file's project), not in this "
                       f"folder's; `amlrun show {name}` finds it from any folder")
    now = time.time()
    spec_path = str(Path(request.file).resolve())
    record = RunRecord(name=name, type="pipeline", status="Running", run_dir=str(run_dir), spec_path=spec_path,
                       started=now, extra={
                           "overrides": [list(o) for o in request.overrides], "force_rerun": False,
                           "env_mode": request.env, "strict_python": request.strict_python, "only_step": None,
                           "outputs": body["outputs"], **owner_fields(), "edges": body["edges"],
                           "planned_from": "plan cache"})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.yml").write_text(body["spec"])
    shown = logged(live_or(reporter), run_dir)
    paths = [step["path"] for step in body["steps"]]
    max_parallel = max(1, request.max_parallel or os.cpu_count() or 1)
    shown.event("started", message=started_message(name, paths, max_parallel, str(run_dir)), steps=paths)
    for description, notes, steps in body["environments"]:
        shown.event("environment", message=f"environment ({', '.join(steps)}): {description}")
        for note in notes:
            shown.event("note", message=note)
    records: list[RunRecord] = []  # in the order a planned run creates them: a nested pipeline before its steps
    group_info = {path: (run_name, group_dir, parent) for path, run_name, group_dir, parent in body["groups"]}
    groups: dict[str, RunRecord] = {}
    steps: dict[str, RunRecord] = {}
    for step in body["steps"]:
        parts = step["path"].split(".")
        for group in (".".join(parts[:i]) for i in range(1, len(parts))):
            if group not in groups:
                run_name, group_dir, parent = group_info[group]
                groups[group] = RunRecord(name=run_name, type="pipeline", status="Completed", run_dir=group_dir,
                                          parent=groups[parent].name if parent else name, started=now, ended=now,
                                          extra={"step": parts[len(group.split(".")) - 1], "step_path": group})
                records.append(groups[group])
        key, earlier = found[step["path"]]
        outputs: dict[str, dict[str, str]] = {}
        for out_name, target in step["outputs"].items():
            if target is None:  # AzureML: a reused step's outputs are the earlier run's
                outputs[out_name] = dict(earlier.outputs[out_name])
            else:  # a bound or explicit path must be filled
                copy_output(Path(earlier.outputs[out_name]["path"]), Path(target))
                outputs[out_name] = {"path": target, "hash": earlier.outputs[out_name]["hash"]}
        path = step["path"]
        rec = RunRecord(name=step["run_name"], type=step["kind"], status="Reused", run_dir=step["run_dir"],
                        parent=groups[step["group"]].name if step["group"] else name, spec_path=spec_path,
                        started=now, ended=now, reused_from=earlier.run_name,
                        extra={"step": path.rsplit(".", 1)[-1], "step_path": path, "environment": step["label"],
                               "cache_key": key, "outputs": {n: o["path"] for n, o in outputs.items()},
                               "output_hashes": {n: o["hash"] for n, o in outputs.items()}})
        steps[path] = rec
        records.append(rec)
        shown.event("step", step=path, state="Reused", reused_from=earlier.run_name,
                    message=f"Reused (outputs of {earlier.run_name})")
    record.status, record.ended = "Completed", time.time()
    record.extra["experiment"] = body["experiment"]
    if store.any_extra([r.reused_from for r in steps.values() if r.reused_from], "mlflow_run_id"):
        record.extra["tracking_uri"] = body["tracking_uri"]  # Reused steps show earlier runs' MLflow values
    store.save_many([record, *records], write_json=True)
    shown.event("summary", message=summary_text(steps))
    report_outputs(shown, record.extra.get("outputs") or {})
    shown.event("finished", message=f"pipeline {name} Completed in {record.duration or 0:.1f}s")
    shown.close()
    return record


def describe(plan: Any, launcher: Any, record: RunRecord, tracking: Any) -> dict[str, Any] | None:
    """What `run_reused` needs of a planned run that ended with every step Completed or Reused; None
    when a later run could not be recorded from it alone (a step that never reuses, a remote tracking store)."""
    from amlrun.spec.azmlops import warned

    if plan.force_rerun or record.status != "Completed" or (tracking is not None and tracking.remote) or warned():
        return None
    steps = []
    for path, step in plan.steps.items():
        if not step.plan.is_deterministic or path not in launcher.static_keys \
                or launcher.records[path].status not in ("Completed", "Reused"):
            return None
        from amlrun.engine.pipeline_step import input_ref  # the planned run's module: loaded already

        steps.append({
            "path": path, "run_name": step.run_name, "run_dir": str(step.plan.run_dir), "kind": step.kind,
            "group": step.group, "label": step.plan.environment.label, "static": launcher.static_keys[path],
            "code": str(step.plan.code_dir) if step.plan.code_dir is not None else None,
            "inputs": {name: input_ref(item) for name, item in step.plan.inputs.items()},
            "outputs": {name: None if name in step.default_outputs or out.location.local_path is None
                        else str(out.location.local_path) for name, out in step.plan.outputs.items()},
        })
    environments: dict[str, list[Any]] = {}
    for path, step in plan.steps.items():
        env = step.plan.environment
        environments.setdefault(env.description, [env.description, list(env.notes), []])[2].append(path)
    run_dir = Path(record.run_dir)
    try:
        spec = (run_dir / "spec.yml").read_text()
    except OSError:
        return None
    return {
        "run_dir": str(run_dir), "spec": scrub_secrets(spec), "outputs": record.extra.get("outputs") or {},
        "edges": record.extra.get("edges") or [], "environments": list(environments.values()),
        "experiment": getattr(tracking, "experiment", None), "tracking_uri": getattr(tracking, "uri", None),
        "groups": [[path, group.run_name, str(group.run_dir), group.group] for path, group in plan.groups.items()],
        "steps": steps,
    }


def keep_plan(request: Any, store: RunStore, plan: Any, launcher: Any, record: RunRecord, tracking: Any) -> None:
    """After a planned run: keep its plan for the next run of the same job, when one could use it."""
    watch = request.plan_watch
    if watch is None or request.name is not None:  # (a generated name is what the entry can stand in for)
        return
    try:
        body = describe(plan, launcher, record, tracking)
        if body is not None:
            plan_cache.save_entry(plan_cache.entry_path(store.root, request.file), watch, record.name, body)
    except Exception:  # noqa: BLE001 - the cache only saves time: a plan it cannot keep never fails the run
        return
