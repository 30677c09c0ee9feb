"""ActivityEnvironment: an activity called directly, its heartbeats, milestones, output and a cancellation captured."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from postgrip_agent import CancelledFailure, activity
from postgrip_agent.testing import ActivityEnvironment


@activity.defn(name="resize-images")
def resize(paths: list) -> int:
    done = 0
    for index, path in enumerate(paths, start=1):
        activity.heartbeat({"done": done})
        activity.stdout(f"resizing {path}\n")
        done += 1
        activity.milestone("resized", index=index, total=len(paths))
    activity.stderr("no errors\n")
    return done


def test_heartbeats_milestones_and_output_are_captured() -> None:
    env = ActivityEnvironment(attempt=2)
    assert env.run(resize, ["a.png", "b.png"]) == 2
    assert env.heartbeats == [{"done": 0}, {"done": 1}]
    assert [(m["index"], m["total"], m["name"]) for m in env.milestones] == [(1, 2, "resized"), (2, 2, "resized")]
    assert env.stdout == ["resizing a.png\n", "resizing b.png\n"] and env.stderr == ["no errors\n"]


@activity.defn
def reports_info() -> Dict[str, Any]:
    info = activity.info()
    return {"type": info.activity_type, "attempt": info.attempt, "cancelled": activity.is_cancelled()}


def test_info_is_the_test_context() -> None:
    assert ActivityEnvironment(attempt=3).run(reports_info) == {"type": "reports_info", "attempt": 3, "cancelled": False}
    assert ActivityEnvironment(activity_type="given").run(reports_info)["type"] == "given"


@activity.defn
def long_job(steps: int) -> int:
    for step in range(steps):
        try:
            activity.heartbeat({"step": step})
        except CancelledFailure:
            activity.stdout(f"cleaned up at step {step}\n")
            raise
    return steps


def test_a_cancellation_reaches_the_next_heartbeat() -> None:
    def cancel_at_third(details: Optional[Dict[str, Any]]) -> None:
        if details == {"step": 2}:
            env.cancel("the order was withdrawn")

    env = ActivityEnvironment(on_heartbeat=cancel_at_third)
    with pytest.raises(CancelledFailure, match="the order was withdrawn"):
        env.run(long_job, 10)
    assert env.heartbeats == [{"step": 0}, {"step": 1}, {"step": 2}] and env.stdout == ["cleaned up at step 2\n"]


@activity.defn
async def async_double(value: int) -> int:
    await activity.heartbeat()
    return value * 2


def test_an_async_activity_runs_to_its_end() -> None:
    env = ActivityEnvironment()
    assert env.run(async_double, 21) == 42 and env.heartbeats == [None]
