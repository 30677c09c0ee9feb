"""Replay issues commands in the order history recorded them: asyncio helpers that put
awaitables in sets stay deterministic, and a replayed command with other arguments is noticed."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, List, Tuple

import pytest

from postgrip_agent import Agent, ApplicationFailure, activity, workflow
from postgrip_agent.history import WorkflowHistory
from postgrip_agent.replayer import Replayer


@activity.defn(name="order_double")
def double(x: int) -> int:
    return 2 * x


@workflow.defn(name="AsCompletedPairs")
class AsCompletedPairs:
    @workflow.run
    async def run(self, n: int) -> List[Tuple[int, int]]:
        async def one(i: int) -> Tuple[int, int]:
            return i, await workflow.execute_activity(double, i, start_to_close_timeout=timedelta(seconds=10))

        pairs = []
        for finished in asyncio.as_completed([one(i) for i in range(n)]):
            pairs.append(tuple(await finished))
        return pairs


def test_as_completed_over_coroutines_replays_in_the_same_order(env: Any, queue: str) -> None:
    # no cache: every activation replays from history, so a reordering would pair wrong results
    with Agent(env.client, task_queue=queue, workflows=[AsCompletedPairs], activities=[double], max_cached_workflows=0):
        handles = [env.client.start_workflow(AsCompletedPairs, 6, task_queue=queue) for _ in range(10)]
        results = [h.result(timeout=30) for h in handles]
    for pairs in results:
        assert sorted(i for i, _ in pairs) == list(range(6))
        assert all(result == 2 * i for i, result in pairs), pairs


def _swap_first_two_activity_arguments(history: WorkflowHistory) -> WorkflowHistory:
    raw = history.to_json()
    scheduled = [e for e in raw["events"] if e["type"] == "ActivityTaskScheduled"]
    assert len(scheduled) >= 2 and scheduled[0]["attributes"]["args"] != scheduled[1]["attributes"]["args"]
    scheduled[0]["attributes"]["args"], scheduled[1]["attributes"]["args"] = (
        scheduled[1]["attributes"]["args"],
        scheduled[0]["attributes"]["args"],
    )
    return WorkflowHistory.from_json(json.dumps(raw))


def test_a_strict_replayer_refuses_like_commands_in_another_order(env: Any, queue: str, caplog: pytest.LogCaptureFixture) -> None:
    with Agent(env.client, task_queue=queue, workflows=[AsCompletedPairs], activities=[double]):
        handle = env.client.start_workflow(AsCompletedPairs, 3, task_queue=queue)
        handle.result(timeout=30)
    history = handle.fetch_history()
    assert Replayer(workflows=[AsCompletedPairs], strict=True).replay_workflow(history).error is None
    reordered = _swap_first_two_activity_arguments(history)
    with pytest.raises(ApplicationFailure) as caught:
        Replayer(workflows=[AsCompletedPairs], strict=True).replay_workflow(reordered)
    assert caught.value.type == "DeterminismViolation"
    assert "command #1" in str(caught.value) and "other arguments" in str(caught.value)
    caplog.set_level(logging.WARNING, logger="postgrip_agent.workflow")
    assert Replayer(workflows=[AsCompletedPairs]).replay_workflow(reordered).error is None  # lenient: a warning
    assert any("other arguments than history recorded" in r.getMessage() for r in caplog.records)


def test_histories_without_recorded_arguments_still_replay(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[AsCompletedPairs], activities=[double]):
        handle = env.client.start_workflow(AsCompletedPairs, 2, task_queue=queue)
        handle.result(timeout=30)
    raw = handle.fetch_history().to_json()
    for event in raw["events"]:
        event["attributes"].pop("args", None) if event["type"] == "ActivityTaskScheduled" else None
    stripped = WorkflowHistory.from_json(json.dumps(raw))
    assert Replayer(workflows=[AsCompletedPairs], strict=True).replay_workflow(stripped).error is None


@workflow.defn(name="OrderChild")
class OrderChild:
    @workflow.run
    def run(self, x: int):  # type: ignore[no-untyped-def]
        return x
        yield  # a generator body


@workflow.defn(name="OrderParent")
class OrderParent:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        result = yield workflow.execute_child(OrderChild, 7)
        return result


def test_a_strict_replayer_compares_a_childs_arguments(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[OrderParent, OrderChild]):
        handle = env.client.start_workflow(OrderParent, task_queue=queue)
        assert handle.result(timeout=30) == 7
    raw = handle.fetch_history().to_json()
    started = [e for e in raw["events"] if e["type"] == "ChildWorkflowExecutionStarted"]
    assert started and started[0]["attributes"]["args"] == [7]
    assert (
        Replayer(workflows=[OrderParent, OrderChild], strict=True)
        .replay_workflow(WorkflowHistory.from_json(json.dumps(raw)))
        .error
        is None
    )
    started[0]["attributes"]["args"] = [8]
    with pytest.raises(ApplicationFailure, match="other arguments"):
        Replayer(workflows=[OrderParent, OrderChild], strict=True).replay_workflow(WorkflowHistory.from_json(json.dumps(raw)))
