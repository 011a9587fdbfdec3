"""The pipeline scheduler as a pure state machine: which steps may start, what a result implies.

It knows nothing about processes, threads or records. An executor asks `ready()` for steps it may
start, reports `started()` and `finished()`, and stops when `is_done`. A failed step skips
everything downstream of it; with `continue_on_failure=False` (AzureML's
`continue_on_step_failure: false`) a failure also cancels every step not started yet, and the
executor is told to stop the running ones (`should_stop_running`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["FINISHED_OK", "Scheduler", "overall_status"]

PENDING = "NotStarted"
RUNNING = "Running"
FINISHED_OK = frozenset({"Completed", "Reused"})
_TERMINAL = FINISHED_OK | {"Failed", "Skipped", "Canceled"}


class Scheduler:
    """Step states of one pipeline run. `deps` maps each step to the steps whose outputs it reads.

    `already` gives terminal states known before this execution (resume: finished steps).
    Steps are offered in the order `deps` lists them (the YAML's order), so runs are predictable.
    """

    def __init__(self, deps: Mapping[str, Iterable[str]], continue_on_failure: bool = True,
                 already: Mapping[str, str] | None = None) -> None:
        self.deps = {name: set(d) for name, d in deps.items()}
        unknown = {d for ds in self.deps.values() for d in ds} - set(self.deps)
        if unknown:
            raise ValueError(f"dependencies on unknown steps: {sorted(unknown)}")
        self.dependants: dict[str, set[str]] = {name: set() for name in self.deps}
        for name, ds in self.deps.items():
            for d in ds:
                self.dependants[d].add(name)
        self.continue_on_failure = continue_on_failure
        self.states: dict[str, str] = {name: PENDING for name in self.deps}
        self.reasons: dict[str, str] = {}
        self.should_stop_running = False
        for name, state in (already or {}).items():
            if name in self.states and state in _TERMINAL:
                self.states[name] = state
        # Kept as steps change state, so that a 200-step pipeline does not rescan every step per event.
        self._order = {name: i for i, name in enumerate(self.deps)}
        self._waiting = {name: sum(self.states[d] not in FINISHED_OK for d in ds) for name, ds in self.deps.items()}
        self._ready = {name for name, state in self.states.items() if state == PENDING and not self._waiting[name]}
        self._running: set[str] = set()

    def ready(self) -> list[str]:
        """Steps not started whose upstream steps all finished well, in the order `deps` lists them."""
        if self.should_stop_running:
            return []
        return sorted(self._ready, key=self._order.__getitem__)

    def started(self, name: str) -> None:
        if self.states[name] != PENDING:
            raise ValueError(f"step {name} cannot start from state {self.states[name]}")
        self._set(name, RUNNING)

    def _set(self, name: str, state: str) -> None:
        before = self.states[name]
        self.states[name] = state
        self._ready.discard(name)
        self._running.discard(name)
        if state == RUNNING:
            self._running.add(name)
        if state in FINISHED_OK and before not in FINISHED_OK:
            for after in self.dependants[name]:
                self._waiting[after] -= 1
                if not self._waiting[after] and self.states[after] == PENDING:
                    self._ready.add(after)

    def finished(self, name: str, status: str) -> list[str]:
        """Record a step's result; returns the steps this made Skipped or Canceled."""
        if status not in _TERMINAL:
            raise ValueError(f"{status!r} is not a terminal state")
        self._set(name, status)
        if status in FINISHED_OK:
            return []
        changed = self._skip_downstream(name)
        if status == "Failed" and not self.continue_on_failure:
            self.should_stop_running = True
            changed += self.cancel_pending(f"canceled: step {name} failed and continue_on_step_failure is false")
        return changed

    def cancel_pending(self, reason: str = "canceled") -> list[str]:
        """Mark every step not started as Canceled (Ctrl-C, fail-fast)."""
        canceled = [name for name, state in self.states.items() if state == PENDING]
        for name in canceled:
            self._set(name, "Canceled")
            self.reasons[name] = reason
        return canceled

    def _skip_downstream(self, failed: str) -> list[str]:
        skipped: list[str] = []
        todo = list(self.dependants[failed])
        while todo:
            name = todo.pop()
            if self.states[name] != PENDING:
                continue
            self._set(name, "Skipped")
            self.reasons[name] = f"skipped: upstream step {failed} did not finish"
            skipped.append(name)
            todo.extend(self.dependants[name])
        return skipped

    @property
    def running(self) -> list[str]:
        return sorted(self._running, key=self._order.__getitem__)

    @property
    def is_done(self) -> bool:
        """Nothing runs and nothing more can start."""
        return not self.running and not self.ready()

    def outcome(self) -> str:
        return overall_status(self.states.values())


def overall_status(states: Iterable[str]) -> str:
    """A pipeline's status from its steps': Failed beats Canceled beats Completed."""
    values = set(states)
    if "Failed" in values:
        return "Failed"
    if values & {"Canceled", "Skipped", PENDING, RUNNING}:
        return "Canceled"
    return "Completed"
