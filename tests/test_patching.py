"""``workflow.patched`` / ``deprecate_patch``: new code while runs of the old code are in flight.

A run started under the old code is blocked mid-way; the agent is replaced by one running the
patched code. That run replays and takes the old branch (its history went past the patch point
without a marker); a run started under the new code records the marker and takes the new branch,
on every replay too. Then the patch is deprecated, and finally the call is deleted: the run that
recorded the marker still replays. Both with the ``markers`` extension (a ``MarkerRecorded``
event) and without it (a zero-length timer names the marker), and with the agent's run cache off
so every activation replays the whole history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator, List

import pytest

from postgrip_agent import Agent, activity, workflow
from postgrip_agent.testing import WorkflowEnvironment

from .conftest import wait_for

T10 = timedelta(seconds=10)


@activity.defn
def step(name: str) -> str:
    return name


def _define(version: str) -> Any:
    """The workflow ``Greeter`` as each deployment's code has it."""

    @workflow.defn(name="Greeter")
    class Greeter:
        def __init__(self) -> None:
            self.go = False

        @workflow.run
        def run(self):  # type: ignore[no-untyped-def]
            done: List[str] = []
            if version == "old":
                done.append((yield workflow.execute_activity(step, "old greeting", start_to_close_timeout=T10)))
            elif version == "patched":
                if workflow.patched("friendlier"):
                    done.append((yield workflow.execute_activity(step, "new greeting", start_to_close_timeout=T10)))
                else:
                    done.append((yield workflow.execute_activity(step, "old greeting", start_to_close_timeout=T10)))
            elif version == "deprecated":
                workflow.deprecate_patch("friendlier")
                done.append((yield workflow.execute_activity(step, "new greeting", start_to_close_timeout=T10)))
            else:  # the call removed
                done.append((yield workflow.execute_activity(step, "new greeting", start_to_close_timeout=T10)))
            yield workflow.condition(lambda: self.go)
            done.append((yield workflow.execute_activity(step, "goodbye", start_to_close_timeout=T10)))
            return done

        @workflow.signal
        def release(self) -> None:
            self.go = True

        @workflow.query
        def patched_here(self) -> bool:
            return workflow.patched("friendlier")

    return Greeter


@pytest.fixture(params=[True, False], ids=["marker-event", "timer-marker"])
def env(request: Any) -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment.start_local(round_trip_extensions=request.param) as environment:
        yield environment


def _run(env: WorkflowEnvironment, version: str, workflow_id: str) -> Any:
    with Agent(env.client, task_queue="patching", workflows=[_define(version)], activities=[step], max_cached_workflows=0):
        handle = env.client.start_workflow("Greeter", id=workflow_id, task_queue="patching")
        wait_for(
            lambda: (
                sum(e.type == "ActivityTaskCompleted" for e in handle.fetch_history().events) == 1
                and env.client.task.get(handle.task_id).state == "blocked"
            )
        )  # waiting for the signal
    return handle


def _finish(env: WorkflowEnvironment, version: str, *handles: Any) -> List[Any]:
    with Agent(env.client, task_queue="patching", workflows=[_define(version)], activities=[step], max_cached_workflows=0):
        for handle in handles:
            handle.signal("release")
        return [handle.result(timeout=10) for handle in handles]


def _markers(handle: Any) -> List[Any]:
    return [
        e.attributes.get("marker_name") or e.attributes.get("timer_id", "").split(":marker:")[-1]
        for e in handle.fetch_history().events
        if e.type == "MarkerRecorded" or (e.type == "TimerStarted" and ":marker:" in e.attributes.get("timer_id", ""))
    ]


def test_patched_keeps_old_runs_on_the_old_branch_and_new_runs_on_the_new(env: WorkflowEnvironment) -> None:
    before = _run(env, "old", "recorded-before")
    after = _run(env, "patched", "recorded-after")
    assert _markers(before) == [] and _markers(after) == ["patch:friendlier"]
    uses_events = "markers" in (env.client.connection.extensions or ())
    assert any(e.type == "MarkerRecorded" for e in after.fetch_history().events) == uses_events
    assert _finish(env, "patched", before, after) == [["old greeting", "goodbye"], ["new greeting", "goodbye"]]
    assert _markers(after) == ["patch:friendlier"]  # recorded once, not on every replay


def test_a_deprecated_patch_and_then_no_call_at_all_still_replay_runs_that_recorded_it(env: WorkflowEnvironment) -> None:
    recorded = _run(env, "patched", "has-marker")
    deprecated = _run(env, "deprecated", "deprecated-marker")
    assert _markers(deprecated) == ["patch:friendlier"]  # so agents still on `patched` code replay it right
    removed = _run(env, "removed", "no-marker")
    assert _finish(env, "removed", recorded, deprecated, removed) == [["new greeting", "goodbye"]] * 3


def test_patched_code_replays_a_run_of_deprecated_code_on_the_new_branch(env: WorkflowEnvironment) -> None:
    deprecated = _run(env, "deprecated", "from-deprecated")
    assert _finish(env, "patched", deprecated) == [["new greeting", "goodbye"]]


def test_a_finished_run_queried_by_replay_reports_the_branch_it_took(env: WorkflowEnvironment) -> None:
    before = _run(env, "old", "old-finished")
    after = _run(env, "patched", "new-finished")
    _finish(env, "patched", before, after)
    with Agent(env.client, task_queue="patching", workflows=[_define("patched")], activities=[step]):
        assert [before.query("patched_here"), after.query("patched_here")] == [False, True]
