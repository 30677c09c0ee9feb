"""Activity timeouts, attempts and failures that keep their promises (service-enforced, as in Temporal)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any, Dict

import pytest

from postgrip_agent import (
    ActivityError,
    Agent,
    ApplicationFailure,
    CancelledFailure,
    RetryPolicy,
    TimeoutFailure,
    WorkflowFailureError,
    activity,
    workflow,
)

from .conftest import Wire, wait_for

FAST_RETRY = dict(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0)
_state: Dict[str, Any] = {}
_lock = threading.Lock()


def _reset(**values: Any) -> None:
    _state.clear()
    _state.update(running=0, most=0, attempts=[], **values)


def _busy(seconds: float) -> None:
    """Python-level work (interruptible between bytecodes), like most real activity code."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.005)


@activity.defn
def slow_step(seconds: float) -> str:
    with _lock:
        _state["running"] += 1
        _state["most"] = max(_state["most"], _state["running"])
        _state["attempts"].append(activity.info().attempt)
    try:
        _busy(seconds)
        return f"finished attempt {activity.info().attempt}"
    finally:
        with _lock:
            _state["running"] -= 1


@workflow.defn
class RunsSlowStep:
    @workflow.run
    def run(self, seconds: float, attempts: int):
        try:
            return (
                yield workflow.execute_activity(
                    slow_step,
                    seconds,
                    start_to_close_timeout=timedelta(seconds=1),
                    retry_policy=RetryPolicy(maximum_attempts=attempts, **FAST_RETRY),
                )
            )
        except ActivityError as err:
            assert isinstance(err.cause, TimeoutFailure)
            return {"error": "ActivityError", "timeout_type": err.cause.timeout_type, "attempt": err.attempt}


@workflow.defn
class LetsTheTimeoutFail:
    @workflow.run
    def run(self, seconds: float):
        return (
            yield workflow.execute_activity(
                slow_step, seconds, start_to_close_timeout=timedelta(seconds=1), retry_policy=RetryPolicy(maximum_attempts=1)
            )
        )


def test_an_attempt_past_start_to_close_runs_once_and_fails_the_workflow_in_about_the_timeout(env: Any, queue: str) -> None:
    _reset()
    with Agent(env.client, task_queue=queue, workflows=[LetsTheTimeoutFail], activities=[slow_step]):
        started = time.monotonic()
        handle = env.client.start_workflow(LetsTheTimeoutFail, 4.0, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
        took = time.monotonic() - started
    assert caught.value.status == "failed" and took < 2.5 and _state["attempts"] == [1]
    cause = caught.value.cause
    assert isinstance(cause, ActivityError) and cause.activity_type == "slow_step"
    assert isinstance(cause.cause, TimeoutFailure) and cause.cause.timeout_type == "START_TO_CLOSE"
    assert "START_TO_CLOSE" in str(caught.value)
    failed = [e for e in handle.fetch_history().events if e.type == "ActivityTaskFailed"]
    assert len(failed) == 1 and failed[0].attributes["timeout_type"] == "START_TO_CLOSE"


def test_retries_see_attempts_one_two_three_never_two_at_once_and_no_late_result(env: Any, queue: str) -> None:
    _reset()
    with Agent(env.client, task_queue=queue, workflows=[RunsSlowStep], activities=[slow_step]):
        handle = env.client.start_workflow(RunsSlowStep, 3.0, 3, task_queue=queue)
        outcome = handle.result(timeout=15)
        wait_for(lambda: _state["running"] == 0)
    assert outcome == {"error": "ActivityError", "timeout_type": "START_TO_CLOSE", "attempt": 3}
    assert _state["attempts"] == [1, 2, 3] and _state["most"] == 1
    events = handle.fetch_history().events
    assert [e.attributes.get("timeout_type") for e in events if e.type == "ActivityTaskRetryScheduled"] == ["START_TO_CLOSE"] * 2
    assert not any(e.type == "ActivityTaskCompleted" for e in events)  # no timed-out attempt's result got through


@activity.defn
def heartbeats_forever() -> str:
    try:
        while True:
            activity.heartbeat({"at": time.monotonic()})
            time.sleep(0.05)
    except CancelledFailure as err:
        _state["cancelled"] = str(err)
        raise


@workflow.defn
class HeartbeatsPastItsTimeout:
    @workflow.run
    def run(self):
        try:
            yield workflow.execute_activity(
                heartbeats_forever,
                start_to_close_timeout=timedelta(milliseconds=600),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return getattr(err.cause, "timeout_type", None)


def test_a_heartbeating_activity_past_start_to_close_gets_cancelled_failure(env: Any, queue: str) -> None:
    _reset()
    with Agent(env.client, task_queue=queue, workflows=[HeartbeatsPastItsTimeout], activities=[heartbeats_forever]):
        assert env.client.execute_workflow(HeartbeatsPastItsTimeout, task_queue=queue, timeout=10) == "START_TO_CLOSE"
        wait_for(lambda: "cancelled" in _state)


@activity.defn
def goes_quiet() -> Dict[str, Any]:
    info = activity.info()
    _state["attempts"].append((info.attempt, info.heartbeat_details, time.monotonic()))
    _state.setdefault("infos", []).append(info)
    if info.attempt == 1:
        activity.heartbeat({"done": 3})
        _state["last_heartbeat"] = time.monotonic()
        _busy(5.0)  # stops heartbeating
    return {"resumed_from": info.heartbeat_details, "attempt": info.attempt}


@workflow.defn
class GoesQuiet:
    @workflow.run
    def run(self):
        return (
            yield workflow.execute_activity(
                goes_quiet,
                start_to_close_timeout=timedelta(seconds=10),
                heartbeat_timeout=timedelta(milliseconds=500),
                retry_policy=RetryPolicy(maximum_attempts=2, **FAST_RETRY),
            )
        )


def test_an_activity_that_stops_heartbeating_times_out_and_the_retry_resumes_from_its_details(env: Any, queue: str) -> None:
    _reset()
    with Agent(env.client, task_queue=queue, workflows=[GoesQuiet], activities=[goes_quiet]):
        handle = env.client.start_workflow(GoesQuiet, task_queue=queue)
        assert handle.result(timeout=10) == {"resumed_from": {"done": 3}, "attempt": 2}
    retry_started = _state["attempts"][1][2]
    assert retry_started - _state["last_heartbeat"] < 0.5 + 1.0  # heartbeat_timeout + 1 s
    retried = [e for e in handle.fetch_history().events if e.type == "ActivityTaskRetryScheduled"]
    assert retried[0].attributes["timeout_type"] == "HEARTBEAT"
    first, second = _state["infos"]
    assert second.heartbeat_timeout == timedelta(milliseconds=500) and second.start_to_close_timeout == timedelta(seconds=10)
    assert first.heartbeat_details is None and first.scheduled_time == second.scheduled_time
    assert first.current_attempt_scheduled_time is not None and second.current_attempt_scheduled_time is not None
    assert second.current_attempt_scheduled_time > first.current_attempt_scheduled_time  # after the failure and backoff


@activity.defn
def always_fails() -> None:
    _state["attempts"].append(activity.info().attempt)
    raise ApplicationFailure("still broken", type="Broken")


@workflow.defn
class BoundedBySchedule:
    @workflow.run
    def run(self, long_running: bool):
        target = slow_step if long_running else always_fails
        args = [5.0] if long_running else []
        try:
            yield workflow.execute_activity(
                target,
                *args,
                schedule_to_close_timeout=timedelta(milliseconds=1200),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=300), backoff_coefficient=2.0),
            )
        except ActivityError as err:
            return {"type": err.type, "timeout_type": getattr(err.cause, "timeout_type", None)}


def test_schedule_to_close_stops_further_retries(env: Any, queue: str) -> None:
    _reset()
    with Agent(env.client, task_queue=queue, workflows=[BoundedBySchedule], activities=[always_fails, slow_step]):
        outcome = env.client.execute_workflow(BoundedBySchedule, False, task_queue=queue, timeout=10)
        assert outcome == {"type": "Broken", "timeout_type": None}
        assert _state["attempts"] == [1, 2, 3]  # at 0, 0.3 and 0.9 s; the next (2.1 s) would pass 1.2 s
        _reset()
        outcome = env.client.execute_workflow(BoundedBySchedule, True, task_queue=queue, timeout=10)
        assert outcome == {"type": "TimeoutFailure", "timeout_type": "SCHEDULE_TO_CLOSE"}
        assert _state["attempts"] == [1]


@workflow.defn
class NobodyTakesIt:
    @workflow.run
    def run(self):
        try:
            yield workflow.execute_activity(
                "unserved",
                task_queue="nobody-polls-this",
                start_to_close_timeout=5,
                schedule_to_start_timeout=timedelta(milliseconds=300),
            )
        except ActivityError as err:
            return getattr(err.cause, "timeout_type", None)


def test_schedule_to_start_fails_an_activity_no_agent_takes(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[NobodyTakesIt]):
        assert env.client.execute_workflow(NobodyTakesIt, task_queue=queue, timeout=10) == "SCHEDULE_TO_START"


@activity.defn
def raises_key_error(order: Dict[str, Any]) -> Any:
    return order["sku"]  # the line the traceback must name


@workflow.defn
class FailsOnKeyError:
    @workflow.run
    def run(self):
        return (
            yield workflow.execute_activity(
                raises_key_error, {}, start_to_close_timeout=5, retry_policy=RetryPolicy(maximum_attempts=1)
            )
        )


def test_a_failing_activitys_traceback_reaches_the_caller_and_the_agent_log(
    env: Any, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="postgrip_agent.agent")
    with Agent(env.client, task_queue=queue, workflows=[FailsOnKeyError], activities=[raises_key_error]):
        handle = env.client.start_workflow(FailsOnKeyError, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
    error = caught.value
    cause = error.cause
    assert isinstance(cause, ActivityError) and cause.activity_type == "raises_key_error" and cause.attempt == 1
    assert isinstance(cause.cause, ApplicationFailure) and cause.cause.type == "KeyError" and cause.type == "KeyError"
    trace = error.stack_trace or ""
    assert 'test_activity_timeouts.py", line' in trace and 'return order["sku"]' in trace and "KeyError: 'sku'" in trace
    assert "KeyError" in str(error)
    logged = [r for r in caplog.records if r.levelno == logging.WARNING and "raises_key_error" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert 'return order["sku"]' in logging.Formatter().formatException(logged[0].exc_info)


@activity.defn
def fails_then_waits() -> str:
    activity.heartbeat({"charged": 2})
    raise RuntimeError("card service unavailable")


@workflow.defn
class RetriesLater:
    @workflow.run
    def run(self):
        return (
            yield workflow.execute_activity(
                fails_then_waits, start_to_close_timeout=5, retry_policy=RetryPolicy(initial_interval=timedelta(seconds=30))
            )
        )


def test_describe_lists_a_pending_activity_with_its_attempt_and_last_failure(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[RetriesLater], activities=[fails_then_waits]):
        handle = env.client.start_workflow(RetriesLater, task_queue=queue)
        wait_for(lambda: any(e.type == "ActivityTaskRetryScheduled" for e in handle.fetch_history().events))
        pending = handle.describe().pending_activities
        handle.terminate("done looking")
    assert len(pending) == 1
    entry = pending[0]
    assert entry.activity_type == "fails_then_waits" and entry.attempt == 2 and entry.state == "queued"
    assert entry.last_failure is not None and entry.last_failure["message"] == "card service unavailable"
    assert "RuntimeError: card service unavailable" in (entry.last_failure_stack_trace or "")
    assert entry.next_attempt_time is not None and entry.scheduled_time is not None
    assert entry.next_attempt_time > entry.scheduled_time
    assert entry.heartbeat_details == {"charged": 2}  # the previous attempt's last heartbeat


@workflow.defn
class BadTimeouts:
    @workflow.run
    def run(self, which: str):
        options: Dict[str, Any] = {
            "zero": {"start_to_close_timeout": 0},
            "negative": {"start_to_close_timeout": -1},
            "text": {"start_to_close_timeout": "10s"},
            "heartbeat": {"start_to_close_timeout": 1, "heartbeat_timeout": 5},
        }[which]
        try:
            yield workflow.execute_activity("anything", **options)
        except (TypeError, ValueError) as err:
            return str(err)


@pytest.mark.parametrize(
    "which,expected",
    [
        ("zero", "must be positive"),
        ("negative", "must not be negative"),
        ("text", "must be a timedelta or a number of seconds"),
        ("heartbeat", "must be shorter than"),
    ],
)
def test_bad_timeouts_get_a_clear_error_before_anything_is_sent(env: Any, queue: str, which: str, expected: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[BadTimeouts]):
        handle = env.client.start_workflow(BadTimeouts, which, task_queue=queue)
        assert expected in handle.result(timeout=10)
    assert not any(e.type == "ActivityTaskScheduled" for e in handle.fetch_history().events)


@pytest.mark.parametrize("value", [-5, "abc", 2**63, 1.5])
def test_the_service_refuses_out_of_range_activity_timeouts(wire: Wire, value: Any) -> None:
    workflow_task = wire.start("W", "w-bad-timeout")
    wire.poll()
    body = {
        "type": "activity:x",
        "queue": "q",
        "payload": {"workflowRunId": workflow_task["payload"]["runId"], "startToCloseTimeoutMs": value},
    }
    refused = wire.post("/api/v1/tasks", body, 400)
    assert "startToCloseTimeoutMs" in refused["error"]


@activity.defn
def blocks_in_c() -> str:
    attempt = activity.info().attempt
    _state["attempts"].append(attempt)
    if attempt == 1:
        time.sleep(1.6)  # a C call: the interrupt lands only after it returns, past start_to_close
        _state["late_returned"] = True
        return "late first attempt"
    return "second attempt"


@workflow.defn
class TakesTheResult:
    @workflow.run
    def run(self):
        return (
            yield workflow.execute_activity(
                blocks_in_c,
                start_to_close_timeout=timedelta(seconds=1),
                retry_policy=RetryPolicy(maximum_attempts=2, **FAST_RETRY),
            )
        )


def test_a_timed_out_attempt_blocked_in_c_never_gets_its_late_result_to_the_workflow(
    env: Any, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    _reset()
    caplog.set_level(logging.INFO, logger="postgrip_agent.agent")
    with Agent(env.client, task_queue=queue, workflows=[TakesTheResult], activities=[blocks_in_c]):
        handle = env.client.start_workflow(TakesTheResult, task_queue=queue)
        assert handle.result(timeout=10) == "second attempt"
        wait_for(
            lambda: any(
                "stopped" in r.getMessage() or "dropped" in r.getMessage()
                for r in caplog.records
                if "blocks_in_c" in r.getMessage() and "attempt 1" in r.getMessage()
            )
        )
    assert _state["attempts"] == [1, 2]
    completed = [e for e in handle.fetch_history().events if e.type == "ActivityTaskCompleted"]
    assert len(completed) == 1 and completed[0].attributes["result"] == "second attempt"


def test_the_service_refuses_a_completion_from_a_timed_out_attempt(mwire: Wire, manual_server: Any) -> None:
    workflow_task = mwire.start("W", "late-complete")
    mwire.poll()
    scheduled = mwire.activity(workflow_task, "work", startToCloseTimeoutMs=1000, retry={"maximumAttempts": 1})
    mwire.block(workflow_task)
    leased = mwire.poll(types="activity:")
    manual_server.advance(1.5)  # past start_to_close: the service ends the attempt
    late = mwire.complete(leased, "too late", expect=409)
    assert "terminal" in late["error"]
    events = mwire.history("late-complete")
    assert [e["type"] for e in events if e["type"].startswith("Activity")] == ["ActivityTaskScheduled", "ActivityTaskFailed"]
    assert events[-1]["attributes"]["timeout_type"] == "START_TO_CLOSE" and scheduled["id"] == leased["id"]


@activity.defn
def gives_up() -> None:
    raise CancelledFailure("stopped by its own code")


@workflow.defn
class SeesCancellation:
    @workflow.run
    def run(self):
        try:
            yield workflow.execute_activity(gives_up, start_to_close_timeout=5)
        except ActivityError as err:
            return {"cause": type(err.cause).__name__, "type": err.type, "message": str(err.cause)}


def test_an_activity_that_ends_cancelled_reaches_the_workflow_as_activity_error_with_cancelled_failure(
    env: Any, queue: str
) -> None:
    with Agent(env.client, task_queue=queue, workflows=[SeesCancellation], activities=[gives_up]):
        outcome = env.client.execute_workflow(SeesCancellation, task_queue=queue, timeout=10)
    assert outcome == {"cause": "CancelledFailure", "type": "CancelledFailure", "message": "stopped by its own code"}


@activity.defn
def untimed(x: int) -> int:
    return x + 1


@activity.defn
def untimed_overrun() -> str:
    _state.setdefault("release", threading.Event()).wait(20)
    return "late"


@workflow.defn
class NoTimeouts:
    @workflow.run
    def run(self, x: int):  # type: ignore[no-untyped-def]
        a = yield workflow.execute_activity(untimed, x)  # as reference-SDK code writes it: no timeout
        b = yield workflow.execute_activity("untimed", a)
        return b


def test_an_activity_without_timeouts_runs_as_under_the_reference_agent(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[NoTimeouts], activities=[untimed]):
        handle = env.client.start_workflow(NoTimeouts, 1, task_queue=queue)
        assert handle.result(timeout=20) == 3
    scheduled = [e for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled"]
    assert len(scheduled) == 2
    for task_id in (e.task_id for e in scheduled):
        payload = env.client.connection.request("GET", f"/api/v1/tasks/{task_id}")["payload"]
        assert "startToCloseTimeoutMs" not in payload and "scheduleToCloseTimeoutMs" not in payload


@workflow.defn
class DefaultBound:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        try:
            yield workflow.execute_activity(untimed_overrun, retry_policy=RetryPolicy(maximum_attempts=1))
        except ActivityError as err:
            return getattr(err.cause, "timeout_type", repr(err.cause))
        return "no timeout"


def test_an_agent_default_start_to_close_timeout_bounds_activities_that_name_none(env: Any, queue: str) -> None:
    _state["release"] = threading.Event()
    with Agent(
        env.client,
        task_queue=queue,
        workflows=[DefaultBound],
        activities=[untimed_overrun],
        default_start_to_close_timeout=timedelta(milliseconds=800),
    ):
        try:
            assert env.client.execute_workflow(DefaultBound, task_queue=queue, timeout=20) == "START_TO_CLOSE"
        finally:
            _state["release"].set()
