"""WorkflowEnvironment.start_time_skipping(): days of workflow time in well under a second of wall
time, with workflow.now() moved accordingly."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Iterator, List

import pytest

from postgrip_agent import Agent, RetryPolicy, activity, workflow
from postgrip_agent.testing import WorkflowEnvironment

_attempts: List[int] = []


@activity.defn
def flaky() -> int:
    attempt = activity.info().attempt
    _attempts.append(attempt)
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@workflow.defn
class Month:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        began = workflow.now()
        yield workflow.sleep(timedelta(days=30))
        return (workflow.now() - began).total_seconds()


@workflow.defn
class RaceAgainstSignal:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        began = workflow.now()
        approved = yield workflow.condition(lambda: self.approved, timeout=timedelta(days=1))
        return ["approved" if approved else "timed out", (workflow.now() - began).total_seconds()]

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


@workflow.defn
class Retried:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        began = workflow.now()
        attempt = yield workflow.execute_activity(
            flaky, start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1), backoff_coefficient=1.0, maximum_attempts=5))
        return [attempt, (workflow.now() - began).total_seconds()]


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment.start_time_skipping() as environment:
        yield environment


def _run(env: WorkflowEnvironment, workflow_class: Any, queue: str) -> Any:
    with Agent(env.client, task_queue=queue, workflows=[workflow_class], activities=[flaky]):
        begun = time.monotonic()
        result = env.client.execute_workflow(workflow_class, task_queue=queue, timeout=20)
        return result, time.monotonic() - begun


def test_a_thirty_day_sleep_takes_well_under_a_second(env: WorkflowEnvironment) -> None:
    waited, wall = _run(env, Month, "month")
    assert waited >= 30 * 86400 and wall < 1.0


def test_a_one_day_timer_races_a_signal(env: WorkflowEnvironment) -> None:
    (outcome, waited), wall = _run(env, RaceAgainstSignal, "race")
    assert outcome == "timed out" and waited >= 86400 and wall < 1.0
    with Agent(env.client, task_queue="race-2", workflows=[RaceAgainstSignal]):
        # the signal wins when it comes before the day is out (sent with the start, so no skip can come between)
        handle = env.client.workflow.signal_with_start(RaceAgainstSignal, signal="approve", id="race-approved",
                                                       task_queue="race-2")
        outcome, waited = handle.result(timeout=20)
    assert outcome == "approved" and waited < 86400


def test_an_activity_retried_with_an_hour_of_backoff(env: WorkflowEnvironment) -> None:
    _attempts.clear()
    (attempt, waited), wall = _run(env, Retried, "retried")
    assert attempt == 3 and _attempts == [1, 2, 3]
    assert waited >= 2 * 3600 and wall < 1.0


def test_sleep_moves_the_clock_by_hand(env: WorkflowEnvironment) -> None:
    before = env.server.clock.now()
    env.sleep(timedelta(hours=5))
    assert env.server.clock.now() - before == pytest.approx(5 * 3600)
    with WorkflowEnvironment.start_local() as real:
        with pytest.raises(TypeError, match="start_time_skipping"):
            real.sleep(1)
