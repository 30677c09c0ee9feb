"""``workflow.execute_activity`` and ``workflow.execute_child``: the commands that schedule work
for the run whose code is running (re-exported by ``postgrip_agent.workflow``)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Dict, Optional, Sequence, Union, cast

from . import types as wt
from ._compat import either
from ._compat import ms as compat_ms
from ._compat import run_timeout as run_timeout_compat
from ._encoding import duration_ms, encode_args, name_of, retry_json, return_type_of, timeout_ms
from ._runtime.futures import WorkflowFuture
from ._runtime.intercept import as_intercepted
from ._runtime.instance import running as _instance
from .interceptor import StartActivityInput, StartChildWorkflowInput

Duration = Union[timedelta, float, int]


def execute_activity(
    activity: Any,
    *positional: Any,
    start_to_close_timeout: Optional[Duration] = None,
    schedule_to_close_timeout: Optional[Duration] = None,
    heartbeat_timeout: Optional[Duration] = None,
    schedule_to_start_timeout: Optional[Duration] = None,
    retry_policy: Optional[wt.RetryPolicy] = None,
    cancellation_type: Optional[str] = None,
    task_queue: Optional[str] = None,
    retry: Optional[wt.RetryPolicy] = None,
    start_to_close_timeout_ms: Optional[int] = None,
    schedule_to_close_timeout_ms: Optional[int] = None,
    cancellationType: Optional[str] = None,  # noqa: N803 - the async SDK's spelling
    args: Optional[Sequence[Any]] = None,
    result_type: Optional[Any] = None,
) -> WorkflowFuture[Any]:
    """Schedule an activity; the future resolves to its result.

    Timeouts mean what they mean in Temporal, and the service enforces them. With neither a
    start-to-close nor a schedule-to-close timeout (as the async reference SDK allows) an attempt
    has no deadline: the Agent's ``default_start_to_close_timeout`` applies when set, else
    liveness comes from the attempt's lease and heartbeats alone. A timed-out attempt is retried
    under ``retry_policy``; when attempts run out the future fails with an [`ActivityError`][postgrip_agent.errors.ActivityError]
    whose ``cause`` is a [`TimeoutFailure`][postgrip_agent.errors.TimeoutFailure] naming the timeout.

    Args:
        activity: A function decorated with ``@activity.defn``, or its registered name.
        *positional: The activity's arguments, each converted to JSON by its type hints.
        start_to_close_timeout: Bounds one attempt (a timedelta or seconds).
        schedule_to_close_timeout: Bounds all attempts together, backoff included.
        heartbeat_timeout: The longest gap allowed between the activity's ``activity.heartbeat()`` calls.
        schedule_to_start_timeout: How long an attempt may wait for an agent to pick it up.
        retry_policy: How failed attempts are retried (a ``RetryPolicy``; default: the service's, unlimited
            attempts with backoff).
        cancellation_type: What cancelling the future does: ``"try_cancel"`` (default: resolve at once, ask the
            activity to stop), ``"wait_cancellation_completed"`` or ``"abandon"``.
        task_queue: Run it on another queue's agents (default: the workflow's queue).
        retry: The async SDK's spelling of ``retry_policy``.
        start_to_close_timeout_ms: ``start_to_close_timeout`` in milliseconds.
        schedule_to_close_timeout_ms: ``schedule_to_close_timeout`` in milliseconds.
        cancellationType: The async SDK's spelling of ``cancellation_type``.
        args: The arguments as a list, the async SDK's and Temporal's way (not with positional ones).
        result_type: The type the result converts to (default: the activity's return annotation; plain JSON
            without either).

    Returns:
        A future to ``yield`` (generator workflows) or ``await`` (``async def`` workflows).

    Raises:
        TypeError: Arguments given both positionally and as ``args``, or both spellings of one option.
    """
    if args is not None and positional:
        raise TypeError("execute_activity: pass the arguments positionally or as args=[...], not both")
    arguments = list(args) if args is not None else list(positional)
    instance = _instance("execute_activity")
    name = name_of(activity, "activity")
    retry_policy = either("retry_policy", retry_policy, "retry", retry)
    start_to_close_timeout = either(
        "start_to_close_timeout",
        start_to_close_timeout,
        "start_to_close_timeout_ms",
        compat_ms(start_to_close_timeout_ms, "start_to_close_timeout_ms"),
    )
    schedule_to_close_timeout = either(
        "schedule_to_close_timeout",
        schedule_to_close_timeout,
        "schedule_to_close_timeout_ms",
        compat_ms(schedule_to_close_timeout_ms, "schedule_to_close_timeout_ms"),
    )
    cancellation_type = either("cancellation_type", cancellation_type, "cancellationType", cancellationType) or "try_cancel"
    if cancellation_type not in wt.CANCELLATION_TYPES:
        raise ValueError(f"cancellation_type must be one of {', '.join(wt.CANCELLATION_TYPES)}, got {cancellation_type!r}")
    start_ms = timeout_ms(start_to_close_timeout, "start_to_close_timeout")
    schedule_ms = timeout_ms(schedule_to_close_timeout, "schedule_to_close_timeout")
    heartbeat_ms = timeout_ms(heartbeat_timeout, "heartbeat_timeout")
    queued_ms = timeout_ms(schedule_to_start_timeout, "schedule_to_start_timeout")
    if start_ms is None and schedule_ms is None:
        start_ms = instance.default_start_to_close_ms  # the Agent's default; None: no deadline at all
    attempt_limit = min((ms for ms in (start_ms, schedule_ms) if ms is not None), default=None)
    if heartbeat_ms is not None and attempt_limit is not None and heartbeat_ms >= attempt_limit:
        raise ValueError(
            f"execute_activity({name!r}): heartbeat_timeout ({heartbeat_ms / 1000:g} s) must be shorter than the attempt's "
            f"own timeout ({attempt_limit / 1000:g} s), or it can never fire"
        )
    retry_wire = retry_json(retry_policy)
    payload = {
        **instance.base_payload(),
        **wt.to_json(
            wt.ActivityInvocationPayload(
                activity_type=name,
                attempt=1,
                args=encode_args(arguments, f"activity {name!r} argument", instance.converter),
                cancellation_type=cast(wt.CancellationType, cancellation_type),
                cancellation_scope="non_cancellable" if instance.shielded() else None,
                retry=wt.from_json(retry_wire, wt.RetryPolicy) if retry_wire else None,
                start_to_close_timeout_ms=start_ms,
                schedule_to_close_timeout_ms=schedule_ms,
                heartbeat_timeout_ms=heartbeat_ms,
                schedule_to_start_timeout_ms=queued_ms,
            )
        ),
    }
    # the lease is only the agent's liveness signal: short enough to notice a dead agent soon
    bounds = [ms for ms in (attempt_limit, heartbeat_ms) if ms is not None]
    request: Dict[str, Any] = {
        "type": f"activity:{name}",
        "namespace": instance.info.namespace,
        "queue": task_queue or instance.info.task_queue,
        "payload": payload,
        "lease_timeout_seconds": max(1, min(30, math.ceil(min(bounds) / 1000))) if bounds else 30,
    }

    def on_cancel(future: WorkflowFuture[Any], error: BaseException) -> None:
        if cancellation_type != "wait_cancellation_completed":
            future.set_exception(error)

    def issue(input: StartActivityInput) -> WorkflowFuture[Any]:
        as_intercepted(payload, input.args, arguments, input.headers, f"activity {name!r} argument", instance.converter)
        future = instance.issue("activity", name, f"activity {name}", request, on_cancel)
        future.result_type = result_type if result_type is not None else return_type_of(activity)
        return future

    options = {"task_queue": request["queue"], "start_to_close_timeout_ms": start_ms, "retry": retry_wire}
    return instance.interception.start("start_activity", StartActivityInput(name, arguments, {}, options), issue)  # type: ignore[no-any-return]


def execute_activity_method(
    activity: Any,
    *positional: Any,
    start_to_close_timeout: Optional[Duration] = None,
    schedule_to_close_timeout: Optional[Duration] = None,
    heartbeat_timeout: Optional[Duration] = None,
    schedule_to_start_timeout: Optional[Duration] = None,
    retry_policy: Optional[wt.RetryPolicy] = None,
    cancellation_type: Optional[str] = None,
    task_queue: Optional[str] = None,
    retry: Optional[wt.RetryPolicy] = None,
    start_to_close_timeout_ms: Optional[int] = None,
    schedule_to_close_timeout_ms: Optional[int] = None,
    cancellationType: Optional[str] = None,  # noqa: N803 - the async SDK's spelling
    args: Optional[Sequence[Any]] = None,
    result_type: Optional[Any] = None,
) -> WorkflowFuture[Any]:
    """Temporal's spelling for an activity that is a method (``MyActivities.charge``): the same
    as [`execute_activity()`][postgrip_agent.workflow.execute_activity], with the same keywords."""
    return execute_activity(
        activity,
        *positional,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        task_queue=task_queue,
        retry=retry,
        start_to_close_timeout_ms=start_to_close_timeout_ms,
        schedule_to_close_timeout_ms=schedule_to_close_timeout_ms,
        cancellationType=cancellationType,
        args=args,
        result_type=result_type,
    )


def execute_child(
    workflow: Any,
    *positional: Any,
    id: Optional[str] = None,
    task_queue: Optional[str] = None,
    run_timeout: Optional[Duration] = None,
    retry_policy: Optional[wt.RetryPolicy] = None,
    id_reuse_policy: Optional[str] = None,
    cancellation_type: Optional[str] = None,
    args: Optional[Sequence[Any]] = None,
    workflow_id: Optional[str] = None,
    workflowId: Optional[str] = None,  # noqa: N803 - the async SDK's spellings, here and below
    taskQueue: Optional[str] = None,  # noqa: N803
    retry: Optional[wt.RetryPolicy] = None,
    cancellationType: Optional[str] = None,  # noqa: N803
    workflow_run_timeout: Any = None,
    workflow_run_timeout_ms: Optional[int] = None,
    lease_timeout_seconds: Optional[float] = None,
    leaseTimeoutSeconds: Optional[float] = None,  # noqa: N803
    result_type: Optional[Any] = None,
) -> WorkflowFuture[Any]:
    """Start a child workflow; the future resolves to its result.

    Args:
        workflow: The child: a ``@workflow.defn`` class, its run method, or its registered name.
        *positional: The child's arguments.
        id: The child's workflow id (default: the parent's id, ``-child-`` and a number, the same on every
            replay).
        task_queue: The queue the child runs on (default: the parent's).
        run_timeout: Fail the child after this long (a timedelta or seconds).
        retry_policy: Retry the whole child run on failure.
        id_reuse_policy: As for ``Client.start_workflow``.
        cancellation_type: What cancelling the future does: ``"try_cancel"``, ``"wait_cancellation_completed"``
            or ``"abandon"``.
        args: The arguments as a list (not with positional ones).
        workflow_id: The async SDK's spelling of ``id``.
        workflowId: Another of the async SDK's spellings of ``id``.
        taskQueue: The async SDK's spelling of ``task_queue``.
        retry: The async SDK's spelling of ``retry_policy``.
        cancellationType: The async SDK's spelling of ``cancellation_type``.
        workflow_run_timeout: The async SDK's spelling of ``run_timeout`` (a number is milliseconds).
        workflow_run_timeout_ms: ``run_timeout`` in milliseconds.
        lease_timeout_seconds: How long an agent may hold one of the child's workflow tasks.
        leaseTimeoutSeconds: The async SDK's spelling of ``lease_timeout_seconds``.
        result_type: The type the result converts to (default: the child's run method's return annotation).

    Returns:
        A future to ``yield`` or ``await``; it fails with a [`ChildWorkflowError`][postgrip_agent.errors.ChildWorkflowError] if the child does.

    Raises:
        TypeError: Arguments given both positionally and as ``args``, or two spellings of one option.
    """
    instance = _instance("execute_child")
    child_type = name_of(workflow, "child workflow")
    if args is not None and positional:
        raise TypeError("execute_child: pass the arguments positionally or as args=[...], not both")
    child_id = either("id", id, "workflow_id", either("workflow_id", workflow_id, "workflowId", workflowId))
    child_id = child_id or f"{instance.info.workflow_id}-child-{instance.issued + 1}"
    retry_policy = either("retry_policy", retry_policy, "retry", retry)
    cancellation_type = either("cancellation_type", cancellation_type, "cancellationType", cancellationType)
    run_timeout = run_timeout_compat(run_timeout, workflow_run_timeout, workflow_run_timeout_ms)
    lease = either("lease_timeout_seconds", lease_timeout_seconds, "leaseTimeoutSeconds", leaseTimeoutSeconds)
    payload: Dict[str, Any] = {
        "namespace": instance.info.namespace,
        "workflowType": child_type,
        "workflowId": child_id,
        "parentWorkflowId": instance.info.workflow_id,
        "parentWorkflowRunId": instance.info.run_id,
        "parentWorkflowTaskId": instance.info.task_id,
        "args": encode_args(
            list(args) if args is not None else list(positional), f"child workflow {child_type!r} argument", instance.converter
        ),
    }
    optional: Dict[str, Any] = {
        "parentCancellationType": cancellation_type,
        "runTimeoutMs": duration_ms(run_timeout, "run_timeout"),
        "retry": retry_json(retry_policy),
        "workflowIdReusePolicy": id_reuse_policy,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    request: Dict[str, Any] = {
        "type": f"workflow:{child_type}",
        "namespace": instance.info.namespace,
        "queue": either("task_queue", task_queue, "taskQueue", taskQueue) or instance.info.task_queue,
        "payload": payload,
    }
    if lease is not None:
        request["lease_timeout_seconds"] = max(1, math.ceil(float(lease)))
    kind = cancellation_type or "wait_cancellation_completed"

    def on_cancel(future: WorkflowFuture[Any], error: BaseException) -> None:
        # Temporal's child cancellation: the child is asked to cancel (unless abandoned); the parent
        # waits for it to end (the default), or fails at once (try_cancel, abandon)
        if kind != "abandon" and not instance.query_mode:
            instance.child_cancels.append((child_id, str(error) or "parent cancelled the child"))
        if kind != "wait_cancellation_completed":
            future.set_exception(error)

    given = list(args) if args is not None else list(positional)

    def issue(input: StartChildWorkflowInput) -> WorkflowFuture[Any]:
        as_intercepted(payload, input.args, given, input.headers, f"child workflow {child_type!r} argument", instance.converter)
        future = instance.issue("child", child_type, f"child workflow {child_type} ({child_id})", request, on_cancel)
        future.result_type = result_type if result_type is not None else return_type_of(workflow)
        return future

    start = StartChildWorkflowInput(child_type, given, child_id, {}, {"task_queue": request["queue"]})
    return instance.interception.start("start_child_workflow", start, issue)  # type: ignore[no-any-return]
