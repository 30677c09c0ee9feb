"""Workflow interceptors inside the runtime: the inbound chain a run's entry points go through
(the run method, signal, query and update handlers) and the outbound chain what it starts goes
through (activities, children). Both are built once per run instance."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Type

from .._encoding import encode_args
from ..converter import DataConverter
from ..interceptor import (
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)

Invoke = Callable[[Callable[..., Any], List[Any]], Any]


class _InboundRoot(WorkflowInboundInterceptor):
    """The end of the inbound chain: call the function."""

    def __init__(self, runtime: "Interception") -> None:  # the end of the chain: no next
        self._runtime = runtime

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self._runtime.outbound = outbound

    def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return input.run_fn(*input.args)

    def handle_signal(self, input: HandleSignalInput) -> Any:
        return input.fn(*input.args)

    def handle_query(self, input: HandleQueryInput) -> Any:
        return input.fn(*input.args)

    def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        return input.fn(*input.args)


class _OutboundRoot(WorkflowOutboundInterceptor):
    """The end of the outbound chain: issue the command as the call that entered the chain asked."""

    def __init__(self) -> None:  # the end of the chain: no next
        self.issuing: List[Callable[[Any], Any]] = []

    def start_activity(self, input: Any) -> Any:
        return self.issuing[-1](input)

    def start_child_workflow(self, input: Any) -> Any:
        return self.issuing[-1](input)


def as_intercepted(
    payload: Dict[str, Any], args: List[Any], given: List[Any], headers: Dict[str, Any], what: str, converter: DataConverter
) -> None:
    """A command's payload as the outbound interceptors left it: arguments they replaced, headers they added."""
    if args is not given:
        payload["args"] = encode_args(args, what, converter)
    if headers:
        payload["headers"] = dict(headers)


class Interception:
    """A run's two chains (plain calls when no interceptor takes part)."""

    def __init__(self, classes: Sequence[Type[WorkflowInboundInterceptor]], workflow_type: str) -> None:
        self.workflow_type = workflow_type
        self.active = bool(classes)
        self._root = _OutboundRoot()
        self.outbound: WorkflowOutboundInterceptor = self._root
        inbound: WorkflowInboundInterceptor = _InboundRoot(self)
        for cls in reversed(list(classes)):
            inbound = cls(inbound)
        self.inbound = inbound
        inbound.init(self._root)

    def invoke(self, kind: str, name: str, headers: Optional[Dict[str, Any]]) -> Optional[Invoke]:
        """How to call an entry point of ``kind`` ("workflow", "signal", "query", "update") through
        the chain (None: call it plainly)."""
        if not self.active:
            return None
        given = dict(headers or {})
        inbound = self.inbound
        calls: Dict[str, Invoke] = {
            "workflow": lambda fn, args: inbound.execute_workflow(ExecuteWorkflowInput(self.workflow_type, fn, args, given)),
            "signal": lambda fn, args: inbound.handle_signal(HandleSignalInput(name, fn, args, given)),
            "query": lambda fn, args: inbound.handle_query(HandleQueryInput(name, fn, args, given)),
            "update": lambda fn, args: inbound.handle_update_handler(HandleUpdateInput(name, fn, args, given)),
        }
        return calls[kind]

    def start(self, method: str, input: Any, issue: Callable[[Any], Any]) -> Any:
        """``issue(input)`` through the outbound chain's ``method`` (start_activity, start_child_workflow)."""
        if not self.active:
            return issue(input)
        self._root.issuing.append(issue)
        try:
            return getattr(self.outbound, method)(input)
        finally:
            self._root.issuing.pop()
