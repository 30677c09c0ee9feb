"""Activity attempts in the engine: the timeouts the service enforces, failures and retries.

The lease is only the agent's liveness signal. An attempt's timeouts are the service's:
``startToCloseTimeoutMs`` (one attempt), ``heartbeatTimeoutMs`` (the longest gap between the
activity's own heartbeats), ``scheduleToStartTimeoutMs`` (time queued before an agent takes
it) and ``scheduleToCloseTimeoutMs`` (all attempts, backoff included). A timeout, a failure
and a lapsed lease are all attempt failures: recorded in history, counted against the retry
policy, retried as a new task with ``attempt + 1`` after the backoff. The attempt that timed
out is finished at once, so its late result is refused (409) and two attempts never both count.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import attrs

from ... import types as wt
from . import limits
from .retry import retry_delay
from .core import EngineState
from .runs import run_cancel_reason
from ..store import RunRecord, TaskRecord
from .clock import ts

#: timeout kind -> the key of the stored payload that sets it (milliseconds), as the typed
#: ActivityInvocationPayload spells it on the wire (read from the class: written in one place)
TIMEOUT_KEYS = {kind: wt.wire_name(wt.ActivityInvocationPayload, field) for kind, field in wt.ACTIVITY_TIMEOUT_FIELDS.items()}


def check_activity_timeouts(payload: wt.ActivityInvocationPayload) -> None:
    """Each timeout, when given, is within range (a whole number of milliseconds: the typed payload
    already refused anything else; 0 means unset)."""
    for kind, field in wt.ACTIVITY_TIMEOUT_FIELDS.items():
        limits.check_duration_ms(f"payload.{TIMEOUT_KEYS[kind]}", getattr(payload, field))


def activity_timeouts(payload: Any) -> Dict[str, float]:
    """The timeouts set on an activity, in seconds, by kind."""
    if not isinstance(payload, dict):
        return {}
    return {kind: payload[key] / 1000.0 for kind, key in TIMEOUT_KEYS.items() if payload.get(key)}


class Activities:
    """Activity attempts: arming their timeouts, and ending them under the retry policy."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.store, self.clock = state.store, state.clock

    def arm(self, task: TaskRecord) -> None:
        """Work out the attempt's next timeout from its state; the ticker enforces it."""
        timeouts = activity_timeouts(task.payload)
        candidates: List[Tuple[float, str]] = []
        if "SCHEDULE_TO_CLOSE" in timeouts and task.first_scheduled_at is not None:
            candidates.append((task.first_scheduled_at + timeouts["SCHEDULE_TO_CLOSE"], "SCHEDULE_TO_CLOSE"))
        if task.state == "queued" and "SCHEDULE_TO_START" in timeouts:
            available = task.not_before if task.not_before is not None else task.created_at
            candidates.append((available + timeouts["SCHEDULE_TO_START"], "SCHEDULE_TO_START"))
        if task.state == "leased" and task.attempt_started_at is not None:
            if "START_TO_CLOSE" in timeouts:
                candidates.append((task.attempt_started_at + timeouts["START_TO_CLOSE"], "START_TO_CLOSE"))
            if "HEARTBEAT" in timeouts:
                last = task.last_heartbeat_at or task.attempt_started_at
                candidates.append((last + timeouts["HEARTBEAT"], "HEARTBEAT"))
        if candidates:
            task.timeout_at, task.timeout_kind = min(candidates)
            self.state.deadline_added(task.timeout_at)
        else:
            task.timeout_at = task.timeout_kind = None

    def time_out_if_due(self, task_id: str, now: float) -> None:
        """If the activity task's timeout has passed, fail the attempt as a timeout (retried under its policy)."""
        task = self.store.get_task(task_id)
        if task is None or task.state not in ("queued", "leased") or task.timeout_at is None or task.timeout_at > now:
            return
        kind = task.timeout_kind or "START_TO_CLOSE"
        self.state.defer(lambda: self.state.metrics.timed_out(kind))
        name = (task.payload or {}).get("activityType") or task.type[len("activity:") :]
        message = f"activity {name} timed out ({kind}) on attempt {task.attempt}"
        # schedule-to-close ends all retrying; a retry of a schedule-to-start timeout would queue the same way
        failure = {
            "message": message,
            "type": "TimeoutFailure",
            "non_retryable": kind in ("SCHEDULE_TO_CLOSE", "SCHEDULE_TO_START"),
            "details": [{"timeout_type": kind}],
        }
        run = self.state.open_run(task.run_id)
        if run is None:
            self.state.finish_task(task, "failed", now, result={"failure": failure}, error=message)
            return
        self.fail(task, run, message, failure, {"failure": failure}, now, timeout_type=kind)

    def lease_lapsed(self, task: TaskRecord, run: RunRecord, now: float) -> None:
        """The agent stopped renewing: the attempt is lost, and counts as a failed attempt."""
        name = (task.payload or {}).get("activityType") or task.type[len("activity:") :]
        message = f"activity {name} attempt {task.attempt} was lost: its lease lapsed (agent {task.agent_id} stopped renewing it)"
        failure = {"message": message, "type": "LeaseExpired"}
        self.fail(task, run, message, failure, {"failure": failure}, now)

    def fail(
        self,
        task: TaskRecord,
        run: RunRecord,
        error: str,
        failure: Dict[str, Any],
        result: Any,
        now: float,
        *,
        timeout_type: Optional[str] = None,
    ) -> None:
        """An activity attempt failed: retry it under its policy, or record ActivityTaskFailed (Canceled, TimedOut) and wake the run."""
        payload = dict(task.payload or {})
        stack_trace = (result or {}).get("stderr") if isinstance(result, dict) else None
        if task.cancel_requested:
            self.state.finish_task(task, "failed", now, result=result, error=f"cancelled: {error}")
            self.state.record(run, "ActivityTaskCanceled", task.id, now, reason=run_cancel_reason(self.store, run))
            self.state.wake(run, now)
            return
        attempt = int(task.attempt or payload.get("attempt") or 1)
        first = task.first_scheduled_at or task.created_at
        delay = retry_delay(payload.get("retry"), attempt, failure, first, now)
        budget = activity_timeouts(payload).get("SCHEDULE_TO_CLOSE")
        if delay is not None and budget is not None and now + delay >= first + budget:
            delay = None  # the next attempt could not finish within schedule-to-close
        task.timeout_at = task.timeout_kind = None
        self.state.finish_task(task, "failed", now, result=result, error=error)
        details = {"error": error, "failure": failure, "timeout_type": timeout_type, "stack_trace": stack_trace}
        if delay is None:
            self.state.record(run, "ActivityTaskFailed", task.id, now, attempt=attempt, **details)
            self.state.wake(run, now)
            return
        payload["attempt"] = attempt + 1
        if task.heartbeat_details is not None:  # the next attempt can resume where this one stopped
            payload["heartbeatDetails"] = task.heartbeat_details
        retry = attrs.evolve(
            task,
            id=self.state.new_id(),
            state="queued",
            attempt=attempt + 1,
            agent_id=None,
            leased_until=None,
            result=None,
            error=None,
            payload=payload,
            created_at=now,
            updated_at=now,
            not_before=now + delay,
            wake_pending=False,
            cancel_requested=False,
            lease_token=None,
            attempt_started_at=None,
            last_heartbeat_at=None,
            heartbeat_details=None,
        )
        self.arm(retry)
        self.store.insert_task(retry)
        self.state.deadline_added(retry.not_before)
        self.state.record(
            run,
            "ActivityTaskRetryScheduled",
            retry.id,
            now,
            previous_task=task.id,
            attempt=retry.attempt,
            not_before=ts(now + delay),
            **details,
        )
        self.state.record(
            run,
            "ActivityTaskScheduled",
            retry.id,
            now,
            activity_type=payload.get("activityType") or task.type[len("activity:") :],
            attempt=retry.attempt,
            args=payload.get("args") or [],
        )
