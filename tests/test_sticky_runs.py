"""Runs stay alive between activations: `finally` runs once, logs appear once, several agents stay correct."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any, List

import pytest

from postgrip_agent import Agent, activity, workflow

T10 = 10
_effects: List[str] = []


@activity.defn
def step_act(i: int) -> int:
    return i


@activity.defn
def cleanup_effect(tag: str) -> str:
    _effects.append(tag)
    return tag


@workflow.defn
class WithFinally:
    @workflow.run
    def run(self):
        try:
            for i in range(3):
                workflow.logger.info("step %d", i)
                yield workflow.execute_activity(step_act, i, start_to_close_timeout=T10)
        finally:
            workflow.logger.info("cleaning up")
            yield workflow.execute_activity(cleanup_effect, "done", start_to_close_timeout=T10)
        return "ok"


@pytest.mark.parametrize("cached", [1000, 0])
def test_finally_runs_once_and_each_log_line_appears_once(
    env: Any, queue: str, cached: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    _effects.clear()
    unraisable: List[Any] = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    caplog.set_level(logging.INFO, logger="postgrip_agent.workflow")
    try:
        with Agent(
            env.client,
            task_queue=queue,
            workflows=[WithFinally],
            activities=[step_act, cleanup_effect],
            max_cached_workflows=cached,
        ):
            handle = env.client.start_workflow(WithFinally, task_queue=queue)
            assert handle.result(timeout=10) == "ok"
        gc.collect()  # abandoned generators would run their finally blocks now
    finally:
        sys.unraisablehook = previous_hook
    messages = [r.getMessage() for r in caplog.records if r.name == "postgrip_agent.workflow"]
    assert _effects == ["done"]
    for line in ("step 0", "step 1", "step 2", "cleaning up"):
        assert sum(m.startswith(line) for m in messages) == 1, (line, messages)
    record = next(r for r in caplog.records if r.getMessage().startswith("cleaning up"))
    assert record.workflow_id == handle.id and record.workflow_type == "WithFinally"  # type: ignore[attr-defined]
    assert unraisable == [] and "Exception ignored" not in capfd.readouterr().err
    scheduled = [e.attributes["activity_type"] for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled"]
    assert scheduled == ["step_act"] * 3 + ["cleanup_effect"]


@workflow.defn
class LongRun:
    @workflow.run
    def run(self, steps: int):
        total = 0
        for i in range(steps):
            total += yield workflow.execute_activity(step_act, i, start_to_close_timeout=T10)
        return total


def test_two_agents_alternating_on_a_200_step_run_give_the_right_result(env: Any, queue: str) -> None:
    # Each agent's slots are all held by its own pollers, so neither has a free slot for a task leased in an
    # answer (eager activities, the hand-back of the woken workflow task): every task goes through the queue,
    # and the run alternates between the agents.
    slots = dict(max_concurrent_workflow_tasks=2, max_concurrent_activities=2, pollers_per_kind=2)
    first = Agent(env.client, task_queue=queue, workflows=[LongRun], activities=[step_act], identity="sticky-a", **slots)
    second = Agent(env.client, task_queue=queue, workflows=[LongRun], activities=[step_act], identity="sticky-b", **slots)
    with first, second:
        assert env.client.execute_workflow(LongRun, 200, task_queue=queue, timeout=60) == sum(range(200))
    caches = [first._workflow_runner.cache, second._workflow_runner.cache]
    hits, misses = sum(c.hits for c in caches), sum(c.misses for c in caches)
    served = {t.agent_id for t in env.client.task.list(queue=queue, type="activity:step_act")}
    assert served == {"sticky-a", "sticky-b"}  # both agents really took part
    assert hits + misses >= 200
    print(f"cache hits {hits}, misses {misses}, hit ratio {hits / (hits + misses):.2f} with 2 agents")


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.count = 0
        workflow.set_handler(workflow.define_signal("bump"), self.bump)
        workflow.set_handler(workflow.define_query("count"), lambda: self.count)

    def bump(self) -> None:
        self.count += 1

    @workflow.run
    def run(self):
        yield workflow.condition(lambda: self.count >= 3)
        return self.count


def test_a_query_is_answered_from_the_live_instance_without_replay(env: Any, queue: str) -> None:
    agent = Agent(env.client, task_queue=queue, workflows=[Counter])
    with agent:
        handle = env.client.start_workflow(Counter, task_queue=queue)
        handle.signal("bump")
        from .conftest import wait_for

        wait_for(lambda: handle.query("count") == 1)
        answered_live = agent._workflow_runner.live_queries
        assert handle.query("count") == 1 and agent._workflow_runner.live_queries == answered_live + 1
        handle.signal("bump")
        handle.signal("bump")
        assert handle.result(timeout=10) == 3
