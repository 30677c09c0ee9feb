"""The part of asyncio's event loop that ``async def`` workflow code uses, on the scheduler.

No real event loop runs and no thread is started. While the scheduler drives a workflow, a
``WorkflowLoop`` is the thread's running loop, so ``asyncio.gather``, ``wait``, ``wait_for``,
``shield``, ``sleep``, ``create_task`` and ``timeout`` find it. Callbacks run in the order they
were scheduled, on the scheduler's thread, between history events; time is the workflow's
time (``workflow.now()``); a delay becomes a durable timer in history. Each coroutine body is
a task of this loop, so ``asyncio.current_task()`` and task cancellation behave as in asyncio.

A cancellation of the workflow or of a cancellation scope reaches a task as a
[`CancelledFailure`][postgrip_agent.errors.CancelledFailure] (also an ``asyncio.CancelledError``, so code
catches it under either name); asyncio's own cancellations (``task.cancel()``, ``wait_for``,
``timeout``) stay plain ``asyncio.CancelledError``, as asyncio's helpers expect.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from collections import deque
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Optional

from ..errors import CancelledFailure
from .futures import WorkflowFuture, next_hash

if TYPE_CHECKING:
    from .instance import WorkflowInstance

log = logging.getLogger("postgrip_agent.workflow")

_PyFuture: Any = getattr(asyncio.futures, "_PyFuture", asyncio.Future)
_PyTask: Any = getattr(asyncio.tasks, "_PyTask", asyncio.Task)
_SHIELD_CODE = asyncio.shield.__code__
#: typed loosely: typeshed's loop is a far larger interface than the part implemented here
_LoopBase: Any = asyncio.AbstractEventLoop

#: the body a task steps for, set in each task's own context
task_body: contextvars.ContextVar[Any] = contextvars.ContextVar("postgrip_task_body", default=None)


def as_failure(error: BaseException) -> BaseException:
    """asyncio's own CancelledError, as the CancelledFailure workflow code expects."""
    if isinstance(error, asyncio.CancelledError) and not isinstance(error, CancelledFailure):
        failure = CancelledFailure(str(error) or "cancelled")
        failure.__cause__ = error
        return failure
    return error


def called_from_shield() -> bool:
    """Whether ``asyncio.shield`` is (a few frames up) what is asking."""
    frame: Optional[FrameType] = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code is _SHIELD_CODE:
            return True
        frame = frame.f_back
    return False


def cancelled_error(future: Any, made: Callable[[], BaseException]) -> BaseException:
    """The error a cancelled future or task raises: the CancelledFailure it was cancelled with
    (by a workflow or scope cancellation), else asyncio's own."""
    message = future._cancel_message
    return message if isinstance(message, CancelledFailure) else made()


class WorkflowAsyncFuture(_PyFuture):  # type: ignore[misc]
    """``loop.create_future()``: an asyncio future with a deterministic hash."""

    def __init__(self, *, loop: "WorkflowLoop") -> None:
        super().__init__(loop=loop)
        self._pg_hash = next_hash(self)

    def __hash__(self) -> int:
        return self._pg_hash

    def _make_cancelled_error(self) -> BaseException:
        return cancelled_error(self, super()._make_cancelled_error)


class WorkflowTask(_PyTask):  # type: ignore[misc]
    """A coroutine body or ``asyncio.create_task``: an asyncio task with a deterministic hash
    (sets of tasks iterate in the same order on every replay)."""

    def __init__(self, coro: Any, *, loop: "WorkflowLoop", name: Optional[str] = None) -> None:
        self._pg_hash = next_hash(self)
        super().__init__(coro, loop=loop, name=name)
        self._log_destroy_pending = False  # a dropped instance's tasks are closed, not awaited

    def __hash__(self) -> int:
        return self._pg_hash

    def _make_cancelled_error(self) -> BaseException:
        return cancelled_error(self, super()._make_cancelled_error)


class WorkflowLoop(_LoopBase):  # type: ignore[misc]
    """One workflow instance's loop: a ready queue the scheduler drains, durable timers for delays."""

    def __init__(self, instance: "WorkflowInstance") -> None:
        self._instance = instance
        self._ready: Deque[asyncio.Handle] = deque()
        self._timers: Dict[asyncio.TimerHandle, WorkflowFuture[None]] = {}

    # ------------------------------------------------------------ what the scheduler calls

    def run_ready(self) -> bool:
        """Run every ready callback, and those they make ready; return whether any ran."""
        ran = False
        ready = self._ready
        while ready:
            handle = ready.popleft()
            if not handle._cancelled:
                ran = True
                handle._run()
        return ran

    def clear(self) -> None:
        self._ready.clear()
        self._timers.clear()

    # ------------------------------------------------------------ the loop interface asyncio uses

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def time(self) -> float:
        """The workflow's time (it advances only with history)."""
        return self._instance.now.timestamp()

    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: Optional[contextvars.Context] = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, context: Optional[contextvars.Context] = None
    ) -> asyncio.TimerHandle:
        """A durable timer: ``callback`` runs when history says it fired."""
        milliseconds = max(0, round(delay * 1000))
        handle = asyncio.TimerHandle(self.time() + milliseconds / 1000, callback, args, self, context)
        if milliseconds == 0:
            self._ready.append(handle)
            return handle
        timer = self._instance.timer(milliseconds)
        self._timers[handle] = timer

        def fired(future: WorkflowFuture[None]) -> None:
            if self._timers.pop(handle, None) is not None and future.exception() is None and not handle.cancelled():
                self._ready.append(handle)

        timer._on_done(fired)
        return handle

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, context: Optional[contextvars.Context] = None
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # the durable timer still fires (the service keeps it); nothing runs then
        self._timers.pop(handle, None)

    def create_future(self) -> "asyncio.Future[Any]":
        return WorkflowAsyncFuture(loop=self)

    def create_task(
        self, coro: Any, *, name: Optional[str] = None, context: Optional[contextvars.Context] = None
    ) -> "asyncio.Task[Any]":
        """A task of its own, inside the cancellation scopes of the code that made it (shielded
        from cancellation when ``asyncio.shield`` made it)."""
        label = name or str(getattr(coro, "__qualname__", "task"))
        return self._instance.start_task(coro, label, shielded=called_from_shield())

    def call_exception_handler(self, context: Dict[str, Any]) -> None:
        if self._instance.tearing_down:
            return
        error = context.get("exception")
        log.warning(
            "workflow %s: %s",
            self._instance.info.workflow_id,
            context.get("message", "unhandled error in a task"),
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        )

    def default_exception_handler(self, context: Dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def get_exception_handler(self) -> None:
        return None

    # ------------------------------------------------------------ what workflows may not do

    def _refuse(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{what} is not available in workflow code (it would not replay the same way); "
            "run it in an activity (workflow.execute_activity)"
        )

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:
        raise self._refuse("loop.call_soon_threadsafe")

    def run_in_executor(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("loop.run_in_executor (and asyncio.to_thread)")

    def run_until_complete(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("loop.run_until_complete (and asyncio.run)")

    def run_forever(self) -> None:
        raise self._refuse("loop.run_forever")

    def stop(self) -> None:
        raise self._refuse("loop.stop")

    def close(self) -> None:
        raise self._refuse("loop.close")


# ---------------------------------------------------------------- asyncio helpers that order by address


def _in_order(original: Callable[..., Any], coroutines_allowed: bool = True) -> Callable[..., Any]:
    """``asyncio.as_completed`` (and ``wait`` before Python 3.11) put what they are given in a
    set: coroutine objects hash by address, so the tasks they make would start, and schedule
    their commands, in another order on every replay. On a workflow loop the awaitables become
    tasks first, in the order given (tasks hash deterministically); elsewhere nothing changes."""

    @functools.wraps(original)
    def ordered(fs: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.events._get_running_loop()
        if isinstance(loop, WorkflowLoop) and coroutines_allowed and not (asyncio.isfuture(fs) or asyncio.iscoroutine(fs)):
            fs = [asyncio.ensure_future(f, loop=loop) for f in dict.fromkeys(fs)]
        return original(fs, *args, **kwargs)

    ordered.__postgrip_ordered__ = True  # type: ignore[attr-defined]
    return ordered


def _install_ordered_helpers() -> None:
    for name, allowed in (("as_completed", True), ("wait", sys.version_info < (3, 11))):
        original = getattr(asyncio.tasks, name)
        if getattr(original, "__postgrip_ordered__", False):
            continue
        ordered = _in_order(original, allowed)
        setattr(asyncio.tasks, name, ordered)
        setattr(asyncio, name, ordered)


_install_ordered_helpers()
