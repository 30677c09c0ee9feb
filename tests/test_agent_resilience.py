"""Crashes, code changes and registrations checked when the Agent is built."""

from __future__ import annotations

import ast
import threading
import time
from datetime import timedelta
from typing import Any, List, Tuple

import pytest

from postgrip_agent import Agent, ApplicationFailure, Client, RetryOptions, WorkflowFailureError, activity, workflow
from postgrip_agent._runtime.sandbox import SandboxViolation

from .proxy import TcpProxy


@activity.defn(name="add")
def add(a: int, b: int) -> int:
    return a + b


@workflow.defn(name="Changing")
class ChangingV1:
    @workflow.run
    def run(self):
        yield workflow.sleep(timedelta(milliseconds=300))
        total = yield workflow.execute_activity(add, 1, 2, start_to_close_timeout=timedelta(seconds=5))
        return total


@workflow.defn(name="Changing")
class ChangingV2:
    @workflow.run
    def run(self):
        total = yield workflow.execute_activity(add, 1, 2, start_to_close_timeout=timedelta(seconds=5))
        return total


def test_determinism_violation_when_code_changes_mid_run(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[ChangingV1], activities=[add], poll_wait_seconds=0):
        handle = env.client.start_workflow("Changing", task_queue=queue)
        deadline = time.monotonic() + 5
        while not any(e.type == "TimerStarted" for e in handle.fetch_history().events):
            assert time.monotonic() < deadline, "first workflow task never ran"
            time.sleep(0.01)
    with Agent(env.client, task_queue=queue, workflows=[ChangingV2], activities=[add]):
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationFailure) and cause.type == "DeterminismViolation"
    assert cause.non_retryable
    assert "timer 300" in str(cause) and "activity 'add'" in str(cause)


_gate = threading.Event()
_started = threading.Event()
_calls = {"n": 0}


@activity.defn
def slow_double(x: int) -> int:
    _calls["n"] += 1
    if _calls["n"] == 1:
        _started.set()
        _gate.wait(30)  # the first agent's copy hangs: its host is about to vanish
    return x * 2


@workflow.defn
class Doubler:
    @workflow.run
    def run(self, x: int):
        doubled = yield workflow.execute_activity(slow_double, x, start_to_close_timeout=timedelta(seconds=1))
        return doubled + 1


def test_second_agent_finishes_after_first_vanishes_mid_activity(env: Any, queue: str) -> None:
    _gate.clear(), _started.clear()  # the test runs once per store
    _calls["n"] = 0
    proxy = TcpProxy((env.server.host, env.server.port))
    doomed_client = Client.connect(proxy.address, retry=RetryOptions.disabled())
    doomed = Agent(doomed_client, task_queue=queue, workflows=[Doubler], activities=[slow_double]).start()
    try:
        handle = env.client.start_workflow(Doubler, 20, task_queue=queue)
        assert _started.wait(10), "the first agent never started the activity"
        workflow_task = handle.describe().task_id
        deadline = time.monotonic() + 10
        while env.client.task.get(workflow_task).state != "blocked":  # its workflow task is done; only the activity runs
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proxy.cut()
        with Agent(env.client, task_queue=queue, workflows=[Doubler], activities=[slow_double]):
            assert handle.result(timeout=20) == 41
        retried = [e for e in handle.fetch_history().events if e.type == "ActivityTaskCompleted"]
        assert len(retried) == 1
        attempts = sorted(
            (t for t in env.client.task.list(queue=queue) if t.type == "activity:slow_double"), key=lambda t: t.attempt
        )
        lost, survivor = attempts  # start_to_close (1 s, shorter than the 10 s lease) ended attempt 1
        assert lost.state == "failed" and "timed out (START_TO_CLOSE)" in (lost.error or "")
        assert survivor.state == "succeeded" and survivor.agent_id != doomed.identity and survivor.attempt == 2
    finally:
        _gate.set()
        doomed.shutdown(timeout=5)
        doomed_client.close()


@workflow.defn
class ReadsTheClock:
    @workflow.run
    def run(self):
        import time as clock

        return clock.time()


@workflow.defn(sandboxed=False)
class TrustedClock:
    @workflow.run
    def run(self):
        return time.time()


def test_sandbox_rejects_time_time_when_agent_is_built(env: Any) -> None:
    with pytest.raises(SandboxViolation) as caught:
        Agent(env.client, task_queue="x", workflows=[ReadsTheClock])
    assert "clock.time()" in str(caught.value) and "workflow.now()" in str(caught.value)
    Agent(env.client, task_queue="x", workflows=[TrustedClock])  # opted out: accepted


def test_registrations_are_validated(env: Any) -> None:
    def undecorated() -> None:
        pass

    with pytest.raises(TypeError, match="@workflow.defn"):
        Agent(env.client, task_queue="x", workflows=[undecorated])
    with pytest.raises(TypeError, match="@activity.defn"):
        Agent(env.client, task_queue="x", activities=[undecorated])

    @workflow.defn
    class NoRun:
        def run(self) -> None:
            pass

    with pytest.raises(TypeError, match="@workflow.run"):
        Agent(env.client, task_queue="x", workflows=[NoRun])
    with pytest.raises(ValueError, match="two workflows"):
        Agent(env.client, task_queue="x", workflows=[ChangingV1, ChangingV2])
    with pytest.raises(ValueError, match="task_queue"):
        Agent(env.client, task_queue="", activities=[add])


@workflow.defn(name="BadMilestone")
class BadMilestone:
    @workflow.run
    def run(self):
        yield workflow.milestone("begun", details={"at": object()})  # not JSON: the agent cannot send it
        return "unreachable"


def test_an_activation_that_fails_inside_the_agent_surfaces_instead_of_retrying_for_ever(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[BadMilestone]):
        handle = env.client.start_workflow("BadMilestone", task_queue=queue)
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationFailure) and cause.type == "WorkflowTaskFailed" and cause.non_retryable
    assert "TypeError" in str(cause) and "Traceback" in cause.details[0]
    assert [e.type for e in handle.fetch_history().events][-1] == "WorkflowExecutionFailed"


def test_registration_survives_cpythons_spurious_ast_error_and_not_a_real_one() -> None:
    """CPython 3.11 can fail an ``ast.parse`` with "AST constructor recursion depth mismatch" while
    another thread builds an AST (python/cpython#106905; seen when an agent registered a workflow as
    another thread formatted a traceback): the sandbox check reads and parses again; other errors stand."""
    from postgrip_agent._runtime import sandbox

    attempts: List[int] = []

    def flaky_read() -> Tuple[str, int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise SystemError("AST constructor recursion depth mismatch (before=156, after=37)")
        return "x = 1\n", 7

    tree, first_line = sandbox._parsed(flaky_read)
    assert len(attempts) == 3 and first_line == 7 and isinstance(tree, ast.Module)

    def broken_read() -> Tuple[str, int]:
        raise SystemError("something else")

    with pytest.raises(SystemError, match="something else"):
        sandbox._parsed(broken_read)
