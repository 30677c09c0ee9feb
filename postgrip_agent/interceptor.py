"""Interceptors, in Temporal's shape: code that runs around every call a client makes, every
workflow run, signal, query and update an agent handles, every activity and child a workflow
starts, and every activity an agent runs; each a chain, each link calling ``self.next``.

``headers`` (a dict of JSON values) travel with starts, signals, queries, updates, activities and
children, for the interceptors on the other side to read: in the task's payload under
``"headers"`` (free-form, so foreign clients pass them by), and for signals in the request's
``headers`` field, our service's ``headers`` extension (sent only when there are some).

Give interceptors to ``Client.connect(..., interceptors=[...])`` (the client's calls, and every
Agent built on that client) or ``Agent(..., interceptors=[...])`` (that agent only). Workflow
interceptors run inside the deterministic runtime: they must be deterministic themselves
(``workflow.now()``, not ``time.time()``; nothing done twice when ``workflow.is_replaying()``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Type

import attrs

__all__ = [
    "ActivityInboundInterceptor",
    "ExecuteActivityInput",
    "ExecuteWorkflowInput",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "Interceptor",
    "OutboundInterceptor",
    "QueryWorkflowInput",
    "SignalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
]

Headers = Dict[str, Any]


# ---------------------------------------------------------------------- the client's calls


@attrs.define
class StartWorkflowInput:
    workflow: str  #: the workflow type
    args: List[Any]
    id: str
    task_queue: str
    headers: Headers
    #: the call's other options, as given (passed on as they are)
    options: Dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class SignalWorkflowInput:
    id: str
    run_id: Optional[str]
    signal: str
    args: List[Any]
    headers: Headers


@attrs.define
class QueryWorkflowInput:
    id: str
    run_id: Optional[str]
    query: str
    args: List[Any]
    headers: Headers
    result_type: Optional[Any] = None


@attrs.define
class StartWorkflowUpdateInput:
    id: str
    run_id: Optional[str]
    update: str
    args: List[Any]
    headers: Headers
    update_id: Optional[str] = None
    result_type: Optional[Any] = None


class OutboundInterceptor:
    """Around the client's calls. Override what you need; call ``self.next`` to go on."""

    def __init__(self, next: "OutboundInterceptor") -> None:
        self.next = next

    def start_workflow(self, input: StartWorkflowInput) -> Any:
        """Starts the run; returns its WorkflowHandle."""
        return self.next.start_workflow(input)

    def signal_workflow(self, input: SignalWorkflowInput) -> None:
        return self.next.signal_workflow(input)

    def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return self.next.query_workflow(input)

    def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        """Starts the update; returns its WorkflowUpdateHandle."""
        return self.next.start_workflow_update(input)


# ---------------------------------------------------------------------- an agent's activities


@attrs.define
class ExecuteActivityInput:
    fn: Callable[..., Any]
    args: List[Any]  #: decoded, as the function takes them
    headers: Headers


class ActivityInboundInterceptor:
    """Around each activity attempt an agent runs (on the activity's thread; ``activity.info()`` works)."""

    def __init__(self, next: "ActivityInboundInterceptor") -> None:
        self.next = next

    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return self.next.execute_activity(input)


# ---------------------------------------------------------------------- workflows (deterministic)


@attrs.define
class WorkflowInterceptorClassInput:
    """What ``Interceptor.workflow_interceptor_class()`` is told (nothing yet; room to grow)."""


@attrs.define
class ExecuteWorkflowInput:
    type: str
    run_fn: Callable[..., Any]
    args: List[Any]  #: decoded
    headers: Headers


@attrs.define
class HandleSignalInput:
    signal: str
    fn: Callable[..., Any]
    args: List[Any]
    headers: Headers


@attrs.define
class HandleQueryInput:
    query: str
    fn: Callable[..., Any]
    args: List[Any]
    headers: Headers


@attrs.define
class HandleUpdateInput:
    update: str
    fn: Callable[..., Any]
    args: List[Any]
    headers: Headers


@attrs.define
class StartActivityInput:
    activity: str
    args: List[Any]
    headers: Headers
    #: the activity's options (timeouts, retry policy, task queue...), as given
    options: Dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class StartChildWorkflowInput:
    workflow: str
    args: List[Any]
    id: str
    headers: Headers
    options: Dict[str, Any] = attrs.field(factory=dict)


class WorkflowOutboundInterceptor:
    """Around what a workflow starts: activities and child workflows (each returns its future)."""

    def __init__(self, next: "WorkflowOutboundInterceptor") -> None:
        self.next = next

    def start_activity(self, input: StartActivityInput) -> Any:
        return self.next.start_activity(input)

    def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        return self.next.start_child_workflow(input)


class WorkflowInboundInterceptor:
    """Around a run's entry points: the run method, and signal, query and update handlers. Each
    returns what the function returns (for a generator or ``async def`` body: the body itself,
    which the runtime then drives). ``init`` gets the outbound chain: wrap it to intercept it."""

    def __init__(self, next: "WorkflowInboundInterceptor") -> None:
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.next.init(outbound)

    def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return self.next.execute_workflow(input)

    def handle_signal(self, input: HandleSignalInput) -> Any:
        return self.next.handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        return self.next.handle_query(input)

    def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        return self.next.handle_update_handler(input)


class Interceptor:
    """One interceptor: its client, activity and workflow parts (each optional)."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return next

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return next

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> Optional[Type[WorkflowInboundInterceptor]]:
        return None


def client_chain(interceptors: Sequence[Interceptor], root: OutboundInterceptor) -> OutboundInterceptor:
    """The outbound chain, the first interceptor outermost."""
    chain = root
    for interceptor in reversed(list(interceptors)):
        chain = interceptor.intercept_client(chain)
    return chain


def activity_chain(interceptors: Sequence[Interceptor], root: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
    chain = root
    for interceptor in reversed(list(interceptors)):
        chain = interceptor.intercept_activity(chain)
    return chain


def workflow_classes(interceptors: Sequence[Interceptor]) -> List[Type[WorkflowInboundInterceptor]]:
    found = (interceptor.workflow_interceptor_class(WorkflowInterceptorClassInput()) for interceptor in interceptors)
    return [cls for cls in found if cls is not None]


class _ClientRoot(OutboundInterceptor):
    """The end of a client chain: the call itself."""

    def __init__(self, method: str, call: Callable[[Any], Any]) -> None:  # the end of the chain: no next
        self._method, self._call = method, call

    def _do(self, method: str, input: Any) -> Any:
        if method != self._method:
            raise RuntimeError(f"an interceptor called {method} inside {self._method}: call self.next.{self._method}")
        return self._call(input)

    def start_workflow(self, input: StartWorkflowInput) -> Any:
        return self._do("start_workflow", input)

    def signal_workflow(self, input: SignalWorkflowInput) -> None:
        return self._do("signal_workflow", input)  # type: ignore[no-any-return]

    def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return self._do("query_workflow", input)

    def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        return self._do("start_workflow_update", input)


def through_client(interceptors: Sequence[Interceptor], method: str, input: Any, call: Callable[[Any], Any]) -> Any:
    """``call(input)``, through the client chain's ``method`` when there are interceptors."""
    if not interceptors:
        return call(input)
    return getattr(client_chain(interceptors, _ClientRoot(method, call)), method)(input)


class _ActivityRoot(ActivityInboundInterceptor):
    def __init__(self, call: Callable[[ExecuteActivityInput], Any]) -> None:  # the end of the chain: no next
        self._call = call

    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return self._call(input)


def through_activity(
    interceptors: Sequence[Interceptor], input: ExecuteActivityInput, call: Callable[[ExecuteActivityInput], Any]
) -> Any:
    """``call(input)`` through the activity chain when there are interceptors."""
    if not interceptors:
        return call(input)
    return activity_chain(interceptors, _ActivityRoot(call)).execute_activity(input)
