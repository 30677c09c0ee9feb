"""Deterministic futures: resolved only by the scheduler, in history order, on one thread."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import sys
from typing import Any, Callable, Dict, Generator, Generic, Iterator, List, Optional, Tuple, TypeVar


T = TypeVar("T")

_PENDING = object()

#: the running instance's counter: futures and tasks hash by creation order, so a set of them
#: iterates in the same order on every replay (``asyncio.wait`` returns sets)
hash_sequence: contextvars.ContextVar[Optional[Iterator[int]]] = contextvars.ContextVar("postgrip_hash_sequence", default=None)


def new_hash_sequence() -> Iterator[int]:
    return itertools.count(1)


def next_hash(obj: object) -> int:
    sequence = hash_sequence.get()
    return next(sequence) if sequence is not None else id(obj) >> 4


_SHIELD_CODE = asyncio.shield.__code__

#: a callback: the function, and for asyncio's kind the loop and context it runs in (None: at once)
_Callback = Tuple[Callable[..., None], Any, Optional[contextvars.Context]]


class WorkflowFuture(Generic[T]):
    """The outcome of a workflow command. ``yield`` it from a generator workflow or ``await``
    it from an ``async def`` one; either way the scheduler resumes the body with the result."""

    __slots__ = (
        "_value",
        "_error",
        "_callbacks",
        "description",
        "scope",
        "on_cancel",
        "command",
        "shielded",
        "_hash",
        "_asyncio_future_blocking",
        "result_type",
    )

    def __init__(self, description: str = "") -> None:
        self._value: Any = _PENDING
        self._error: Optional[BaseException] = None
        self._callbacks: List[_Callback] = []
        self.description = description
        self.scope: Any = None
        #: how a cancellation reaches this future (None: it cannot be cancelled)
        self.on_cancel: Optional[Callable[[BaseException], None]] = None
        #: the request of the command this future is the outcome of (None for other futures)
        self.command: Optional[Dict[str, Any]] = None
        #: ``asyncio.shield`` holds it: cancelling a scope leaves it running
        self.shielded = False
        self._hash = next_hash(self)
        #: asyncio's marker: a task awaiting this future waits for it (set while it is awaited)
        self._asyncio_future_blocking = False
        #: what an activity's or a child's result is decoded into (None: plain JSON)
        self.result_type: Any = None

    def __hash__(self) -> int:
        return self._hash

    def done(self) -> bool:
        """Whether the future is resolved (with a result or a failure)."""
        return self._value is not _PENDING or self._error is not None

    def result(self) -> T:
        """The value it resolved with; raises its failure, or RuntimeError while pending (yield or await it instead)."""
        if self._error is not None:
            raise self._error
        if self._value is _PENDING:
            raise RuntimeError(f"{self.description or 'future'} is not resolved yet; yield or await it")
        return self._value  # type: ignore[no-any-return]

    def exception(self) -> Optional[BaseException]:
        """The failure it resolved with (None if it succeeded or is pending)."""
        return self._error

    def set_result(self, value: T) -> None:
        """Resolve it with a value (the scheduler does this from history; later calls are ignored)."""
        if self.done():
            return
        self._value = value
        self._fire()

    def set_exception(self, error: BaseException) -> None:
        """Resolve it with a failure (the scheduler does this from history; later calls are ignored)."""
        if self.done():
            return
        self._error = error
        self._fire()

    def _on_done(self, callback: Callable[["WorkflowFuture[T]"], None]) -> None:
        """Call ``callback`` as soon as this future is done (at once if it is)."""
        if self.done():
            callback(self)
        else:
            self._callbacks.append((callback, None, None))

    def add_done_callback(
        self, callback: Callable[["WorkflowFuture[T]"], None], *, context: Optional[contextvars.Context] = None
    ) -> None:
        """As asyncio's: ``callback(future)`` runs on the workflow's loop soon after the future is
        done (outside a running workflow, at once)."""
        loop = asyncio.events._get_running_loop()
        if loop is not None and sys._getframe(1).f_code is _SHIELD_CODE:
            self._shield()
        if loop is None:
            self._on_done(callback)
        elif self.done():
            loop.call_soon(callback, self, context=context)
        else:
            self._callbacks.append((callback, loop, context))

    def remove_done_callback(self, callback: Callable[["WorkflowFuture[T]"], None]) -> int:
        """Remove a callback added with [`add_done_callback()`][postgrip_agent.workflow.WorkflowFuture.add_done_callback]; return how many were removed."""
        kept = [entry for entry in self._callbacks if entry[0] != callback]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback, loop, context in callbacks:
            if loop is None:
                callback(self)
            else:
                loop.call_soon(callback, self, context=context)

    def _shield(self) -> None:
        """``asyncio.shield`` took this future: a cancellation leaves it running, and if its
        command is not sent yet, the service is told not to cancel it either."""
        self.shielded = True
        if self.command is not None and not self.done():
            self.command.setdefault("payload", {})["cancellationScope"] = "non_cancellable"

    # ------------------------------------------------------------ the rest of asyncio's Future

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the work (as a cancellation scope would); False when it cannot be: it is done,
        shielded, or a non-cancellable scope holds it. A cancelled future fails with
        ``asyncio.CancelledError`` (a [`CancelledFailure`][postgrip_agent.errors.CancelledFailure] when the
        workflow or a scope was cancelled)."""
        if self.done() or self.on_cancel is None or self.shielded:
            return False
        scope = self.scope
        while scope is not None:
            if not scope.cancellable:
                return False
            scope = scope.parent
        # a workflow or scope cancellation comes as a CancelledFailure; asyncio's own stays its own
        self.on_cancel(msg if isinstance(msg, BaseException) else asyncio.CancelledError(*([] if msg is None else [msg])))
        return self.done()

    def cancelled(self) -> bool:
        """Always False: a cancelled workflow future fails with a CancelledFailure instead."""
        return False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The running workflow's loop (asyncio asks which loop a future belongs to)."""
        return asyncio.get_running_loop()

    def __await__(self) -> Generator["WorkflowFuture[T]", None, T]:
        if not self.done():
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self._error is not None else "done")
        return f"<WorkflowFuture {self.description} {state}>"


def resolved(value: Any = None, description: str = "") -> WorkflowFuture[Any]:
    future: WorkflowFuture[Any] = WorkflowFuture(description)
    future.set_result(value)
    return future


def failed(error: BaseException, description: str = "") -> WorkflowFuture[Any]:
    future: WorkflowFuture[Any] = WorkflowFuture(description)
    future.set_exception(error)
    return future


def wait_all(*futures: WorkflowFuture[Any]) -> WorkflowFuture[List[Any]]:
    """Resolves to the list of results once all resolve; fails with the first failure."""
    combined: WorkflowFuture[List[Any]] = WorkflowFuture(f"wait_all of {len(futures)}")
    if not futures:
        combined.set_result([])
        return combined
    remaining = [len(futures)]

    def on_done(future: WorkflowFuture[Any]) -> None:
        if combined.done():
            return
        if future.exception() is not None:
            combined.set_exception(future.exception())  # type: ignore[arg-type]
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            combined.set_result([f.result() for f in futures])

    for future in futures:
        _check(future, "wait_all")
        future._on_done(on_done)
    return combined


def wait_any(*futures: WorkflowFuture[Any]) -> WorkflowFuture[WorkflowFuture[Any]]:
    """Resolves to the first of ``futures`` that finishes (the future itself, done)."""
    if not futures:
        raise ValueError("wait_any needs at least one future")
    first: WorkflowFuture[WorkflowFuture[Any]] = WorkflowFuture(f"wait_any of {len(futures)}")
    for future in futures:
        _check(future, "wait_any")
        future._on_done(lambda f: first.set_result(f))
    return first


def _check(future: Any, what: str) -> None:
    if not isinstance(future, WorkflowFuture):
        raise TypeError(f"{what} takes workflow futures (from execute_activity, sleep, ...), got {type(future).__name__}")
