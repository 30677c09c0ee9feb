"""Activity helpers from the activity's own thread, async activities, and the Agent lifecycle."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, Dict, List

import attrs
import pytest

from postgrip_agent import Agent, activity, workflow

T10 = timedelta(seconds=10)
_infos: List[Dict[str, Any]] = []


@activity.defn
def chatty(n: int) -> str:
    info = activity.info()
    _infos.append(
        {
            "type": info.activity_type,
            "attempt": info.attempt,
            "workflow": info.workflow_id,
            "thread": threading.current_thread().name,
        }
    )
    activity.stdout("starting\n")
    activity.milestone("half", index=1, total=2)
    activity.heartbeat({"progress": 50})
    activity.stderr("careful\n", stage="work")
    return f"done {n}"


@activity.defn(name="async_double")
async def async_double(n: int) -> int:
    await activity.heartbeat()
    await activity.stdout(f"doubling {n}\n")
    return n * 2


@workflow.defn
class UsesActivities:
    @workflow.run
    async def run(self, n: int) -> List[Any]:
        text = await workflow.execute_activity(chatty, n, start_to_close_timeout=T10)
        doubled = await workflow.execute_activity("async_double", n, start_to_close_timeout=T10)
        return [text, doubled]


def test_activity_helpers_and_async_activities(env: Any, queue: str) -> None:
    _infos.clear()
    with Agent(env.client, task_queue=queue, workflows=[UsesActivities], activities=[chatty, async_double]):
        handle = env.client.start_workflow(UsesActivities, 21, id="helpers", task_queue=queue)
        assert handle.result(timeout=10) == ["done 21", 42]
    assert _infos == [{"type": "chatty", "attempt": 1, "workflow": "helpers", "thread": _infos[0]["thread"]}]
    assert _infos[0]["thread"].startswith("postgrip-activity")
    scheduled = [e.task_id for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled"]
    kinds = [(e.kind, e.data or (e.details or {}).get("name")) for e in env.client.task.events(scheduled[0])]
    assert ("stdout", "starting\n") in kinds and ("milestone", "half") in kinds and ("stderr", "careful\n") in kinds
    heartbeat = [e for e in env.client.task.events(scheduled[0]) if e.kind == "heartbeat" and e.details]
    assert heartbeat[0].details == {"progress": 50}
    async_events = [e.data for e in env.client.task.events(scheduled[1]) if e.kind == "stdout"]
    assert async_events == ["doubling 21\n"]


def test_run_blocks_until_shutdown_from_another_thread(env: Any, queue: str) -> None:
    agent = Agent(env.client, task_queue=queue, workflows=[UsesActivities], activities=[chatty, async_double])
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        assert env.client.execute_workflow(UsesActivities, 1, task_queue=queue, timeout=10) == ["done 1", 2]
        assert runner.is_alive()
    finally:
        begun = time.monotonic()
        agent.shutdown(timeout=5)
        runner.join(5)
    assert not runner.is_alive()
    assert time.monotonic() - begun < 3


def test_activity_helpers_outside_an_activity_explain_themselves() -> None:
    with pytest.raises(RuntimeError, match="inside an activity"):
        activity.heartbeat()
    with pytest.raises(RuntimeError, match="inside a workflow"):
        workflow.now()


@attrs.define
class Parcel:
    weight: float
    to: str


@activity.defn
def label(parcel: Parcel, copies: int) -> str:
    assert isinstance(parcel, Parcel)
    return f"{copies}x {parcel.to} ({parcel.weight} kg)"


@workflow.defn
class Ships:
    @workflow.run
    def run(self, parcel: Parcel):
        assert isinstance(parcel, Parcel)
        text = yield workflow.execute_activity(label, parcel, 2, start_to_close_timeout=T10)
        return text


def test_typed_arguments_are_structured_for_workflows_and_activities(env: Any, queue: str) -> None:
    from postgrip_agent import WorkflowFailureError

    with Agent(env.client, task_queue=queue, workflows=[Ships], activities=[label]):
        assert env.client.execute_workflow(Ships, Parcel(2.5, "Berlin"), task_queue=queue, timeout=10) == "2x Berlin (2.5 kg)"
        bad = env.client.start_workflow(Ships, {"weight": "heavy"}, task_queue=queue)
        with pytest.raises(WorkflowFailureError, match="does not fit Parcel"):
            bad.result(timeout=10)
