"""Cancellation inside a run: which body is running, the scope it runs in, and what cancelling a
scope does to each body (asyncio's rules: a waiting body is cancelled where it waits, a shielded
one once it leaves its shield)."""

from __future__ import annotations

from typing import List, Optional

from ..errors import CancelledFailure
from .bodies import Body, Scope
from .loop import task_body


class Cancelling:
    """The part of ``WorkflowInstance`` that knows its bodies' scopes."""

    root: Scope
    bodies: List[Body]
    _stepping: Optional[Body]

    @property
    def current_body(self) -> Optional[Body]:
        """The body whose code is running now (None between steps)."""
        return self._stepping if self._stepping is not None else task_body.get()

    def cancel_scope(self, scope: Scope, reason: str) -> None:
        """Cancel ``scope``: the work started in it fails with CancelledFailure, and each body
        inside learns of it once, as in asyncio: a body waiting on other work is cancelled
        there (a task) or at its next command (a generator); a shielded body, once it leaves
        its shield. After that the body may issue commands again (cleanup needs no shield)."""
        if scope.cancelled:
            return
        scope.cancel(reason)
        for body in list(self.bodies):
            inner = body.scopes[-1]
            if body.outcome.done() or not _encloses(scope, inner):
                continue
            if not scope.holds(inner):  # a shield stands in between: later
                body.pending_cancel = reason
            elif body.task is not None:
                waiter = getattr(body.task, "_fut_waiter", None)
                if waiter is None or not waiter.done():  # not reached through what it awaits
                    body.task.cancel(CancelledFailure(reason))
            elif body is self._stepping or body.waiting is None or not body.waiting.done():
                body.pending_cancel = reason

    def left_scope(self, body: Body) -> None:
        """A body left a scope: a cancellation held back by a shield reaches a task now."""
        if body.pending_cancel is not None and body.task is not None and not body.shielded:
            reason, body.pending_cancel = body.pending_cancel, None
            body.task.cancel(CancelledFailure(reason))

    def _scope(self) -> Scope:
        body = self.current_body
        return body.scopes[-1] if body is not None else self.root

    def shielded(self) -> bool:
        body = self.current_body
        return body is not None and body.shielded

    def cancelled_here(self) -> Optional[str]:
        """A cancellation this body has not seen yet: the command about to be issued fails with it."""
        body = self.current_body
        if body is None or body.pending_cancel is None or body.shielded:
            return None
        reason, body.pending_cancel = body.pending_cancel, None
        return reason


def _encloses(outer: Scope, inner: Scope) -> bool:
    scope: Optional[Scope] = inner
    while scope is not None:
        if scope is outer:
            return True
        scope = scope.parent
    return False
