"""Cancellation scopes in workflow code (``workflow.CancellationScope``)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

from ._runtime.bodies import Scope
from ._runtime.futures import WorkflowFuture, resolved
from ._runtime.contract import RunningWorkflow
from ._runtime.instance import running

_instance: Callable[[str], RunningWorkflow] = running  # what the scopes may use of the run: the contract


class CancellationScope:
    """``with workflow.CancellationScope(cancellable=False):`` shields cleanup from cancellation;
    a cancellable scope can be cancelled from inside the workflow with [`cancel()`][postgrip_agent.workflow.CancellationScope.cancel]."""

    def __init__(self, *, cancellable: bool = True) -> None:
        self.is_cancellable = cancellable
        self._scope: Optional[Scope] = None
        self._body: Any = None
        self._instance: Optional[RunningWorkflow] = None

    def __enter__(self) -> "CancellationScope":
        instance = _instance("CancellationScope")
        body = instance.current_body
        if body is None:
            raise RuntimeError("CancellationScope must be entered from workflow code")
        self._scope = Scope(body.scopes[-1], self.is_cancellable)
        body.scopes.append(self._scope)
        self._body = body
        self._instance = instance
        return self

    def __exit__(self, *exc: Any) -> None:
        # no runtime lookup: a suspended body may be closed after its activation ended
        if self._body is not None and self._instance is not None and self._scope in self._body.scopes:
            self._body.scopes.remove(self._scope)
            if not self._instance.tearing_down:
                self._instance.left_scope(self._body)

    def cancel(self, reason: str = "cancelled by the workflow") -> None:
        """Cancel what runs in this scope (once: see the cancellation section of docs/sdk.md)."""
        if self._scope is None or self._instance is None:
            raise RuntimeError("cancel() a CancellationScope after entering it")
        self._instance.cancel_scope(self._scope, reason)

    @property
    def cancelled(self) -> bool:
        """Whether this scope was cancelled."""
        return self._scope is not None and self._scope.cancelled

    @staticmethod
    def non_cancellable(fn: Callable[[], Any]) -> WorkflowFuture[Any]:
        """The async SDK's spelling: run ``fn`` (a plain function, a generator function or an
        ``async def``) shielded from cancellation; the future resolves with what it returns."""
        return _run_scoped(fn, cancellable=False)

    @staticmethod
    def cancellable(fn: Callable[[], Any]) -> WorkflowFuture[Any]:
        """Run ``fn`` (as for [`non_cancellable()`][postgrip_agent.workflow.CancellationScope.non_cancellable]) in a scope that cancellation reaches."""
        return _run_scoped(fn, cancellable=True)

    @staticmethod
    def current() -> str:
        """``"non_cancellable"`` inside a shielded scope, else ``"cancellable"`` (the async SDK's names)."""
        return "non_cancellable" if _instance("CancellationScope.current").shielded() else "cancellable"


def _run_scoped(fn: Callable[[], Any], *, cancellable: bool) -> WorkflowFuture[Any]:
    scope = CancellationScope(cancellable=cancellable)
    with scope:
        value = fn()
        if inspect.iscoroutine(value) or inspect.isgenerator(value):
            # a body of its own, inside this scope: its awaits and what it starts are shielded (or not)
            kind = "cancellable" if cancellable else "non-cancellable"
            return _instance("CancellationScope").start_body(value, f"{kind} scope {getattr(fn, '__name__', 'fn')}")
    if isinstance(value, WorkflowFuture):
        return value
    return resolved(value)
