"""asyncio inside ``async def`` workflow bodies, on the deterministic scheduler, end to end.

``asyncio.gather``/``wait``/``wait_for``/``shield``/``sleep``/``create_task`` run with no real
event loop and no threads; delays are durable timers. Each workflow runs twice: with the
agent's run cache (a live instance advanced event by event) and without it (every activation
replays the whole history from the start, comparing each command with the one recorded), and
a query on the finished run replays it once more. Temporal's ``hello_parallel_activity``
sample runs with only its imports (and ``main``'s awaits) changed. Cancellation is delivered
once, as in asyncio: cleanup after a caught cancellation needs no shield.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any, Iterator, List

import pytest

from postgrip_agent import Agent, CancellationScope, CancelledFailure, WorkflowFailureError, activity, workflow
from postgrip_agent.testing import WorkflowEnvironment

from .conftest import wait_for

T10 = timedelta(seconds=10)


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment.start_local() as environment:
        yield environment


@pytest.fixture(params=[None, 0], ids=["cached", "replayed"])
def cached(request: Any) -> Any:
    """The agent's run cache: default, or 0 (every activation replays the whole history)."""
    return request.param


def agent(env: WorkflowEnvironment, cached: Any, **options: Any) -> Agent:
    if cached is not None:
        options["max_cached_workflows"] = cached
    return Agent(env.client, task_queue="asyncio", **options)


# ---------------------------------------------- Temporal's hello_parallel_activity, as published


@activity.defn
async def say_hello_activity(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class SayHelloWorkflow:
    @workflow.run
    async def run(self) -> List[str]:
        # Run 5 activities at the same time
        results = await asyncio.gather(
            workflow.execute_activity(say_hello_activity, "user1", start_to_close_timeout=timedelta(seconds=5)),
            workflow.execute_activity(say_hello_activity, "user2", start_to_close_timeout=timedelta(seconds=5)),
            workflow.execute_activity(say_hello_activity, "user3", start_to_close_timeout=timedelta(seconds=5)),
            workflow.execute_activity(say_hello_activity, "user4", start_to_close_timeout=timedelta(seconds=5)),
            workflow.execute_activity(say_hello_activity, "user5", start_to_close_timeout=timedelta(seconds=5)),
        )
        # Sort the results because they can complete in any order
        return list(sorted(results))


def test_temporal_hello_parallel_activity_sample(env: WorkflowEnvironment, cached: Any) -> None:
    with agent(env, cached, workflows=[SayHelloWorkflow], activities=[say_hello_activity]):
        result = env.client.execute_workflow(SayHelloWorkflow.run, id="hello-parallel-activity-workflow-id", task_queue="asyncio")
    assert result == [f"Hello, user{n}!" for n in range(1, 6)]
    events = env.client.get_workflow_handle("hello-parallel-activity-workflow-id").fetch_history().events
    assert sum(e.type == "ActivityTaskScheduled" for e in events) == 5


# ---------------------------------------------- the helpers, replayed


@activity.defn
def echo(value: str) -> str:
    return value


_release = threading.Event()


@activity.defn
def held(value: str) -> str:
    """Returns once the test releases it (or after 5 s)."""
    _release.wait(5)
    return value


@workflow.defn
class Helpers:
    def __init__(self) -> None:
        self.trace: List[str] = []

    async def pair(self, name: str) -> str:
        first = await workflow.execute_activity(echo, f"{name}1", start_to_close_timeout=T10)
        await asyncio.sleep(0)  # a bare yield: other tasks run
        second = await workflow.execute_activity(echo, f"{name}2", start_to_close_timeout=T10)
        return first + second

    @workflow.run
    async def run(self) -> List[Any]:
        started = workflow.now()
        task = asyncio.create_task(self.pair("t"))
        assert asyncio.current_task() is not None and task is not asyncio.current_task()
        await asyncio.sleep(0.2)  # a durable timer
        self.trace.append(f"slept {(workflow.now() - started).total_seconds() >= 0.2}")
        try:
            await asyncio.wait_for(workflow.execute_activity(held, "late", start_to_close_timeout=T10), timeout=0.1)
        except asyncio.TimeoutError:
            self.trace.append("wait_for timed out")
        quick = await asyncio.wait_for(workflow.execute_activity(echo, "quick", start_to_close_timeout=T10), timeout=30)
        tasks = [asyncio.create_task(self.pair(name)) for name in ("x", "y", "z")]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.ALL_COMPLETED)
        in_set_order = [t.result() for t in done]  # a set: the same order on every replay
        gathered = await asyncio.gather(task, *tasks, return_exceptions=True)
        return [*self.trace, quick, len(pending), in_set_order, gathered, workflow.now() > started]

    @workflow.query
    def progress(self) -> List[str]:
        return self.trace


def test_gather_wait_wait_for_sleep_and_tasks_replay_deterministically(env: WorkflowEnvironment, cached: Any) -> None:
    _release.clear()
    try:
        with agent(env, cached, workflows=[Helpers], activities=[echo, held]):
            handle = env.client.start_workflow(Helpers, id="helpers", task_queue="asyncio")
            result = handle.result(timeout=20)
            _release.set()  # the activity wait_for gave up on
            # a query on the finished run replays its whole history: same commands, same state
            queried = handle.query(Helpers.progress)
    finally:
        _release.set()
    trace, quick, pending, in_set_order, gathered, later = result[:2], result[2], result[3], result[4], result[5], result[6]
    assert trace == ["slept True", "wait_for timed out"]
    assert (quick, pending, later) == ("quick", 0, True)
    assert sorted(in_set_order) == ["x1x2", "y1y2", "z1z2"]
    assert gathered == ["t1t2", "x1x2", "y1y2", "z1z2"]
    types = [e.type for e in handle.fetch_history().events]
    assert types.count("TimerStarted") == 3  # asyncio.sleep, and each wait_for's deadline
    assert queried == trace


# ---------------------------------------------- cancellation, delivered once


_cleanups: List[str] = []
_blocked = threading.Event()


@activity.defn
def blocker() -> str:
    _blocked.set()
    activity.heartbeat()
    for _ in range(500):
        if activity.is_cancelled():
            break
        activity.heartbeat()
        threading.Event().wait(0.01)
    return "finished"


@activity.defn
def cleanup(what: str) -> str:
    _cleanups.append(what)
    return what


@workflow.defn
class CleansUpAfterCancel:
    """Temporal's idiom: catch the cancellation, clean up with an activity (no shield), re-raise."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(blocker, start_to_close_timeout=T10, heartbeat_timeout=timedelta(seconds=5))
        except asyncio.CancelledError:
            await workflow.execute_activity(cleanup, "async", start_to_close_timeout=T10)
            await asyncio.sleep(0.05)
            raise
        return "not cancelled"


@workflow.defn
class GeneratorCleansUpAfterCancel:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        try:
            yield workflow.sleep(timedelta(seconds=60))
        except CancelledFailure:
            yield workflow.execute_activity(cleanup, "generator", start_to_close_timeout=T10)
            raise
        return "not cancelled"


@pytest.mark.parametrize(
    "workflow_class, started", [(CleansUpAfterCancel, "ActivityTaskScheduled"), (GeneratorCleansUpAfterCancel, "TimerStarted")]
)
def test_cleanup_after_a_caught_cancellation_needs_no_shield(
    env: WorkflowEnvironment, cached: Any, workflow_class: Any, started: str
) -> None:
    _cleanups.clear()
    _blocked.clear()
    with agent(env, cached, workflows=[workflow_class], activities=[blocker, cleanup]):
        handle = env.client.start_workflow(workflow_class, task_queue="asyncio")
        wait_for(lambda: any(e.type == started for e in handle.fetch_history().events))
        handle.cancel("customer left")
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
    assert caught.value.status == "cancelled"
    assert _cleanups == ["async" if workflow_class is CleansUpAfterCancel else "generator"]


@workflow.defn
class ShieldsWork:
    """``asyncio.shield``: the awaiting code sees the cancellation at once; the shielded activity
    goes on (the service is told not to cancel it) and its result is still there."""

    @workflow.run
    async def run(self) -> str:
        work = workflow.execute_activity(held, "shielded result", start_to_close_timeout=T10)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            return f"{await work} (the shield raised)"


@workflow.defn
class ScopeShieldsWork:
    """A non-cancellable scope holds the cancellation back until the scope ends."""

    @workflow.run
    async def run(self) -> List[str]:
        done: List[str] = []
        with CancellationScope(cancellable=False):
            done.append(await workflow.execute_activity(held, "in scope", start_to_close_timeout=T10))
            done.append(await workflow.execute_activity(echo, "still in scope", start_to_close_timeout=T10))
        try:
            await workflow.execute_activity(echo, "after scope", start_to_close_timeout=T10)
        except CancelledFailure:
            done.append("cancelled after the scope")
            done.append(await workflow.execute_activity(cleanup, "after scope", start_to_close_timeout=T10))
        return done


@workflow.defn
class GeneratorScopeShieldsWork:
    """The same, in a generator body: the first command after the scope gets the cancellation."""

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        done: List[str] = []
        with CancellationScope(cancellable=False):
            done.append((yield workflow.execute_activity(held, "in scope", start_to_close_timeout=T10)))
            done.append((yield workflow.execute_activity(echo, "still in scope", start_to_close_timeout=T10)))
        try:
            yield workflow.execute_activity(echo, "after scope", start_to_close_timeout=T10)
        except CancelledFailure:
            done.append("cancelled after the scope")
            done.append((yield workflow.execute_activity(cleanup, "after scope", start_to_close_timeout=T10)))
        return done


@pytest.mark.parametrize("workflow_class", [ShieldsWork, ScopeShieldsWork, GeneratorScopeShieldsWork])
def test_a_shield_protects_work_running_when_the_cancellation_arrives(
    env: WorkflowEnvironment, cached: Any, workflow_class: Any
) -> None:
    _cleanups.clear()
    _release.clear()
    try:
        with agent(env, cached, workflows=[workflow_class], activities=[held, echo, cleanup]):
            handle = env.client.start_workflow(workflow_class, task_queue="asyncio")
            wait_for(lambda: any(e.type == "ActivityTaskScheduled" for e in handle.fetch_history().events))
            handle.cancel("stop")
            wait_for(lambda: any(e.type == "WorkflowCancellationRequested" for e in handle.fetch_history().events))
            _release.set()
            result = handle.result(timeout=10)
    finally:
        _release.set()
    types = [e.type for e in handle.fetch_history().events]
    assert "ActivityTaskCanceled" not in types
    if workflow_class is ShieldsWork:
        assert result == "shielded result (the shield raised)"
    else:  # the shielded activities ran to their end; the cancellation came after, once
        assert result == ["in scope", "still in scope", "cancelled after the scope", "after scope"]


@workflow.defn
class RefusesTheLoop:
    @workflow.run
    async def run(self) -> str:
        try:
            await asyncio.get_running_loop().run_in_executor(None, print, "from a thread")
        except RuntimeError as err:
            return str(err)
        return "ran"


def test_what_would_not_replay_is_refused_with_a_clear_error(env: WorkflowEnvironment, cached: Any) -> None:
    with agent(env, cached, workflows=[RefusesTheLoop]):
        message = env.client.execute_workflow(RefusesTheLoop, task_queue="asyncio", timeout=10)
    assert "run_in_executor" in message and "activity" in message
