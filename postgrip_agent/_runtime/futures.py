"""Deterministic futures: resolved only by the scheduler, in history order, on one thread."""

from __future__ import annotations

from typing import Any, Callable, Generator, Generic, List, Optional, TypeVar

T = TypeVar("T")

_PENDING = object()


class WorkflowFuture(Generic[T]):
    """The outcome of a workflow command. ``yield`` it from a generator workflow or ``await``
    it from an ``async def`` one; either way the scheduler resumes the body with the result."""

    __slots__ = ("_value", "_error", "_callbacks", "description", "scope", "on_cancel")

    def __init__(self, description: str = "") -> None:
        self._value: Any = _PENDING
        self._error: Optional[BaseException] = None
        self._callbacks: List[Callable[["WorkflowFuture[T]"], None]] = []
        self.description = description
        self.scope: Any = None
        #: how a cancellation reaches this future (None: it cannot be cancelled)
        self.on_cancel: Optional[Callable[[BaseException], None]] = None

    def done(self) -> bool:
        return self._value is not _PENDING or self._error is not None

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        if self._value is _PENDING:
            raise RuntimeError(f"{self.description or 'future'} is not resolved yet; yield or await it")
        return self._value  # type: ignore[no-any-return]

    def exception(self) -> Optional[BaseException]:
        return self._error

    def set_result(self, value: T) -> None:
        if self.done():
            return
        self._value = value
        self._fire()

    def set_exception(self, error: BaseException) -> None:
        if self.done():
            return
        self._error = error
        self._fire()

    def add_done_callback(self, callback: Callable[["WorkflowFuture[T]"], None]) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator["WorkflowFuture[T]", None, T]:
        if not self.done():
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
        future.add_done_callback(on_done)
    return combined


def wait_any(*futures: WorkflowFuture[Any]) -> WorkflowFuture[WorkflowFuture[Any]]:
    """Resolves to the first of ``futures`` that finishes (the future itself, done)."""
    if not futures:
        raise ValueError("wait_any needs at least one future")
    first: WorkflowFuture[WorkflowFuture[Any]] = WorkflowFuture(f"wait_any of {len(futures)}")
    for future in futures:
        _check(future, "wait_any")
        future.add_done_callback(lambda f: first.set_result(f))
    return first


def _check(future: Any, what: str) -> None:
    if not isinstance(future, WorkflowFuture):
        raise TypeError(f"{what} takes workflow futures (from execute_activity, sleep, ...), got {type(future).__name__}")
