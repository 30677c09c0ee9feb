"""WorkflowEnvironment.start_time_skipping(): days of workflow time in well under a second of wall
time, with workflow.now() moved accordingly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, Iterator, List

import pytest

from postgrip_agent import ActivityError, Agent, RetryPolicy, activity, workflow
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
            flaky,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1), backoff_coefficient=1.0, maximum_attempts=5),
        )
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
        handle = env.client.workflow.signal_with_start(
            RaceAgainstSignal, signal="approve", id="race-approved", task_queue="race-2"
        )
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


_release = threading.Event()


@activity.defn
def stuck(heartbeat_first: bool) -> str:
    if heartbeat_first:
        activity.heartbeat({"alive": "once"})
    _release.wait(20)  # overruns every timeout below; let go when the test ends
    return "finished"


@workflow.defn
class Overrun:
    @workflow.run
    def run(self, kind: str):  # type: ignore[no-untyped-def]
        timeouts = {
            "start_to_close": {"start_to_close_timeout": timedelta(seconds=1)},
            "schedule_to_close": {"schedule_to_close_timeout": timedelta(milliseconds=1500)},
            "heartbeat": {"start_to_close_timeout": timedelta(minutes=5), "heartbeat_timeout": timedelta(seconds=1)},
        }[kind]
        try:
            yield workflow.execute_activity(stuck, kind == "heartbeat", retry_policy=RetryPolicy(maximum_attempts=1), **timeouts)
        except ActivityError as err:
            return getattr(err.cause, "timeout_type", repr(err.cause))
        return "no timeout"


@pytest.mark.parametrize(
    "kind,expected",
    [("start_to_close", "START_TO_CLOSE"), ("schedule_to_close", "SCHEDULE_TO_CLOSE"), ("heartbeat", "HEARTBEAT")],
)
def test_activity_timeouts_fire_under_time_skipping(env: WorkflowEnvironment, kind: str, expected: str) -> None:
    _release.clear()
    with Agent(env.client, task_queue=f"overrun-{kind}", workflows=[Overrun], activities=[stuck]):
        begun = time.monotonic()
        try:
            outcome = env.client.execute_workflow(Overrun, kind, task_queue=f"overrun-{kind}", timeout=15)
        finally:
            _release.set()  # the overrunning attempt may end now (its result is no longer wanted)
        wall = time.monotonic() - begun
    assert outcome == expected
    assert wall < 8.0, f"the {kind} timeout took {wall:.1f}s of wall time"
