"""The scheduler state machine alone: what may start, what a failure skips or cancels."""

from __future__ import annotations

import pytest

from amlrun.engine.scheduler import Scheduler

DIAMOND = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}


def test_diamond_offers_independent_steps_together() -> None:
    s = Scheduler(DIAMOND)
    assert s.ready() == ["a"]
    s.started("a")
    assert s.ready() == []
    s.finished("a", "Completed")
    assert s.ready() == ["b", "c"]
    s.started("b")
    s.started("c")
    s.finished("b", "Reused")
    assert s.ready() == []  # d still waits for c
    s.finished("c", "Completed")
    assert s.ready() == ["d"]
    s.started("d")
    s.finished("d", "Completed")
    assert s.is_done and s.outcome() == "Completed"


def test_failure_skips_downstream_and_lets_siblings_finish() -> None:
    s = Scheduler({**DIAMOND, "e": {"c"}})
    s.started("a")
    s.finished("a", "Completed")
    s.started("b")
    s.started("c")
    assert s.finished("b", "Failed") == ["d"]
    assert s.states["d"] == "Skipped" and not s.should_stop_running
    s.finished("c", "Completed")
    assert s.ready() == ["e"]
    s.started("e")
    s.finished("e", "Completed")
    assert s.is_done and s.outcome() == "Failed"


def test_fail_fast_cancels_what_has_not_started() -> None:
    s = Scheduler({"a": set(), "b": set(), "c": set(), "d": {"a"}}, continue_on_failure=False)
    s.started("a")
    s.started("b")
    changed = s.finished("a", "Failed")
    assert set(changed) == {"c", "d"}
    assert s.states["d"] == "Skipped" and s.states["c"] == "Canceled"
    assert s.should_stop_running and s.ready() == [] and not s.is_done
    s.finished("b", "Canceled")
    assert s.is_done and s.outcome() == "Failed"


def test_resume_starts_from_known_results() -> None:
    s = Scheduler(DIAMOND, already={"a": "Completed", "b": "Completed"})
    assert s.ready() == ["c"]


def test_unknown_dependency_and_bad_transitions_are_refused() -> None:
    with pytest.raises(ValueError):
        Scheduler({"a": {"ghost"}})
    s = Scheduler({"a": set()})
    with pytest.raises(ValueError):
        s.finished("a", "Running")
    s.started("a")
    with pytest.raises(ValueError):
        s.started("a")


def test_cancel_pending_is_canceled_not_failed() -> None:
    s = Scheduler(DIAMOND)
    s.started("a")
    assert s.cancel_pending() == ["b", "c", "d"]
    s.finished("a", "Canceled")
    assert s.outcome() == "Canceled"
