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
import uuid as _uuid
from datetime import datetime
from typing import Any, Callable, Dict, NoReturn, Optional, Sequence, Tuple, TypeVar, overload


from . import types as wt
from ._compat import either
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
from ._encoding import duration_ms, milestone_event, name_of, plain_value
from ._logging import ContextLogger
from ._runtime.futures import WorkflowFuture, resolved, wait_all, wait_any
from ._runtime import patches as _patches
from ._runtime import sandbox as _sandbox
from ._scopes import CancellationScope
from ._runtime.contract import RunningWorkflow
from ._runtime.instance import WorkflowInstance, current, running
from ._runtime.records import ContinueAsNew, WorkflowInfo
from ._runtime.unsafe import unsafe as unsafe
from ._activities_and_children import (  # the commands that schedule work, re-exported
    execute_activity as execute_activity,
    execute_activity_method as execute_activity_method,
    execute_child as execute_child,
)
from ._activities_and_children import Duration


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
