"""What a client can learn about a run beyond its WorkflowExecution: the cause chain and stack
trace of its failure, and its pending activities (as Temporal's describe shows them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, List, Optional

import attrs

from . import types as wt
from .connection import quote_segment as _q
from .errors import (
    ActivityError,
    ApplicationFailure,
    CancelledFailure,
    TerminatedFailure,
    TimeoutFailure,
    failure_from_info,
    failure_info,
    rebuild_failure,
)

Request = Callable[..., Any]


@attrs.define
class PendingActivity:
    """An activity of a running workflow that has not finished for good."""

    activity_id: str  #: the current attempt's task id
    activity_type: str
    attempt: int
    state: str  #: queued (waiting for an agent or its retry backoff), leased (running) or blocked
    scheduled_time: Optional[datetime] = None
    next_attempt_time: Optional[datetime] = None  #: when a retry becomes available (after its backoff)
    last_heartbeat_time: Optional[datetime] = None
    heartbeat_details: Optional[Dict[str, Any]] = None
    last_failure: Optional[Dict[str, Any]] = None  #: FailureInfo of the previous attempt
    last_failure_stack_trace: Optional[str] = None
    agent_id: Optional[str] = None


@attrs.define
class WorkflowDescription(wt.WorkflowExecution):
    """A run as ``describe()`` reports it: the WorkflowExecution, and its pending activities."""

    pending_activities: List[PendingActivity] = attrs.Factory(list)


def pending_activities(request: Request, run_id: str) -> List[PendingActivity]:
    events = request("GET", f"/api/v1/workflows/{_q(run_id)}/history")
    finished = {
        e.get("task_id") for e in events if e["type"] in ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskCanceled")
    }
    retried_from: Dict[str, Dict[str, Any]] = {}
    for event in events:
        if event["type"] == "ActivityTaskRetryScheduled":
            retried_from[event.get("task_id") or ""] = event.get("attributes") or {}
    pending: List[PendingActivity] = []
    for event in events:
        task_id = event.get("task_id")
        if event["type"] != "ActivityTaskScheduled" or not task_id or task_id in finished:
            continue
        task = request("GET", f"/api/v1/tasks/{_q(task_id)}")
        if task["state"] in wt.TERMINAL_TASK_STATES:
            continue  # an attempt that failed and was retried: its retry is listed instead
        attributes = event.get("attributes") or {}
        previous = retried_from.get(task_id) or {}
        heartbeats = [
            e
            for e in request("GET", f"/api/v1/tasks/{_q(task_id)}/events")
            if e.get("kind") == "heartbeat" and e.get("stage") != "lease"
        ]
        payload = task.get("payload") or {}
        details = heartbeats[-1].get("details") if heartbeats else payload.get("heartbeatDetails")
        pending.append(
            PendingActivity(
                activity_id=task_id,
                activity_type=str(attributes.get("activity_type") or task["type"].split(":", 1)[-1]),
                attempt=int(task.get("attempt") or attributes.get("attempt") or 1),
                state=task["state"],
                scheduled_time=_when(payload.get("scheduledAt")),
                next_attempt_time=_when(task.get("not_before")),
                last_heartbeat_time=_when(heartbeats[-1]["created_at"]) if heartbeats else None,
                heartbeat_details=details if isinstance(details, dict) else None,
                last_failure=previous.get("failure"),
                last_failure_stack_trace=previous.get("stack_trace"),
                agent_id=task.get("agent_id"),
            )
        )
    return pending


def _when(value: Any) -> Optional[datetime]:
    return wt.parse_timestamp(value) if isinstance(value, str) else None


def classify_failure(run: wt.WorkflowExecution, request: Optional[Request] = None) -> "tuple[str, BaseException]":
    """(status, cause) of a run that did not succeed. With ``request``, a failure our agent
    reported is rebuilt with its chain (an ActivityError and what ended the activity)."""
    result = run.result
    failure = result.failure if result and result.failure else None
    info = wt.to_json(failure) if failure else {"message": run.error or "workflow failed"}
    message = str(info.get("message") or run.error or "workflow failed")
    stack = result.stderr if result else None
    status = run.status
    if status == "TERMINATED":
        return "terminated", TerminatedFailure(message)
    if status == "TIMED_OUT":
        return "timed_out", TimeoutFailure(message)
    if status == "CANCELED":
        return "cancelled", CancelledFailure(message)
    cause: BaseException = failure_from_info(info, message)
    chain = _failure_chain(request, run.task_id) if request is not None else None
    if chain and chain[0].get("type") == "ActivityError" and len(chain) > 1:
        head = chain[0]
        root = rebuild_failure(chain[1])
        root.stack_trace = stack  # type: ignore[attr-defined]
        cause = ActivityError(
            root,
            activity_type=str(head.get("activity_type") or "activity"),
            activity_id=head.get("activity_id"),
            attempt=head.get("attempt"),
        )
    elif info.get("type") == "TimeoutFailure":  # an activity's timeout that failed the run
        cause = rebuild_failure(info, message)
    if isinstance(cause, (ApplicationFailure, TimeoutFailure)):
        cause.stack_trace = stack
    return "failed", cause


def _failure_chain(request: Request, task_id: str) -> Optional[List[Dict[str, Any]]]:
    """The cause chain our agent recorded on the workflow task's ``failed`` event, if any."""
    try:
        events = request("GET", f"/api/v1/tasks/{_q(task_id)}/events")
    except Exception:  # a service that lost the events (compacted): the flat failure stands
        return None
    for event in reversed(events):
        chain = (event.get("details") or {}).get("failure_chain") if event.get("kind") == "failed" else None
        if isinstance(chain, list) and all(isinstance(link, dict) for link in chain):
            return chain
    return None


def failure_chain(error: BaseException) -> List[Dict[str, Any]]:
    """The links of an exception's cause chain, as our agent records them on a failed workflow task."""
    links: List[Dict[str, Any]] = []
    node: Optional[BaseException] = error
    while node is not None and len(links) < 8:
        if isinstance(node, ActivityError):
            links.append(
                {
                    "type": "ActivityError",
                    "message": str(node),
                    "activity_type": node.activity_type,
                    "activity_id": node.activity_id,
                    "attempt": node.attempt,
                }
            )
            node = node.cause
            continue
        link: Dict[str, Any] = {
            "type": getattr(node, "type", None) or type(node).__name__,
            "message": getattr(node, "message", None) or str(node),
        }
        if isinstance(node, TimeoutFailure):
            link["type"], link["timeout_type"] = "TimeoutFailure", node.timeout_type
        if isinstance(node, ApplicationFailure):
            link["non_retryable"], link["details"] = node.non_retryable, failure_info(node).get("details") or []
        links.append(link)
        node = node.__cause__
    return links


#: the run states a caller may name for a status the wire has no state for (the CLI's words)
_STATUS_NAMES = {
    "cancelled": "CANCELED",
    "canceled": "CANCELED",
    "terminated": "TERMINATED",
    "timed_out": "TIMED_OUT",
    "completed": "COMPLETED",
}
_WIRE_STATE = {"RUNNING": "running", "COMPLETED": "succeeded", "CONTINUED_AS_NEW": "continued_as_new"}


def state_and_status(state: Optional[str], status: Optional[str]) -> "tuple[Optional[str], Optional[str]]":
    """The wire ``state`` filter to send, and the ``status`` (Temporal's name) runs must also have
    (None: any), for a listing given a state (a wire state, or a status such as ``cancelled``)
    and/or a status. A failed run's status is known only from its answer, so FAILED, CANCELED,
    TERMINATED and TIMED_OUT are filtered after the service answers."""
    if state is not None and state not in wt.WORKFLOW_STATES:
        named = _STATUS_NAMES.get(state.lower()) or (state.upper() if state.upper() in wt.WORKFLOW_STATUSES else None)
        if named is None:
            raise ValueError(
                f"state must be one of {', '.join(wt.WORKFLOW_STATES)} or a status "
                f"({', '.join(sorted(_STATUS_NAMES))}), got {state!r}"
            )
        if status is not None and status.upper() != named:
            raise ValueError(f"state {state!r} and status {status!r} disagree: give one")
        state, status = None, named
    if status is None:
        return state, None
    status = status.upper()
    if status not in wt.WORKFLOW_STATUSES:
        raise ValueError(f"status must be one of {', '.join(wt.WORKFLOW_STATUSES)}, got {status!r}")
    wire = _WIRE_STATE.get(status, "failed")
    if state is not None and state != wire:
        raise ValueError(f"state {state!r} and status {status!r} disagree: give one")
    return wire, (status if wire == "failed" else None)


@attrs.define
class TaskQueuePoller:
    """An agent that polls a queue: its id, the task types it takes (empty: every type), when last seen."""

    agent_id: str
    task_types: List[str]
    last_seen: Optional[datetime]


@attrs.define
class TaskQueueDescription:
    """A task queue as the service knows it from agents' polls: who polls it, and its backlog
    (queued tasks per type)."""

    namespace: str
    queue: str
    pollers: List[TaskQueuePoller]
    backlog: Dict[str, int] = attrs.field(factory=dict)

    def takes(self, task_type: str) -> List[TaskQueuePoller]:
        """The pollers that take ``task_type`` (e.g. ``"workflow:Billing"``)."""
        return [p for p in self.pollers if not p.task_types or task_type.startswith(tuple(p.task_types))]


def describe_task_queue(request: Request, namespace: str, queue: str) -> TaskQueueDescription:
    """``GET /api/v1/task-queues/{queue}`` (the service's ``task-queues`` extension)."""
    from .errors import NotFoundError

    try:
        raw = request("GET", f"/api/v1/task-queues/{_q(queue)}", params={"namespace": namespace})
    except NotFoundError as err:
        raise NotFoundError(
            f"this service does not describe task queues (it lacks the local service's 'task-queues' extension): {err.message}",
            status=err.status,
            code=err.code,
            method=err.method,
            url=err.url,
        ) from None
    return TaskQueueDescription(
        namespace=raw.get("namespace", namespace),
        queue=raw.get("queue", queue),
        pollers=[
            TaskQueuePoller(p["agent_id"], list(p.get("task_types") or []), _when(p.get("last_seen")))
            for p in raw.get("pollers") or []
        ],
        backlog={str(k): int(v) for k, v in (raw.get("backlog") or {}).items()},
    )
