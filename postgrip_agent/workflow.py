"""The workflow API: decorators, and helpers called from inside a workflow.

Helpers return [`WorkflowFuture`][postgrip_agent.workflow.WorkflowFuture] objects that issue their command when called and
can be yielded (generator workflows) or awaited (``async def`` workflows)::

    @workflow.defn
    class Greeting:
        @workflow.run
        def run(self, name: str):
            greeting = yield workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))
            return greeting

Everything here delegates to the run being replayed, which the agent installs; nothing
imports the agent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid as _uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, NoReturn, Optional, Sequence, Tuple, TypeVar, Union, cast, overload


from . import types as wt
from ._compat import either
from ._compat import ms as compat_ms
from ._compat import run_timeout as run_timeout_compat
from ._handlers import decorated_handlers
from ._handlers import query as query  # the decorators, re-exported: workflow.signal etc.
from ._handlers import signal as signal
from ._handlers import update as update
from ._handlers import (  # message definitions by name, the async SDK's style
    QueryDefinition as QueryDefinition,
    SignalDefinition as SignalDefinition,
    UpdateDefinition as UpdateDefinition,
    define_query as define_query,
    define_signal as define_signal,
    define_update as define_update,
    set_handler as set_handler,
)
from .interceptor import StartActivityInput, StartChildWorkflowInput
from ._encoding import duration_ms, encode_args, milestone_event, name_of, plain_value, retry_json, return_type_of, timeout_ms
from ._runtime.intercept import as_intercepted
from ._logging import ContextLogger
from ._runtime.futures import WorkflowFuture, resolved, wait_all, wait_any
from ._runtime import patches as _patches
from ._runtime import sandbox as _sandbox
from ._scopes import CancellationScope
from ._runtime.contract import RunningWorkflow
from ._runtime.instance import WorkflowInstance, current, running
from ._runtime.records import ContinueAsNew, WorkflowInfo
from ._runtime.unsafe import unsafe as unsafe


__all__ = [
    "defn",
    "run",
    "now",
    "info",
    "sleep",
    "execute_activity",
    "execute_child",
    "continue_as_new",
    "milestone",
    "random",
    "uuid4",
    "wait_all",
    "wait_any",
    "condition",
    "define_signal",
    "define_query",
    "define_update",
    "set_handler",
    "CancellationScope",
    "cancellation_requested",
    "is_replaying",
    "WorkflowFuture",
    "WorkflowInfo",
    "SignalDefinition",
    "QueryDefinition",
    "UpdateDefinition",
    "ContinueAsNew",
    "logger",
    "unsafe",
    "signal",
    "query",
    "update",
    "wait_condition",
    "execute_activity_method",
    "workflow_name",
    "workflow_run_method",
    "proxy_activities",
    "patched",
    "deprecate_patch",
    "ContinueAsNewCommand",
    "run_in_workflow_runtime",
    "validate_workflow_sandbox",
    "workflow_info",
    "memo",
    "memo_value",
    "upsert_search_attributes",
]

#: the async SDK's name for what ``continue_as_new`` raises (never catch it in workflow code)
ContinueAsNewCommand = ContinueAsNew

T = TypeVar("T")
C = TypeVar("C")
Duration = Union[timedelta, float, int]


def _run_context() -> Optional[Tuple[Dict[str, Any], str]]:
    instance = current.get()
    if instance is None:
        return None
    info = instance.info
    fields = {
        "workflow_id": info.workflow_id,
        "run_id": info.run_id,
        "workflow_type": info.workflow_type,
        "attempt": info.attempt,
    }
    return fields, f"{info.workflow_type} {info.workflow_id}"


def _replaying() -> bool:
    instance = current.get()
    return instance is not None and (instance.is_replaying() or instance.query_mode)


#: the logger for workflow code: ``workflow.logger.info("charged %s", order_id)``
logger = ContextLogger(logging.getLogger("postgrip_agent.workflow"), _run_context, _replaying)
"""The logger for workflow code (``postgrip_agent.workflow``): silent while an activation re-runs
what an earlier one did, while a query or update is answered from a replay, and while a dropped
instance is torn down; records carry ``workflow_id``, ``run_id``, ``workflow_type`` and ``attempt``."""


_instance: Callable[[str], RunningWorkflow] = running  # what workflow code may use of its run: the contract


def run_in_workflow_runtime(runtime: WorkflowInstance, fn: Callable[[], Any]) -> Any:
    """Call ``fn`` as code of the workflow run ``runtime`` (what the scheduler does around each
    step): ``workflow.now()``, ``execute_activity`` and the rest act on that run."""
    if not isinstance(runtime, WorkflowInstance):
        raise TypeError(f"run_in_workflow_runtime takes a workflow instance, got {type(runtime).__name__}")
    token = current.set(runtime)
    try:
        return fn()
    finally:
        current.reset(token)


def validate_workflow_sandbox(workflow: Any) -> None:
    """Check a workflow's code for calls that break replay (the check an Agent makes when it
    registers it); raises ValueError naming each one. ``@workflow.defn(sandboxed=False)`` skips it."""
    if getattr(workflow, "_postgrip_workflow_sandboxed", True):
        _sandbox.check(workflow, name_of(workflow, "workflow"))


# ------------------------------------------------------------------ decorators


@overload
def defn(cls: C, /) -> C: ...


@overload
def defn(*, name: Optional[str] = None, sandboxed: bool = True) -> Callable[[C], C]: ...


def defn(cls: Any = None, /, *, name: Optional[str] = None, sandboxed: bool = True) -> Any:
    """Mark a class (with a ``@workflow.run`` method) or a function as a workflow."""

    def decorate(target: Any) -> Any:
        target._postgrip_workflow_name = name or target.__name__
        target._postgrip_workflow_sandboxed = sandboxed
        if isinstance(target, type):
            runs = [v for v in vars(target).values() if callable(v) and getattr(v, "_postgrip_workflow_run", False)]
            setattr(target, "_postgrip_run_method", runs[0] if len(runs) == 1 else None)
            setattr(target, "_postgrip_run_methods", len(runs))
            setattr(target, "_postgrip_handlers", decorated_handlers(target))
            if len(runs) == 1:  # ``client.execute_workflow(MyWorkflow.run, ...)`` names the workflow
                setattr(runs[0], "_postgrip_workflow_name", getattr(target, "_postgrip_workflow_name"))
        else:
            target._postgrip_run_method = target
        return target

    return decorate(cls) if cls is not None else decorate


def run(fn: T) -> T:
    """Mark the entry point of a ``@workflow.defn`` class."""
    fn._postgrip_workflow_run = True  # type: ignore[attr-defined]
    return fn


# ------------------------------------------------------------------ deterministic context


def now() -> datetime:
    """The time of the history event being replayed: the same on every replay."""
    return _instance("now").now


def info() -> WorkflowInfo:
    """What this workflow knows about its run ([`WorkflowInfo`][postgrip_agent.workflow.WorkflowInfo])."""
    return _instance("info").info


workflow_info = info
"""The async SDK's name for [`info()`][postgrip_agent.workflow.info]."""

_NO_DEFAULT: Any = object()


def memo() -> Dict[str, Any]:
    """The run's memo, as given when it was started (Temporal's ``workflow.memo()``), as plain
    JSON (``memo_value(key, type_hint=...)`` gives one entry typed)."""
    instance = _instance("memo")
    raw = instance.history.started.attributes.get("memo") or {}
    return {key: instance.converter.open(value, f"memo {key!r}") for key, value in raw.items()}


def memo_value(key: str, default: Any = _NO_DEFAULT, *, type_hint: Any = None) -> Any:
    """One entry of the run's memo; without ``default``, a missing key raises KeyError (as in
    Temporal). The value comes back as ``type_hint`` (a dataclass, a date...) when given, else as
    plain JSON; a memo written through codecs is opened either way."""
    values = memo()
    if key in values:
        return _instance("memo_value").converter.decode(values[key], type_hint, f"memo {key!r}")
    if default is _NO_DEFAULT:
        raise KeyError(f"the run's memo has no {key!r} (it has: {', '.join(sorted(values)) or 'nothing'})")
    return default


def random() -> float:
    """A float in [0, 1) from a generator seeded by the run: identical on every replay."""
    return _instance("random").random().random()


def uuid4() -> _uuid.UUID:
    """A UUID from the run's seeded generator: identical on every replay."""
    return _instance("uuid4").uuid4()


def is_replaying() -> bool:
    """True while re-running history the previous workflow task already processed."""
    return _instance("is_replaying").is_replaying()


def cancellation_requested() -> bool:
    """Whether the run's cancellation was requested (it stays True after the cancellation was delivered)."""
    instance = _instance("cancellation_requested")
    return instance.cancel_requested and instance.cancelled_here() is not None


# ------------------------------------------------------------------ commands


def sleep(duration: Optional[Duration] = None, *, delay: Optional[Duration] = None) -> WorkflowFuture[None]:
    """A durable timer; replaces time.sleep / asyncio.sleep in workflow code (``delay=`` is the
    async SDK's keyword)."""
    ms = duration_ms(either("duration", duration, "delay", delay), "sleep duration")
    if ms is None:
        raise TypeError("sleep() needs a duration: a timedelta or seconds")
    return _instance("sleep").timer(ms)


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


def workflow_name(workflow: Any) -> str:
    """The registered type name of a workflow (class, function or name); "" for None."""
    if workflow is None:
        return ""
    return name_of(workflow, "workflow")


def workflow_run_method(workflow_cls: type) -> Callable[..., Any]:
    """The ``@workflow.run`` method of a workflow class (else its ``run``)."""
    found = getattr(workflow_cls, "_postgrip_run_method", None) or getattr(workflow_cls, "run", None)
    if not callable(found):
        raise ValueError(f"workflow {workflow_name(workflow_cls)} has no @workflow.run method")
    return found  # type: ignore[no-any-return]


def proxy_activities(options: Optional[Dict[str, Any]] = None) -> Any:
    """The async SDK's activity proxy: ``acts = workflow.proxy_activities({"start_to_close_timeout_ms": 5000})``
    then ``yield acts.charge(order)`` (or ``await``) schedules the activity named ``charge``."""
    fixed = dict(options or {})

    class _Activities:
        def __getattr__(self, name: str) -> Callable[..., WorkflowFuture[Any]]:
            if name.startswith("__"):
                raise AttributeError(name)
            return lambda *call_args: execute_activity(name, *call_args, **fixed)

    return _Activities()


def continue_as_new(
    *positional: Any,
    workflow: Any = None,
    task_queue: Optional[str] = None,
    run_timeout: Optional[Duration] = None,
    args: Optional[Sequence[Any]] = None,
    workflow_type: Optional[str] = None,
    taskQueue: Optional[str] = None,  # noqa: N803
    workflow_run_timeout: Any = None,
    workflow_run_timeout_ms: Optional[int] = None,
    workflow_id: Optional[str] = None,
    workflowId: Optional[str] = None,  # noqa: N803
    retry: Optional[wt.RetryPolicy] = None,
    lease_timeout_seconds: Optional[int] = None,
    leaseTimeoutSeconds: Optional[int] = None,
) -> NoReturn:  # noqa: N803
    """End this run and start the next one with these arguments and a fresh history (same workflow id).

    ``continue_as_new(n - 1)`` continues as the same workflow. The async SDK's call shapes work
    too: a workflow first (``continue_as_new(MyWorkflow, x)``, or its type name when it is this
    run's own), ``args=[...]``, ``workflow_type=``, ``taskQueue=``, ``workflow_run_timeout[_ms]=``,
    ``workflow_id=`` (the next run under another workflow id; the handle's ``result()`` follows it),
    ``retry=`` (the next run's retry policy) and ``lease_timeout_seconds=`` (its workflow task's lease).
    """
    instance = _instance("continue_as_new")
    if workflow is None and workflow_type is None and positional and _names_a_workflow(positional[0], instance):
        workflow, positional = positional[0], positional[1:]
    if args is not None and positional:
        raise TypeError("continue_as_new: pass the arguments positionally or as args=[...], not both")
    target = either("workflow", workflow, "workflow_type", workflow_type)
    next_type = name_of(target, "workflow") if target is not None else instance.info.workflow_type
    raise ContinueAsNew(
        next_type,
        list(args) if args is not None else positional,
        {
            "task_queue": either("task_queue", task_queue, "taskQueue", taskQueue),
            "workflow_run_timeout_ms": duration_ms(
                run_timeout_compat(run_timeout, workflow_run_timeout, workflow_run_timeout_ms), "run_timeout"
            ),
            "workflow_id": either("workflow_id", workflow_id, "workflowId", workflowId),
            "retry": retry,
            "lease_timeout_seconds": either(
                "lease_timeout_seconds", lease_timeout_seconds, "leaseTimeoutSeconds", leaseTimeoutSeconds
            ),
        },
    )


def _names_a_workflow(value: Any, instance: RunningWorkflow) -> bool:
    """A first argument that is a workflow (decorated), or this run's own type name, says which workflow."""
    if getattr(value, "_postgrip_workflow_name", None) is not None:
        return True
    return isinstance(value, str) and value == instance.info.workflow_type


def milestone(
    name: str,
    *,
    index: Optional[int] = None,
    total: Optional[int] = None,
    status: str = "completed",
    details: Optional[Dict[str, Any]] = None,
) -> WorkflowFuture[None]:
    """Record a milestone event on the workflow task (once, not on every replay)."""
    _instance("milestone").emit_milestone(milestone_event(name, index, total, status, details))
    return resolved(None, f"milestone {name}")


def condition(predicate: Callable[[], bool], timeout: Optional[Duration] = None) -> WorkflowFuture[bool]:
    """Resolves True once ``predicate()`` holds (re-checked after every event), or False on timeout."""
    return _instance("condition").condition(predicate, duration_ms(timeout, "condition timeout"))


def wait_condition(
    predicate: Callable[[], bool], *, timeout: Optional[Duration] = None, timeout_summary: Optional[str] = None
) -> WorkflowFuture[None]:
    """Temporal's spelling: resolves once ``predicate()`` holds; on timeout it fails with
    ``asyncio.TimeoutError`` (where [`condition()`][postgrip_agent.workflow.condition] resolves False)."""
    held = condition(predicate, timeout)
    outcome: WorkflowFuture[None] = WorkflowFuture("wait_condition")

    def settle(future: WorkflowFuture[bool]) -> None:
        error = future.exception()
        if error is not None:
            outcome.set_exception(error)
        elif future.result():
            outcome.set_result(None)
        else:
            outcome.set_exception(asyncio.TimeoutError(timeout_summary or "wait_condition timed out"))

    held._on_done(settle)
    outcome.on_cancel = lambda error: None if held.cancel(error) else None
    return outcome


# ------------------------------------------------------------------ changing code while runs are in flight


def patched(id: str) -> bool:
    """Temporal's ``workflow.patched``: ``if workflow.patched("my-change"): <new code> else: <old code>``.

    True for a run that reaches this point with the new code (a marker is recorded in its
    history, so its replays say True again); False for a run recorded before the change that
    went past this point without the marker. Once no such run is left, replace the call with
    [`deprecate_patch()`][postgrip_agent.workflow.deprecate_patch] and drop the old branch; later, drop that call too."""
    if not isinstance(id, str) or not id:
        raise ValueError("patched() takes the patch id, a non-empty string")
    return _patches.patched(_instance("patched"), id)


def upsert_search_attributes(attributes: Dict[str, Any]) -> None:
    """Temporal's ``workflow.upsert_search_attributes``: merge ``attributes`` (JSON values; None
    removes one) into the run's search attributes, so listings filter by them from now on. The
    change is a command recorded in the run's history (a marker the service applies), so replays
    agree; it needs the service's ``markers`` extension, which the local service has."""
    if not isinstance(attributes, dict) or not all(isinstance(k, str) and k for k in attributes):
        raise TypeError("upsert_search_attributes takes a dict of attribute names to JSON values")
    _patches.upsert_search_attributes(_instance("upsert_search_attributes"), plain_value(attributes, "search attributes"))


def deprecate_patch(id: str) -> None:
    """Temporal's ``workflow.deprecate_patch``: the patch ``id`` is the only branch now. The marker
    is still recorded, so agents running code that asks [`patched()`][postgrip_agent.workflow.patched] replay new runs right."""
    if not isinstance(id, str) or not id:
        raise ValueError("deprecate_patch() takes the patch id, a non-empty string")
    _patches.patched(_instance("deprecate_patch"), id, deprecated=True)
