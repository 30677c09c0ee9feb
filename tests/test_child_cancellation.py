"""Cancelling a parent, or a scope around a child, reaches the child (Temporal's child
cancellation types): the child's cleanup runs, and the parent sees a ChildWorkflowError whose
cause is a CancelledFailure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, List

import pytest

from postgrip_agent import Agent, CancelledFailure, ChildWorkflowError, activity, workflow

from .conftest import wait_for

_cleaned: List[str] = []


@activity.defn(name="child_cleanup")
def cleanup(who: str) -> str:
    _cleaned.append(who)
    return f"cleaned {who}"


@workflow.defn(name="CleaningChild")
class CleaningChild:
    @workflow.run
    def run(self, who: str):  # type: ignore[no-untyped-def]
        try:
            yield workflow.sleep(timedelta(hours=1))
            return "slept"
        except CancelledFailure:
            with workflow.CancellationScope(cancellable=False):
                yield workflow.execute_activity(cleanup, who, start_to_close_timeout=timedelta(seconds=10))
            raise


@workflow.defn(name="CancellingParent")
class CancellingParent:
    @workflow.run
    def run(self, cancellation_type: str, scope_only: bool):  # type: ignore[no-untyped-def]
        kid = f"{workflow.info().workflow_id}-kid"
        options: Any = {} if cancellation_type == "default" else {"cancellation_type": cancellation_type}
        scope = workflow.CancellationScope()
        with scope:
            child = workflow.execute_child(CleaningChild, kid, id=kid, **options)
            if scope_only:
                yield workflow.sleep(timedelta(milliseconds=300))  # the child is under way
                scope.cancel("the parent changed its mind")
            try:
                return (yield child)
            except ChildWorkflowError as err:
                return {"error": "ChildWorkflowError", "cause": type(err.cause).__name__}
            except CancelledFailure as err:
                return {"error": "CancelledFailure", "reason": str(err)}


def _started(env: Any, kid: str) -> bool:
    try:
        return any(e.type == "TimerStarted" for e in env.client.get_workflow_handle(kid).fetch_history().events)
    except Exception:
        return False


@pytest.mark.parametrize("scope_only", [False, True])
def test_a_cancelled_parent_waits_for_its_childs_cleanup_by_default(env: Any, queue: str, scope_only: bool) -> None:
    _cleaned.clear()
    with Agent(env.client, task_queue=queue, workflows=[CancellingParent, CleaningChild], activities=[cleanup]):
        parent = env.client.start_workflow(CancellingParent, "default", scope_only, id=f"parent-{scope_only}", task_queue=queue)
        wait_for(lambda: _started(env, f"parent-{scope_only}-kid"))
        if not scope_only:
            parent.cancel("order withdrawn")
        outcome = parent.result(timeout=20)  # caught, so the parent returns its value
        child = env.client.get_workflow_handle(f"parent-{scope_only}-kid")
        child_events = [e.type for e in child.fetch_history().events]
    assert outcome == {"error": "ChildWorkflowError", "cause": "CancelledFailure"}
    assert _cleaned == [f"parent-{scope_only}-kid"]  # the child's cleanup ran, once
    assert "WorkflowCancellationRequested" in child_events and "WorkflowExecutionTerminated" not in child_events
    assert parent.describe().state == "succeeded"


@pytest.mark.parametrize("cancellation_type", ["try_cancel", "abandon"])
def test_try_cancel_and_abandon_do_not_wait_for_the_child(env: Any, queue: str, cancellation_type: str) -> None:
    _cleaned.clear()
    with Agent(env.client, task_queue=queue, workflows=[CancellingParent, CleaningChild], activities=[cleanup]):
        parent = env.client.start_workflow(
            CancellingParent, cancellation_type, True, id=f"p-{cancellation_type}", task_queue=queue
        )
        assert parent.result(timeout=20) == {"error": "CancelledFailure", "reason": "the parent changed its mind"}
        child = env.client.get_workflow_handle(f"p-{cancellation_type}-kid")
        if cancellation_type == "abandon":
            assert child.describe().state == "running"  # left alone
            assert "WorkflowCancellationRequested" not in [e.type for e in child.fetch_history().events]
            child.terminate("test over")
        else:
            wait_for(lambda: "WorkflowCancellationRequested" in [e.type for e in child.fetch_history().events])


@workflow.defn(name="CleansThenReturns")
class CleansThenReturns:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.sleep(timedelta(hours=1))
            return "slept"
        except CancelledFailure:
            done = await workflow.CancellationScope.non_cancellable(
                lambda: workflow.execute_activity(cleanup, "self", start_to_close_timeout=timedelta(seconds=10))
            )
            return f"returned after {done}"


def test_non_cancellable_cleanup_then_a_value_completes_the_run(env: Any, queue: str) -> None:
    _cleaned.clear()
    with Agent(env.client, task_queue=queue, workflows=[CleansThenReturns], activities=[cleanup]):
        handle = env.client.start_workflow(CleansThenReturns, task_queue=queue)
        wait_for(lambda: any(e.type == "TimerStarted" for e in handle.fetch_history().events))
        handle.cancel("stop")
        assert handle.result(timeout=10) == "returned after cleaned self"
    assert handle.describe().status == "COMPLETED" and _cleaned == ["self"]
