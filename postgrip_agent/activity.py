"""The activity API: the decorator, and helpers callable from an activity's own thread.

Helpers work the same from ``def`` activities (``activity.heartbeat()``) and from
``async def`` ones (``await activity.heartbeat()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Generator, Iterator, Optional, Tuple, TypeVar, overload

import attrs

from ._encoding import milestone_event, name_of
from ._logging import ContextLogger

__all__ = [
    "defn",
    "use_context",
    "heartbeat",
    "milestone",
    "stdout",
    "stderr",
    "info",
    "ActivityInfo",
    "is_cancelled",
    "logger",
    "activity_name",
    "run_in_activity_runtime",
]

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class ActivityInfo:
    """What an activity knows about itself (``activity.info()``).

    ``attempt`` counts from 1 and is the service's count: a retry after a failure, a timeout
    or a lost agent is the next attempt. ``heartbeat_details`` are the details of the last
    ``activity.heartbeat(details)`` of an earlier attempt, so a retry can resume where it stopped.
    """

    task_id: str
    activity_type: str
    attempt: int
    namespace: str
    task_queue: str
    workflow_id: Optional[str] = None
    workflow_run_id: Optional[str] = None
    #: when the first attempt was scheduled, and when this attempt was (after its backoff)
    scheduled_time: Optional[datetime] = None
    current_attempt_scheduled_time: Optional[datetime] = None
    start_to_close_timeout: Optional[timedelta] = None
    schedule_to_close_timeout: Optional[timedelta] = None
    heartbeat_timeout: Optional[timedelta] = None
    schedule_to_start_timeout: Optional[timedelta] = None
    heartbeat_details: Optional[Dict[str, Any]] = None


class _Done:
    """The result of a helper that already happened; awaiting it is a no-op."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once


@attrs.define
class ActivityContext:
    """What the agent installs for the activity running on this thread."""

    info: ActivityInfo
    send_heartbeat: Callable[[Optional[Dict[str, Any]]], None]
    send_event: Callable[[Dict[str, Any]], None]
    cancelled: bool = False
    #: why the activity was cancelled (the service's word), for the CancelledFailure it gets
    cancel_reason: Optional[str] = None


_context: contextvars.ContextVar[Optional[ActivityContext]] = contextvars.ContextVar("postgrip_activity", default=None)


def _activity_context() -> Optional[Tuple[Dict[str, Any], str]]:
    ctx = _context.get()
    if ctx is None:
        return None
    info = ctx.info
    fields = {
        "activity_type": info.activity_type,
        "task_id": info.task_id,
        "attempt": info.attempt,
        "workflow_id": info.workflow_id,
    }
    return fields, f"{info.activity_type} attempt {info.attempt}"


logger = ContextLogger(logging.getLogger("postgrip_agent.activity"), _activity_context)
"""The logger for activity code (``postgrip_agent.activity``): ``activity.logger.info("charging %s", order_id)``;
records carry ``activity_type``, ``task_id``, ``attempt`` and ``workflow_id``."""


def _ctx(what: str) -> ActivityContext:
    ctx = _context.get()
    if ctx is None:
        raise RuntimeError(
            f"activity.{what}() can only be called from inside an activity run by an Agent "
            "(in a test: postgrip_agent.testing.ActivityEnvironment().run(my_activity, ...))"
        )
    return ctx


@overload
def defn(fn: F, /) -> F: ...


@overload
def defn(*, name: Optional[str] = None) -> Callable[[F], F]: ...


def defn(fn: Any = None, /, *, name: Optional[str] = None) -> Any:
    """Mark a function (``def`` or ``async def``) as an activity."""

    def decorate(target: Any) -> Any:
        target._postgrip_activity_name = name or target.__name__
        return target

    return decorate(fn) if fn is not None else decorate


def info() -> ActivityInfo:
    """What this activity knows about itself ([`ActivityInfo`][postgrip_agent.activity.ActivityInfo]): its task, type, attempt, workflow and timeouts."""
    return _ctx("info").info


def activity_name(fn: Callable[..., Any]) -> str:
    """The name an activity is registered and scheduled under (``@activity.defn(name=...)`` or its own)."""
    return name_of(fn, "activity")


def run_in_activity_runtime(runtime: ActivityContext, fn: Callable[[], Any]) -> Any:
    """Call ``fn`` as the activity whose context ``runtime`` is (what the agent does around each
    attempt); ``activity.info()``, ``heartbeat()`` and the rest then act on it. A coroutine
    ``fn`` returns is run to completion."""
    if not isinstance(runtime, ActivityContext):
        raise TypeError(f"run_in_activity_runtime takes an activity context, got {type(runtime).__name__}")
    with use_context(runtime):
        value = fn()
        return asyncio.run(value) if inspect.iscoroutine(value) else value


@contextlib.contextmanager
def use_context(ctx: ActivityContext) -> Iterator[None]:
    """Within the block, ``ctx`` is the running activity's context (the agent installs each attempt's
    this way; ``activity.info()``, ``heartbeat()`` and the rest act on it)."""
    token = _context.set(ctx)
    try:
        yield
    finally:
        _context.reset(token)


def is_cancelled() -> bool:
    """True once a heartbeat learned the task was cancelled or lost its lease."""
    return _ctx("is_cancelled").cancelled


def heartbeat(details: Optional[Dict[str, Any]] = None) -> _Done:
    """Tell the service the activity is alive; resets its ``heartbeat_timeout``. ``details`` (a
    JSON object) reach the next attempt as ``info().heartbeat_details`` if this one fails.

    Raises CancelledFailure when the service says the task was cancelled, its attempt timed
    out, or it is no longer leased: the activity should stop (and may clean up) then.
    """
    _ctx("heartbeat").send_heartbeat(details)
    return _Done()


def milestone(
    name: str,
    *,
    index: Optional[int] = None,
    total: Optional[int] = None,
    status: str = "completed",
    details: Optional[Dict[str, Any]] = None,
) -> _Done:
    """Record a milestone on the activity's task (``index``/``total`` show progress, e.g. in ``postgrip-agent workflow execute``)."""
    _ctx("milestone").send_event(milestone_event(name, index, total, status, details))
    return _Done()


def stdout(
    data: str, *, stage: Optional[str] = None, message: Optional[str] = None, details: Optional[Dict[str, Any]] = None
) -> _Done:
    """Record output on the activity's task (a ``stdout`` event, stage ``activity`` unless given)."""
    return _stream("stdout", data, stage, message, details)


def stderr(
    data: str, *, stage: Optional[str] = None, message: Optional[str] = None, details: Optional[Dict[str, Any]] = None
) -> _Done:
    """Record error output on the activity's task (a ``stderr`` event, stage ``activity`` unless given)."""
    return _stream("stderr", data, stage, message, details)


def _stream(stream: str, data: str, stage: Optional[str], message: Optional[str], details: Optional[Dict[str, Any]]) -> _Done:
    # the stage defaults to "activity", as the reference agents record it
    event: Dict[str, Any] = {"kind": stream, "stream": stream, "data": str(data), "stage": stage or "activity"}
    if message is not None:
        event["message"] = message
    if details is not None:
        event["details"] = details
    _ctx(stream).send_event(event)
    return _Done()
