"""Workflows and activities end to end: real Agent threads, real HTTP, a LocalServer."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, List

import pytest

from postgrip_agent import Agent, ApplicationFailure, RetryPolicy, WorkflowFailureError, activity, workflow

from .conftest import postgres_db

T10 = timedelta(seconds=10)


@pytest.fixture(
    params=[(True, "http", "sqlite"), (False, "http", "sqlite"), (True, "in-process", "sqlite"), (True, "http", "postgres")],
    ids=["with-extensions", "contract-only", "in-process", "postgres"],
)
def env(request: pytest.FixtureRequest) -> Any:
    """Every test here runs four times: against our service's round-trip extensions, against a
    service that offers only the contract (the SDK's fallback paths), through the in-process
    transport (no socket) instead of loopback HTTP, and on the PostgreSQL store."""
    from postgrip_agent.testing import WorkflowEnvironment

    extensions, transport, store = request.param
    databases = postgres_db() if store == "postgres" else iter([":memory:"])
    db = next(databases)
    with WorkflowEnvironment.start_local(round_trip_extensions=extensions, transport=transport, db=db) as environment:
        yield environment
    next(databases, None)  # drops the test's schema


@activity.defn
def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
def add(a: int, b: int) -> int:
    return a + b


@activity.defn
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@workflow.defn
class GeneratorHello:
    @workflow.run
    def run(self, name: str):
        greeting = yield workflow.execute_activity(greet, name, start_to_close_timeout=T10)
        return greeting


@workflow.defn
class AsyncHello:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=T10)


@workflow.defn
def plain_hello(name: str) -> str:
    return f"plain {name}"


@workflow.defn
class Sequential:
    @workflow.run
    def run(self, n: int):
        total = 0
        for i in range(n):
            total = yield workflow.execute_activity(add, total, i, start_to_close_timeout=T10)
        return total


@workflow.defn
class FanOut:
    @workflow.run
    def run(self, n: int):
        futures = [workflow.execute_activity(add, i, i, start_to_close_timeout=T10) for i in range(n)]
        results = yield workflow.wait_all(*futures)
        return results


@workflow.defn
class Race:
    @workflow.run
    def run(self):
        slow = workflow.execute_activity(nap, 1.0, start_to_close_timeout=T10)
        fast = workflow.execute_activity(nap, 0.01, start_to_close_timeout=T10)
        first = yield workflow.wait_any(slow, fast)
        return "fast" if first is fast else "slow"


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, ms: int) -> List[str]:
        before = workflow.now()
        await workflow.sleep(timedelta(milliseconds=ms))
        after = workflow.now()
        return [before.isoformat(), after.isoformat()]


@workflow.defn
class Child:
    @workflow.run
    def run(self, x: int):
        doubled = yield workflow.execute_activity(add, x, x, start_to_close_timeout=T10)
        return doubled


@workflow.defn
class Parent:
    @workflow.run
    def run(self, x: int):
        child = yield workflow.execute_child(Child, x)
        return child + 1


@workflow.defn
class Countdown:
    @workflow.run
    def run(self, n: int):
        if n == 0:
            return "liftoff"
        yield workflow.execute_activity(add, n, 0, start_to_close_timeout=T10)
        workflow.continue_as_new(n - 1)


def test_hello_in_generator_async_and_plain_styles(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[GeneratorHello, AsyncHello, plain_hello], activities=[greet]):
        assert env.client.execute_workflow(GeneratorHello, "gen", task_queue=queue, timeout=10) == "Hello, gen!"
        assert env.client.execute_workflow(AsyncHello, "async", task_queue=queue, timeout=10) == "Hello, async!"
        assert env.client.execute_workflow(plain_hello, "fn", task_queue=queue, timeout=10) == "plain fn"


def test_twenty_sequential_activities(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Sequential], activities=[add]):
        handle = env.client.start_workflow(Sequential, 20, task_queue=queue)
        assert handle.result(timeout=30) == sum(range(20))
        scheduled = [e for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled"]
        assert len(scheduled) == 20


def test_fan_out_of_fifty_with_wait_all(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[FanOut], activities=[add]):
        assert env.client.execute_workflow(FanOut, 50, task_queue=queue, timeout=30) == [2 * i for i in range(50)]


def test_wait_any_returns_the_first_to_finish(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Race], activities=[nap]):
        assert env.client.execute_workflow(Race, task_queue=queue, timeout=10) == "fast"


def test_short_timer_advances_workflow_now(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Sleeper], activities=[greet]):
        before, after = env.client.execute_workflow(Sleeper, 100, task_queue=queue, timeout=10)
        assert after > before


def test_child_workflow(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Parent, Child], activities=[add]):
        handle = env.client.start_workflow(Parent, 21, task_queue=queue)
        assert handle.result(timeout=10) == 43
        types = [e.type for e in handle.fetch_history().events]
        assert "ChildWorkflowExecutionStarted" in types and "ChildWorkflowExecutionCompleted" in types


def test_continue_as_new_chain_result_follows_to_the_last_run(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Countdown], activities=[add]):
        handle = env.client.start_workflow(Countdown, 3, id="countdown", task_queue=queue)
        assert handle.result(timeout=20) == "liftoff"
        runs = list(env.client.list_workflows(workflow_id="countdown"))
        assert [r.state for r in runs] == ["succeeded"] + ["continued_as_new"] * 3  # newest first
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(follow_runs=False, timeout=5)
        assert caught.value.status == "continued_as_new"


_flaky_calls = {"n": 0}


@activity.defn
def flaky() -> str:
    _flaky_calls["n"] += 1
    if _flaky_calls["n"] < 3:
        raise RuntimeError(f"transient failure {_flaky_calls['n']}")
    return "finally"


@activity.defn
def declines(amount: int) -> None:
    raise ApplicationFailure("card declined", {"amount": amount}, type="CardDeclined", non_retryable=True)


@workflow.defn
class Retrying:
    @workflow.run
    def run(self):
        policy = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=5)
        value = yield workflow.execute_activity(flaky, start_to_close_timeout=T10, retry_policy=policy)
        return value


@workflow.defn
class CatchesDecline:
    @workflow.run
    def run(self):
        try:
            yield workflow.execute_activity(declines, 5, start_to_close_timeout=T10)
        except ApplicationFailure as failure:
            return {"type": failure.type, "details": failure.details, "non_retryable": failure.non_retryable}
        return "not reached"


@workflow.defn
class Uncaught:
    @workflow.run
    def run(self):
        yield workflow.execute_activity(declines, 7, start_to_close_timeout=T10)


def test_activity_retried_then_succeeding(env: Any, queue: str) -> None:
    _flaky_calls["n"] = 0
    with Agent(env.client, task_queue=queue, workflows=[Retrying], activities=[flaky]):
        handle = env.client.start_workflow(Retrying, task_queue=queue)
        assert handle.result(timeout=10) == "finally"
    assert _flaky_calls["n"] == 3
    types = [e.type for e in handle.fetch_history().events]
    assert types.count("ActivityTaskRetryScheduled") == 2


def test_non_retryable_failure_reaches_the_workflow_with_type_and_details(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[CatchesDecline], activities=[declines]):
        result = env.client.execute_workflow(CatchesDecline, task_queue=queue, timeout=10)
    assert result == {"type": "CardDeclined", "details": [{"amount": 5}], "non_retryable": True}


def test_uncaught_failure_fails_the_run_with_task_failed_error(env: Any, queue: str) -> None:
    from postgrip_agent import TaskFailedError

    with Agent(env.client, task_queue=queue, workflows=[Uncaught], activities=[declines]):
        handle = env.client.start_workflow(Uncaught, task_queue=queue)
        with pytest.raises(TaskFailedError) as caught:
            handle.result(timeout=10)
    assert caught.value.status == "failed"  # type: ignore[attr-defined]
    assert caught.value.cause.type == "CardDeclined"
    assert caught.value.cause.details == [{"amount": 7}]
    assert handle.describe().state == "failed"


@activity.defn
def pooled_nap() -> float:
    time.sleep(0.5)
    return 0.5


@workflow.defn
class HundredNaps:
    @workflow.run
    def run(self):
        results = yield workflow.wait_all(
            *[workflow.execute_activity(pooled_nap, start_to_close_timeout=T10) for _ in range(100)]
        )
        return sum(results)


def test_hundred_concurrent_activities_share_the_pool(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[HundredNaps], activities=[pooled_nap], max_concurrent_activities=100):
        begun = time.monotonic()
        assert env.client.execute_workflow(HundredNaps, task_queue=queue, timeout=60) == 50.0
        elapsed = time.monotonic() - begun
    assert elapsed < 10, f"100 x 0.5 s activities took {elapsed:.1f}s with a pool of 100"


_replays: List[List[Any]] = []


@workflow.defn
class Deterministic:
    @workflow.run
    def run(self):
        first = [workflow.now().isoformat(), workflow.random(), str(workflow.uuid4())]
        _replays.append(first)  # test instrumentation: what each replay computed
        yield workflow.execute_activity(add, 1, 1, start_to_close_timeout=T10)
        yield workflow.execute_activity(add, 2, 2, start_to_close_timeout=T10)
        return first


def test_now_random_and_uuid4_are_identical_across_replays(env: Any, queue: str) -> None:
    _replays.clear()
    with Agent(env.client, task_queue=queue, workflows=[Deterministic], activities=[add], max_cached_workflows=0):
        result = env.client.execute_workflow(Deterministic, task_queue=queue, timeout=10)
    assert len(_replays) >= 3  # at least three workflow tasks, each a full replay (no live cache)
    assert all(r == _replays[0] for r in _replays)
    assert result == _replays[0]
    assert _replays[0][1] != _replays[0][2]


@pytest.mark.parametrize(
    "extensions,transport,per_step,fixed", [(True, "http", 2, 4), (False, "http", 6, 5), (True, "in-process", 2, 4)]
)
def test_http_requests_for_sequential_activities_with_and_without_extensions(
    queue: str, extensions: bool, transport: str, per_step: int, fixed: int
) -> None:
    from postgrip_agent.testing import WorkflowEnvironment

    with WorkflowEnvironment.start_local(round_trip_extensions=extensions, transport=transport) as environment:
        with Agent(environment.client, task_queue=queue, workflows=[Sequential], activities=[add], poll_wait_seconds=5):
            environment.client.execute_workflow(Sequential, 1, task_queue=queue, timeout=10)  # warm-up: pollers waiting
            sent = environment.client.connection.requests_sent
            empty = environment.server.api.empty_polls
            assert environment.client.execute_workflow(Sequential, 8, task_queue=queue, timeout=30) == sum(range(8))
            requests = environment.client.connection.requests_sent - sent - (environment.server.api.empty_polls - empty)
    # With the extensions: the client's start and result, the first workflow task's poll (its history in the answer)
    # and the final completion; per step, one activation call (commands, block, and the activity leased back at once)
    # and the activity's completion (which brings back the workflow task it woke, with the new history).
    # Without them: start, result and per step poll, history, the command, the block, the activity poll and the
    # completion, plus the final poll, history and completion.
    assert requests == per_step * 8 + fixed, requests
