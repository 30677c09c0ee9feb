"""Running activity tasks on the agent's thread pool."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Dict, List, Optional

from .._encoding import decode_args, encode_value
from ..activity import ActivityContext, ActivityInfo, _context
from ..errors import CancelledFailure, failure_info
from .lane import AgentLane, TaskGone
from .leases import LeaseKeeper

log = logging.getLogger("postgrip_agent.agent")


class ActivityTaskRunner:
    def __init__(self, lane: AgentLane, activities: Dict[str, Any], leases: LeaseKeeper) -> None:
        self.lane = lane
        self.activities = activities
        self.leases = leases

    def run(self, task: Dict[str, Any]) -> None:
        payload = task.get("payload") or {}
        name = payload.get("activityType") or task["type"][len("activity:"):]
        target = self.activities.get(name)
        info = ActivityInfo(
            task_id=task["id"], activity_type=name, attempt=int(payload.get("attempt") or task.get("attempt") or 1),
            namespace=task["namespace"], task_queue=task["queue"], workflow_id=payload.get("workflowId"),
            workflow_run_id=payload.get("workflowRunId"),
        )
        ctx = ActivityContext(info, send_heartbeat=lambda details: self._heartbeat(ctx, details),
                              send_event=lambda event: self._event(ctx, event))
        lease = float(task.get("lease_timeout_seconds") or 30)
        self.leases.track(task["id"], lease, until=time.monotonic() + lease if payload.get("startToCloseTimeoutMs") else None,
                          on_lost=lambda: setattr(ctx, "cancelled", True))
        try:
            if target is None:
                message = f"activity {name} is not registered with this agent"
                self.lane.fail(task["id"], message, {"message": message, "type": "ActivityNotRegistered", "non_retryable": True})
                return
            self._execute(ctx, target, list(payload.get("args") or []))
        except TaskGone as err:
            log.info("activity task %s (%s) was taken from this agent: %s", task["id"], name, err)
        finally:
            self.leases.release(task["id"])

    def _execute(self, ctx: ActivityContext, target: Any, args: List[Any]) -> None:
        task_id = ctx.info.task_id
        token = _context.set(ctx)
        try:
            value = target(*decode_args(target, args, f"activity {ctx.info.activity_type}"))
            if inspect.iscoroutine(value):
                value = asyncio.run(value)
            result: Optional[Dict[str, Any]] = {"value": encode_value(value, f"activity {ctx.info.activity_type} result")}
            error: Optional[BaseException] = None
        except BaseException as err:  # any failure of user code is reported, not raised
            if not isinstance(err, Exception):
                raise
            result, error = None, err
        finally:
            _context.reset(token)
        if error is None:
            assert result is not None
            self.lane.complete(task_id, result)
            return
        if isinstance(error, CancelledFailure):
            log.info("activity %s (task %s) cancelled: %s", ctx.info.activity_type, task_id, error)
        else:
            log.info("activity %s (task %s) failed: %r", ctx.info.activity_type, task_id, error)
        self.lane.fail(task_id, str(error) or type(error).__name__, failure_info(error))

    def _heartbeat(self, ctx: ActivityContext, details: Optional[Dict[str, Any]]) -> None:
        if ctx.cancelled:
            raise CancelledFailure(f"activity {ctx.info.activity_type} was cancelled or lost its lease")
        try:
            self.lane.heartbeat(ctx.info.task_id, encode_value(details, "heartbeat details") if details is not None else None)
        except TaskGone as err:
            ctx.cancelled = True
            raise CancelledFailure(f"activity {ctx.info.activity_type} cancelled: {err}") from err
        self.leases.renewed(ctx.info.task_id)

    def _event(self, ctx: ActivityContext, event: Dict[str, Any]) -> None:
        try:
            self.lane.event(ctx.info.task_id, event)
        except TaskGone as err:
            ctx.cancelled = True
            raise CancelledFailure(f"activity {ctx.info.activity_type} cancelled: {err}") from err
