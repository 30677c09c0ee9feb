"""OpenTelemetry tracing through interceptors (``pip install 'postgrip-agent-sync[opentelemetry]'``)::

    from postgrip_agent.contrib.opentelemetry import TracingInterceptor

    client = Client.connect(address, interceptors=[TracingInterceptor()])   # its Agents trace too

Spans (the trace context travels in the ``_tracer-data`` header, so one trace spans the web
request that started a run, the run, and its activities on agents in other processes):

- the client: ``StartWorkflow:<type>``, ``SignalWorkflow:<name>``, ``QueryWorkflow:<name>``,
  ``StartWorkflowUpdate:<name>`` (kind CLIENT), children of whatever span is current (a Flask or
  Django request's);
- the workflow, as Temporal's tracing does, each span ended as it starts (workflow code is replayed,
  so it cannot hold a span open) and never emitted while the run replays: ``RunWorkflow:<type>``,
  ``StartActivity:<name>``, ``StartChildWorkflow:<type>`` (children of the span that started the
  run), ``HandleSignal:<name>``, ``HandleQuery:<name>``, ``HandleUpdate:<name>`` (children of the
  span that sent them);
- the agent: ``RunActivity:<name>`` (kind SERVER), child of its ``StartActivity`` span, open for
  as long as the attempt runs; a failure is recorded on it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Mapping, Optional, Type

try:
    from opentelemetry import context as otel_context, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as err:  # pragma: no cover - the optional extra
    raise ImportError(
        "postgrip_agent.contrib.opentelemetry needs opentelemetry-api: pip install 'postgrip-agent-sync[opentelemetry]'"
    ) from err

from .. import workflow
from ..interceptor import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

__all__ = ["TracingInterceptor", "HEADER"]

#: the header the trace context travels in (as Temporal's tracing names it)
HEADER = "_tracer-data"


def _inject(headers: Dict[str, Any]) -> None:
    carrier: Dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        headers[HEADER] = carrier


def _extracted(headers: Mapping[str, Any]) -> Any:
    carrier = headers.get(HEADER)
    return propagate.extract(carrier) if isinstance(carrier, dict) else None


class TracingInterceptor(Interceptor):
    """Spans for starts, signals, queries and updates, workflow runs, and activities (see the module)."""

    def __init__(self, tracer: Optional[trace.Tracer] = None) -> None:
        self.tracer = tracer or trace.get_tracer("postgrip_agent")

    @contextlib.contextmanager
    def span(
        self, name: str, kind: SpanKind, parent: Any = None, attributes: Optional[Dict[str, Any]] = None, ended: bool = False
    ) -> Iterator[None]:
        """A span (child of ``parent``, a context, else the current one) current inside the block;
        ``ended``: ended as it starts (workflow code)."""
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes or {})
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            if ended:
                span.end()
            yield
        except Exception as err:
            if not ended:
                span.record_exception(err)
                span.set_status(Status(StatusCode.ERROR, str(err)))
            raise
        finally:
            otel_context.detach(token)
            if not ended:
                span.end()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClientTracing(next, self)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityTracing(next, self)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> Optional[Type[WorkflowInboundInterceptor]]:
        tracing = self

        class _Bound(_WorkflowTracing):
            def __init__(self, next: WorkflowInboundInterceptor) -> None:
                super().__init__(next, tracing)

        return _Bound


class _ClientTracing(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, tracing: TracingInterceptor) -> None:
        super().__init__(next)
        self.tracing = tracing

    def start_workflow(self, input: StartWorkflowInput) -> Any:
        with self.tracing.span(
            f"StartWorkflow:{input.workflow}",
            SpanKind.CLIENT,
            attributes={"postgrip.workflow_id": input.id, "postgrip.task_queue": input.task_queue},
        ):
            _inject(input.headers)
            return self.next.start_workflow(input)

    def signal_workflow(self, input: SignalWorkflowInput) -> None:
        with self.tracing.span(f"SignalWorkflow:{input.signal}", SpanKind.CLIENT, attributes={"postgrip.workflow_id": input.id}):
            _inject(input.headers)
            return self.next.signal_workflow(input)

    def query_workflow(self, input: QueryWorkflowInput) -> Any:
        with self.tracing.span(f"QueryWorkflow:{input.query}", SpanKind.CLIENT, attributes={"postgrip.workflow_id": input.id}):
            _inject(input.headers)
            return self.next.query_workflow(input)

    def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        with self.tracing.span(
            f"StartWorkflowUpdate:{input.update}", SpanKind.CLIENT, attributes={"postgrip.workflow_id": input.id}
        ):
            _inject(input.headers)
            return self.next.start_workflow_update(input)


class _ActivityTracing(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracing: TracingInterceptor) -> None:
        super().__init__(next)
        self.tracing = tracing

    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from .. import activity

        info = activity.info()
        with self.tracing.span(
            f"RunActivity:{info.activity_type}",
            SpanKind.SERVER,
            _extracted(input.headers),
            {"postgrip.workflow_id": info.workflow_id or "", "postgrip.attempt": info.attempt},
        ):
            return self.next.execute_activity(input)


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: "_WorkflowTracing") -> None:
        super().__init__(next)
        self.inbound = inbound

    def start_activity(self, input: StartActivityInput) -> Any:
        if workflow.is_replaying():  # a replayed command is not sent again: no span, no header
            return self.next.start_activity(input)
        with self.inbound.tracing.span(
            f"StartActivity:{input.activity}", SpanKind.CLIENT, self.inbound.parent, self.inbound.attributes(), ended=True
        ):
            _inject(input.headers)
        return self.next.start_activity(input)

    def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        if workflow.is_replaying():
            return self.next.start_child_workflow(input)
        with self.inbound.tracing.span(
            f"StartChildWorkflow:{input.workflow}",
            SpanKind.CLIENT,
            self.inbound.parent,
            {**self.inbound.attributes(), "postgrip.child_workflow_id": input.id},
            ended=True,
        ):
            _inject(input.headers)
        return self.next.start_child_workflow(input)


class _WorkflowTracing(WorkflowInboundInterceptor):
    def __init__(self, next: WorkflowInboundInterceptor, tracing: TracingInterceptor) -> None:
        super().__init__(next)
        self.tracing = tracing
        #: the context of the span that started the run: what the run's own spans hang under
        self.parent: Any = None

    def attributes(self) -> Dict[str, Any]:
        info = workflow.info()
        return {"postgrip.workflow_id": info.workflow_id, "postgrip.run_id": info.run_id}

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.next.init(_WorkflowOutbound(outbound, self))

    def _marker(self, name: str, parent: Any) -> None:
        if not workflow.is_replaying():
            with self.tracing.span(name, SpanKind.INTERNAL, parent, self.attributes(), ended=True):
                pass

    def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.parent = _extracted(input.headers)
        self._marker(f"RunWorkflow:{input.type}", self.parent)
        return self.next.execute_workflow(input)

    def handle_signal(self, input: HandleSignalInput) -> Any:
        self._marker(f"HandleSignal:{input.signal}", _extracted(input.headers))
        return self.next.handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        with self.tracing.span(f"HandleQuery:{input.query}", SpanKind.SERVER, _extracted(input.headers), ended=True):
            pass
        return self.next.handle_query(input)

    def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._marker(f"HandleUpdate:{input.update}", _extracted(input.headers))
        return self.next.handle_update_handler(input)
