"""The workflow API: decorators, and helpers called from inside a workflow.

Helpers return :class:`WorkflowFuture` objects that issue their command when called and
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

import logging
import math
import uuid as _uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Generic, NoReturn, Optional, Tuple, TypeVar, Union, overload

import attrs

from . import types as wt
from ._encoding import duration_ms, encode_args, milestone_event, name_of
from ._logging import ContextLogger
from ._runtime.futures import WorkflowFuture, resolved, wait_all, wait_any
from ._runtime.instance import ContinueAsNew, Scope, WorkflowInfo, WorkflowInstance, current


__all__ = [
    "defn", "run", "now", "info", "sleep", "execute_activity", "execute_child", "continue_as_new", "milestone",
    "random", "uuid4", "wait_all", "wait_any", "condition", "define_signal", "define_query", "define_update",
    "set_handler", "CancellationScope", "cancellation_requested", "is_replaying", "WorkflowFuture", "WorkflowInfo",
    "SignalDefinition", "QueryDefinition", "UpdateDefinition", "ContinueAsNew", "logger", "unsafe",
]

T = TypeVar("T")
C = TypeVar("C")
Duration = Union[timedelta, float, int]


def _run_context() -> Optional[Tuple[Dict[str, Any], str]]:
    instance = current.get()
    if instance is None:
        return None
    info = instance.info
    fields = {"workflow_id": info.workflow_id, "run_id": info.run_id, "workflow_type": info.workflow_type,
              "attempt": info.attempt}
    return fields, f"{info.workflow_type} {info.workflow_id}"


def _replaying() -> bool:
    instance = current.get()
    return instance is not None and (instance.is_replaying() or instance.query_mode)


#: the logger for workflow code: ``workflow.logger.info("charged %s", order_id)``
#: (silent while an activation re-runs what an earlier one did, while a query or update is
#: answered from a replay, and while a dropped instance is torn down; records carry
#: ``workflow_id``, ``run_id``, ``workflow_type`` and ``attempt``)
logger = ContextLogger(logging.getLogger("postgrip_agent.workflow"), _run_context, _replaying)


class _Unsafe:
    """Escape hatches Temporal users know; use them only where the docs say."""

    @staticmethod
    def is_replaying() -> bool:
        """True while the code re-runs what an earlier activation did (or the instance is dropped)."""
        return _instance("unsafe.is_replaying").is_replaying()


unsafe = _Unsafe()


def _instance(what: str) -> WorkflowInstance:
    instance = current.get()
    if instance is None:
        raise RuntimeError(f"workflow.{what}() can only be called from inside a workflow run by an Agent")
    return instance


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
    return _instance("info").info


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
    instance = _instance("cancellation_requested")
    return instance.cancel_requested and instance._cancelled_here() is not None


# ------------------------------------------------------------------ commands


def sleep(duration: Duration) -> WorkflowFuture[None]:
    """A durable timer; replaces time.sleep / asyncio.sleep in workflow code."""
    ms = duration_ms(duration, "sleep duration")
    assert ms is not None
    return _instance("sleep").timer(ms)


#: the longest timeout the service accepts (100 years)
_MAX_TIMEOUT_MS = 100 * 366 * 86_400_000


def _timeout_ms(value: Optional[Duration], what: str) -> Optional[int]:
    ms = duration_ms(value, what)
    if ms is None:
        return None
    if ms <= 0:
        raise ValueError(f"{what} must be positive (got {value!r}); leave it out for no {what}")
    if ms > _MAX_TIMEOUT_MS:
        raise ValueError(f"{what} must be at most 100 years (got {value!r})")
    return ms


def execute_activity(
    activity: Any,
    *args: Any,
    start_to_close_timeout: Optional[Duration] = None,
    schedule_to_close_timeout: Optional[Duration] = None,
    heartbeat_timeout: Optional[Duration] = None,
    schedule_to_start_timeout: Optional[Duration] = None,
    retry_policy: Optional[wt.RetryPolicy] = None,
    cancellation_type: str = "try_cancel",
    task_queue: Optional[str] = None,
) -> WorkflowFuture[Any]:
    """Schedule an activity (a function decorated with @activity.defn, or its name).

    Timeouts (a ``timedelta`` or seconds) mean what they mean in Temporal, and the service
    enforces them: ``start_to_close_timeout`` bounds one attempt, ``schedule_to_close_timeout``
    all attempts together (backoff included), ``heartbeat_timeout`` the longest gap between the
    activity's ``activity.heartbeat()`` calls, ``schedule_to_start_timeout`` how long an attempt
    may wait for an agent. One of the first two is required. A timed-out attempt is retried
    under ``retry_policy``; when attempts run out the future fails with an :class:`ActivityError`
    whose ``cause`` is a :class:`TimeoutFailure` naming the timeout.
    """
    instance = _instance("execute_activity")
    name = name_of(activity, "activity")
    if cancellation_type not in wt.CANCELLATION_TYPES:
        raise ValueError(f"cancellation_type must be one of {', '.join(wt.CANCELLATION_TYPES)}, got {cancellation_type!r}")
    start_ms = _timeout_ms(start_to_close_timeout, "start_to_close_timeout")
    schedule_ms = _timeout_ms(schedule_to_close_timeout, "schedule_to_close_timeout")
    heartbeat_ms = _timeout_ms(heartbeat_timeout, "heartbeat_timeout")
    queued_ms = _timeout_ms(schedule_to_start_timeout, "schedule_to_start_timeout")
    if start_ms is None and schedule_ms is None:
        raise ValueError(
            f"execute_activity({name!r}): give start_to_close_timeout (one attempt) or schedule_to_close_timeout "
            "(all attempts); as in Temporal, one of them is required"
        )
    attempt_limit = min(ms for ms in (start_ms, schedule_ms) if ms is not None)
    if heartbeat_ms is not None and heartbeat_ms >= attempt_limit:
        raise ValueError(
            f"execute_activity({name!r}): heartbeat_timeout ({heartbeat_ms / 1000:g} s) must be shorter than the attempt's "
            f"own timeout ({attempt_limit / 1000:g} s), or it can never fire"
        )
    retry = wt.to_json(retry_policy) if retry_policy is not None else {}
    payload = {
        **instance.base_payload(), "activityType": name, "attempt": 1,
        "args": encode_args(args, f"activity {name!r} argument"), "cancellationType": cancellation_type,
    }
    if retry:
        payload["retry"] = retry
    for key, ms in (("startToCloseTimeoutMs", start_ms), ("scheduleToCloseTimeoutMs", schedule_ms),
                    ("heartbeatTimeoutMs", heartbeat_ms), ("scheduleToStartTimeoutMs", queued_ms)):
        if ms is not None:
            payload[key] = ms
    if instance._shielded():
        payload["cancellationScope"] = "non_cancellable"
    # the lease is only the agent's liveness signal: short enough to notice a dead agent soon
    request: Dict[str, Any] = {"type": f"activity:{name}", "namespace": instance.info.namespace,
                               "queue": task_queue or instance.info.task_queue, "payload": payload,
                               "lease_timeout_seconds": max(1, min(30, math.ceil(min(attempt_limit, heartbeat_ms or attempt_limit) / 1000)))}

    def on_cancel(future: WorkflowFuture[Any], error: BaseException) -> None:
        if cancellation_type != "wait_cancellation_completed":
            future.set_exception(error)

    return instance.issue("activity", name, f"activity {name}", request, on_cancel)


def execute_child(
    workflow: Any,
    *args: Any,
    id: Optional[str] = None,
    task_queue: Optional[str] = None,
    run_timeout: Optional[Duration] = None,
    retry_policy: Optional[wt.RetryPolicy] = None,
    id_reuse_policy: Optional[str] = None,
    cancellation_type: Optional[str] = None,
) -> WorkflowFuture[Any]:
    """Start a child workflow; the future resolves to its result."""
    instance = _instance("execute_child")
    child_type = name_of(workflow, "child workflow")
    child_id = id or f"{instance.info.workflow_id}-child-{instance.issued + 1}"
    payload: Dict[str, Any] = {
        "namespace": instance.info.namespace, "workflowType": child_type, "workflowId": child_id,
        "parentWorkflowId": instance.info.workflow_id, "parentWorkflowRunId": instance.info.run_id,
        "parentWorkflowTaskId": instance.info.task_id,
        "args": encode_args(args, f"child workflow {child_type!r} argument"),
    }
    optional: Dict[str, Any] = {
        "parentCancellationType": cancellation_type, "runTimeoutMs": duration_ms(run_timeout, "run_timeout"),
        "retry": wt.to_json(retry_policy) if retry_policy is not None else None, "workflowIdReusePolicy": id_reuse_policy,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    request = {"type": f"workflow:{child_type}", "namespace": instance.info.namespace,
               "queue": task_queue or instance.info.task_queue, "payload": payload}
    return instance.issue("child", child_type, f"child workflow {child_type} ({child_id})", request)


def continue_as_new(*args: Any, workflow: Any = None, task_queue: Optional[str] = None,
                    run_timeout: Optional[Duration] = None) -> NoReturn:
    """End this run and start the next one with ``args`` and a fresh history (same workflow id)."""
    instance = _instance("continue_as_new")
    workflow_type = name_of(workflow, "workflow") if workflow is not None else instance.info.workflow_type
    raise ContinueAsNew(workflow_type, encode_args(args, "continue_as_new argument"), task_queue,
                        duration_ms(run_timeout, "run_timeout"))


def milestone(name: str, *, index: Optional[int] = None, total: Optional[int] = None, status: str = "completed",
              details: Optional[Dict[str, Any]] = None) -> WorkflowFuture[None]:
    """Record a milestone event on the workflow task (once, not on every replay)."""
    _instance("milestone").emit_milestone(milestone_event(name, index, total, status, details))
    return resolved(None, f"milestone {name}")


def condition(predicate: Callable[[], bool], timeout: Optional[Duration] = None) -> WorkflowFuture[bool]:
    """Resolves True once ``predicate()`` holds (re-checked after every event), or False on timeout."""
    return _instance("condition").condition(predicate, duration_ms(timeout, "condition timeout"))


# ------------------------------------------------------------------ signals, queries, updates


@attrs.frozen
class _Definition(Generic[T]):
    name: str
    kind: str


class SignalDefinition(_Definition[None]):
    pass


class QueryDefinition(_Definition[T]):
    pass


class UpdateDefinition(_Definition[T]):
    pass


def define_signal(name: str) -> SignalDefinition:
    return SignalDefinition(name=_nonempty(name, "signal"), kind="signal")


def define_query(name: str) -> QueryDefinition[Any]:
    return QueryDefinition(name=_nonempty(name, "query"), kind="query")


def define_update(name: str) -> UpdateDefinition[Any]:
    return UpdateDefinition(name=_nonempty(name, "update"), kind="update")


def _nonempty(name: str, kind: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name must be a non-empty string")
    return name


def set_handler(definition: Union[_Definition[Any], str], handler: Optional[Callable[..., Any]], *,
                validator: Optional[Callable[..., Any]] = None) -> None:
    """Bind a handler (call it from the workflow's ``__init__`` so every replay re-registers it).

    A plain string names a signal. Buffered signals of that name are delivered now, in order.
    An update ``validator`` runs before the handler; raising rejects the update unrecorded.
    """
    instance = _instance("set_handler")
    kind, name = ("signal", definition) if isinstance(definition, str) else (definition.kind, definition.name)
    instance.set_handler(kind, name, handler, validator)


# ------------------------------------------------------------------ cancellation scopes


class CancellationScope:
    """``with workflow.CancellationScope(cancellable=False):`` shields cleanup from cancellation;
    a cancellable scope can be cancelled from inside the workflow with :meth:`cancel`."""

    def __init__(self, *, cancellable: bool = True) -> None:
        self.is_cancellable = cancellable
        self._scope: Optional[Scope] = None
        self._body: Any = None

    def __enter__(self) -> "CancellationScope":
        instance = _instance("CancellationScope")
        body = instance.current_body
        if body is None:
            raise RuntimeError("CancellationScope must be entered from workflow code")
        parent = body.scopes[-1]
        self._scope = Scope(parent, self.is_cancellable)
        if parent.cancelled and self.is_cancellable:
            self._scope.cancelled, self._scope.reason = True, parent.reason
        body.scopes.append(self._scope)
        self._body = body
        return self

    def __exit__(self, *exc: Any) -> None:
        # no runtime lookup: a suspended body may be closed after its activation ended
        if self._body is not None and self._scope in self._body.scopes:
            self._body.scopes.remove(self._scope)

    def cancel(self, reason: str = "cancelled by the workflow") -> None:
        if self._scope is None:
            raise RuntimeError("cancel() a CancellationScope after entering it")
        self._scope.cancel(reason)

    @property
    def cancelled(self) -> bool:
        return self._scope is not None and self._scope.cancelled

    @staticmethod
    def non_cancellable(fn: Callable[[], Any]) -> WorkflowFuture[Any]:
        """Compatibility with the async reference SDK: run ``fn`` shielded from cancellation."""
        return _run_scoped(fn, cancellable=False)

    @staticmethod
    def cancellable(fn: Callable[[], Any]) -> WorkflowFuture[Any]:
        return _run_scoped(fn, cancellable=True)


def _run_scoped(fn: Callable[[], Any], *, cancellable: bool) -> WorkflowFuture[Any]:
    scope = CancellationScope(cancellable=cancellable)
    with scope:
        value = fn()
    if isinstance(value, WorkflowFuture):
        return value
    return resolved(value)


