"""Running activity tasks on the agent's thread pool."""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from datetime import timedelta
from typing import Any, Dict, List, Optional, Sequence

from .._encoding import decode_args, encode_value
from ..activity import ActivityContext, ActivityInfo, use_context
from ..converter import DEFAULT, DataConverter, PayloadConversionError
from ..errors import ApplicationFailure, CancelledFailure, failure_info
from ..interceptor import ExecuteActivityInput, Interceptor, through_activity
from .. import types as wt
from ..types import parse_timestamp
from .dispatch import LocalDispatch
from .interrupt import ActivityInterrupted, ThreadGuard
from .lane import AgentLane, TaskGone
from .leases import HANDED_BACK, LOCAL_DEADLINE, LeaseKeeper

log = logging.getLogger("postgrip_agent.agent")


_TIMEOUT_KEYS = [wt.wire_name(wt.ActivityInvocationPayload, field) for field in wt.ACTIVITY_TIMEOUT_FIELDS.values()]


def _timeouts(payload: Dict[str, Any]) -> Dict[str, Optional[timedelta]]:
    """The activity's timeouts by kind, read through the typed payload (a foreign scheduler's
    malformed ones read as unset: the service, which enforces them, has checked them already)."""
    try:  # only the timeouts: the rest is the workflow's business (and a foreign SDK's shapes)
        typed = wt.from_json({key: payload[key] for key in _TIMEOUT_KEYS if key in payload}, wt.ActivityInvocationPayload)
    except Exception:  # cattrs raises several exception types
        return dict.fromkeys(wt.ACTIVITY_TIMEOUT_FIELDS)
    found: Dict[str, Optional[timedelta]] = {}
    for kind, field in wt.ACTIVITY_TIMEOUT_FIELDS.items():
        value = getattr(typed, field)
        found[kind] = timedelta(milliseconds=value) if value else None
    return found


def _when(value: Any) -> Any:
    try:
        return parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return None


def activity_info(task: Dict[str, Any], name: str, converter: DataConverter = DEFAULT) -> ActivityInfo:
    payload = task.get("payload") or {}
    details = converter.open(payload.get("heartbeatDetails"), f"activity {name} heartbeat details")
    timeouts = _timeouts(payload)
    return ActivityInfo(
        task_id=task["id"],
        activity_type=name,
        attempt=int(task.get("attempt") or payload.get("attempt") or 1),
        namespace=task["namespace"],
        task_queue=task["queue"],
        workflow_id=payload.get("workflowId"),
        workflow_run_id=payload.get("workflowRunId"),
        scheduled_time=_when(payload.get("scheduledAt")),
        current_attempt_scheduled_time=_when(task.get("not_before") or task.get("created_at")),
        start_to_close_timeout=timeouts["START_TO_CLOSE"],
        schedule_to_close_timeout=timeouts["SCHEDULE_TO_CLOSE"],
        heartbeat_timeout=timeouts["HEARTBEAT"],
        schedule_to_start_timeout=timeouts["SCHEDULE_TO_START"],
        heartbeat_details=details if isinstance(details, dict) else None,
    )


def _run(input: ExecuteActivityInput) -> Any:
    """The end of the activity chain: call it (an ``async def`` activity runs in an event loop of its own)."""
    value = input.fn(*input.args)
    return asyncio.run(value) if inspect.iscoroutine(value) else value


def _converted(convert: Any, *args: Any) -> Any:
    """``convert(*args)``; a value that does not convert fails the attempt for good (retrying
    would convert it the same way), naming the value and the field."""
    try:
        return convert(*args)
    except PayloadConversionError as err:
        raise ApplicationFailure(str(err), type="PayloadConversionError", non_retryable=True) from None


class ActivityTaskRunner:
    def __init__(
        self,
        lane: AgentLane,
        activities: Dict[str, Any],
        leases: LeaseKeeper,
        lease_seconds: float = 10.0,
        handback: Optional[LocalDispatch] = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        #: run around each attempt (the activity inbound chain)
        self.interceptors = tuple(interceptors)
        self.lane = lane
        self.activities = activities
        self.leases = leases
        #: how soon the service notices this agent is gone (the lease it keeps renewing)
        self.lease_seconds = lease_seconds
        #: the agent's workflow lane: a completion may bring back the workflow task it woke
        self.handback = handback
        #: arguments, results and heartbeat details to and from the wire
        self.converter = lane.connection.data_converter

    def run(self, task: Dict[str, Any]) -> bool:
        """Run one attempt and report it; True when the activity returned, False when it failed."""
        payload = task.get("payload") or {}
        name = payload.get("activityType") or task["type"][len("activity:") :]
        target = self.activities.get(name)
        guard = ThreadGuard()
        ctx = ActivityContext(
            activity_info(task, name, self.converter),
            send_heartbeat=lambda details: self._heartbeat(ctx, details),
            send_event=lambda event: self._event(ctx, event),
        )
        # the lease is renewed for as long as the attempt runs; its timeouts are the service's
        limit = ctx.info.start_to_close_timeout
        self.leases.track(
            task["id"],
            float(task.get("lease_timeout_seconds") or 30),
            on_lost=lambda reason: self._stop(ctx, guard, reason),
            deadline_seconds=limit.total_seconds() if limit else None,
            renew_as=self.lease_seconds,
        )
        try:
            if target is None:
                message = f"activity {name} is not registered with this agent"
                self.lane.fail(task["id"], message, {"message": message, "type": "ActivityNotRegistered", "non_retryable": True})
                return False
            given = payload.get("headers")
            headers: Dict[str, Any] = given if isinstance(given, dict) else {}
            return self._execute(ctx, guard, target, list(payload.get("args") or []), headers)
        except TaskGone as err:
            log.info(
                "activity %s (task %s, attempt %d): its outcome was dropped, the service had already ended the attempt: %s",
                name,
                task["id"],
                ctx.info.attempt,
                err,
            )
            return False
        finally:
            self.leases.release(task["id"])

    def _stop(self, ctx: ActivityContext, guard: ThreadGuard, reason: str) -> None:
        """The service ended the attempt (it timed out, or was cancelled): stop the code."""
        ctx.cancelled, ctx.cancel_reason = True, reason
        if guard.interrupt():
            log.info(
                "activity %s (task %s): attempt ended by the service (%s); interrupting its thread",
                ctx.info.activity_type,
                ctx.info.task_id,
                reason,
            )

    def _execute(self, ctx: ActivityContext, guard: ThreadGuard, target: Any, args: List[Any], headers: Dict[str, Any]) -> bool:
        task_id = ctx.info.task_id
        result: Optional[Dict[str, Any]] = None
        error: Optional[BaseException] = None
        trace = ""
        with use_context(ctx):
            try:
                try:
                    guard.enter()
                    try:
                        decoded = _converted(decode_args, target, args, f"activity {ctx.info.activity_type}", self.converter)
                        value = through_activity(self.interceptors, ExecuteActivityInput(target, decoded, headers), _run)
                    finally:
                        guard.leave()
                    result = {
                        "value": _converted(encode_value, value, f"activity {ctx.info.activity_type} result", self.converter)
                    }
                except BaseException as err:  # any failure of user code is reported, not raised
                    if not isinstance(err, Exception):
                        raise
                    error, trace = err, traceback.format_exc()
            except ActivityInterrupted as err:  # delivered just as the code finished
                error, trace = err, traceback.format_exc()
        if error is None:
            assert result is not None
            self._complete(ctx, result)
            return True
        where = f"activity {ctx.info.activity_type} (task {task_id}, attempt {ctx.info.attempt})"
        if isinstance(error, CancelledFailure) and ctx.cancel_reason in (LOCAL_DEADLINE, HANDED_BACK):
            # the service times the attempt out itself (and retries it), or another agent takes the
            # task handed back: a report from here could only race them with a cancellation
            log.info("%s stopped: %s", where, ctx.cancel_reason)
            return False
        if isinstance(error, CancelledFailure):
            log.info("%s cancelled: %s", where, ctx.cancel_reason or error)
        else:
            log.warning("%s failed: %r", where, error, exc_info=error)
        self.lane.fail(task_id, str(error) or type(error).__name__, failure_info(error), stack_trace=trace)
        return False

    def _complete(self, ctx: ActivityContext, result: Dict[str, Any]) -> None:
        """Report the result; with a free workflow slot, take back the workflow task it wakes."""
        handback = self.handback
        if handback is None or not ctx.info.workflow_run_id or not handback.reserve(1):
            self.lane.complete(ctx.info.task_id, result)
            return
        following = None
        try:
            following = self.lane.complete_and_next(ctx.info.task_id, result, handback.queue, handback.types)
        finally:
            if following is not None:
                handback.dispatch(following)
            else:
                handback.release(1)

    def _heartbeat(self, ctx: ActivityContext, details: Optional[Dict[str, Any]]) -> None:
        if ctx.cancelled:
            raise CancelledFailure(f"activity {ctx.info.activity_type} cancelled: {ctx.cancel_reason or 'its attempt ended'}")
        try:
            self.lane.heartbeat(
                ctx.info.task_id, self.converter.encode(details, "heartbeat details") if details is not None else None
            )
        except TaskGone as err:
            ctx.cancelled, ctx.cancel_reason = True, str(err)
            raise CancelledFailure(f"activity {ctx.info.activity_type} cancelled: {err}") from err
        self.leases.renewed(ctx.info.task_id)

    def _event(self, ctx: ActivityContext, event: Dict[str, Any]) -> None:
        try:
            self.lane.event(ctx.info.task_id, event)
        except TaskGone as err:
            ctx.cancelled, ctx.cancel_reason = True, str(err)
            raise CancelledFailure(f"activity {ctx.info.activity_type} cancelled: {err}") from err
