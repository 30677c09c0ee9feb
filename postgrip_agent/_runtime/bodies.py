"""What the scheduler drives: bodies (generators it steps, coroutines run as tasks of the
workflow's loop) and the cancellation scopes they run in."""

from __future__ import annotations

from typing import Any, List, Optional, Type

from .futures import WorkflowFuture
from ..errors import CancelledFailure


class Scope:
    """A cancellation scope: cancelling it cancels what was started inside (and inner cancellable scopes)."""

    def __init__(self, parent: Optional["Scope"], cancellable: bool) -> None:
        self.parent = parent
        self.cancellable = cancellable
        self.cancelled = False
        self.reason = "cancelled"
        self.children: List[Scope] = []
        self.futures: List[WorkflowFuture[Any]] = []
        if parent is not None:
            parent.children.append(self)

    def cancel(self, reason: str) -> None:
        """Mark the scope cancelled and cancel the work started in it (and in inner cancellable
        scopes). The bodies inside learn of it from the scheduler (``WorkflowInstance.cancel_scope``)."""
        if self.cancelled:
            return
        self.cancelled = True
        self.reason = reason
        for future in list(self.futures):
            if not future.done() and future.on_cancel is not None and not future.shielded:
                future.on_cancel(CancelledFailure(reason))
        for child in self.children:
            if child.cancellable:
                child.cancel(reason)

    def holds(self, inner: "Scope") -> bool:
        """Whether a cancellation of this scope reaches ``inner`` (no shield in between)."""
        scope: Optional[Scope] = inner
        while scope is not None:
            if scope is self:
                return True
            if not scope.cancellable:
                return False
            scope = scope.parent
        return False


class Body:
    """A generator the scheduler steps, or a coroutine it runs as a task (``task``): the run
    method, a handler, a scope's function, or ``asyncio.create_task``."""

    def __init__(self, body: Any, name: str, scopes: List[Scope]) -> None:
        self.body = body
        self.name = name
        self.scopes = list(scopes)
        self.waiting: Optional[WorkflowFuture[Any]] = None
        self.started = False
        self.outcome: WorkflowFuture[Any] = WorkflowFuture(name)
        #: the loop's task running a coroutine body (None for generators)
        self.task: Any = None
        #: a cancellation that reached this body while it was shielded: delivered once, later
        self.pending_cancel: Optional[str] = None

    @property
    def shielded(self) -> bool:
        return any(not s.cancellable for s in self.scopes[1:])

    def ready(self) -> bool:
        return (
            self.task is None
            and not self.outcome.done()
            and (not self.started or (self.waiting is not None and self.waiting.done()))
        )

    def step(self, continue_as_new: Type[BaseException]) -> None:
        """Run a generator body to its next yield (or its end)."""
        try:
            if not self.started:
                self.started = True
                yielded = self.body.send(None)
            else:
                waited = self.waiting
                assert waited is not None
                error = waited.exception()
                yielded = self.body.throw(error) if error is not None else self.body.send(waited.result())
        except StopIteration as stop:
            self.outcome.set_result(stop.value)
            return
        except continue_as_new:
            raise
        except BaseException as err:  # the body failed: that is its outcome
            self.outcome.set_exception(err)
            return
        if not isinstance(yielded, WorkflowFuture):
            hint = (
                "a generator workflow yields workflow futures; asyncio needs an async def workflow"
                if yielded is not None
                else "bare yield"
            )
            self.body.close()
            self.outcome.set_exception(
                TypeError(
                    f"{self.name} waited on {yielded!r} ({hint}); yield only workflow futures "
                    "(workflow.execute_activity, workflow.sleep, workflow.wait_all, ...)"
                )
            )
            return
        self.waiting = yielded

    def close(self) -> None:
        """Close an unfinished body (its ``finally:`` blocks run now)."""
        if self.task is not None:
            self.task.get_coro().close()
        else:
            self.body.close()
