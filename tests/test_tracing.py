"""OpenTelemetry tracing through the interceptors: one trace from a Flask request through the
client's start, the run and its activities on an agent in another process; no span twice when
runs replay (cache off)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Generator, List

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer

from .conftest import wait_for

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from postgrip_agent.contrib.opentelemetry import TracingInterceptor  # noqa: E402

AGENT_SCRIPT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.contrib.opentelemetry import TracingInterceptor

@activity.defn
def charge(amount: int) -> int:
    return amount * 2

@workflow.defn
class Order:
    @workflow.run
    def run(self, amount: int):
        return (yield workflow.execute_activity(charge, amount, start_to_close_timeout=10))

out = open(sys.argv[2], "w")
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\\n")))
client = Client.connect(sys.argv[1], interceptors=[TracingInterceptor(provider.get_tracer("agent"))])
Agent(client, task_queue="traced", workflows=[Order], activities=[charge], identity="traced-agent").run(grace=5)
out.flush()
"""


def _spans(exporter: InMemorySpanExporter) -> List[Dict[str, Any]]:
    return [
        {"name": s.name, "trace": s.context.trace_id, "id": s.context.span_id, "parent": s.parent.span_id if s.parent else None}
        for s in exporter.get_finished_spans()
    ]


def _remote(path: Path) -> List[Dict[str, Any]]:
    spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        {
            "name": s["name"],
            "trace": int(s["context"]["trace_id"], 16),
            "id": int(s["context"]["span_id"], 16),
            "parent": int(s["parent_id"], 16) if s.get("parent_id") else None,
        }
        for s in spans
    ]


def test_one_trace_spans_the_web_request_the_run_and_its_activity_in_another_process(tmp_path: Path) -> None:
    flask = pytest.importorskip("flask")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("web")
    (tmp_path / "agent_side.py").write_text(textwrap.dedent(AGENT_SCRIPT))
    spans_file = tmp_path / "agent-spans.jsonl"
    with LocalServer(db=str(tmp_path / "traced.db")) as server:
        agent = subprocess.Popen(
            [sys.executable, str(tmp_path / "agent_side.py"), server.address, str(spans_file)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            client = Client.connect(server.address, interceptors=[TracingInterceptor(tracer)])
            app = flask.Flask("orders")

            @app.post("/orders")
            def order() -> Any:
                with tracer.start_as_current_span("POST /orders"):
                    handle = client.start_workflow("Order", 21, id="traced-order", task_queue="traced")
                return {"id": handle.id}

            assert app.test_client().post("/orders").get_json() == {"id": "traced-order"}
            assert client.get_workflow_handle("traced-order").result(timeout=30) == 42
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
    assert agent.returncode == 0, agent.stderr.read() if agent.stderr else ""
    spans = _spans(exporter) + _remote(spans_file)
    by_name = {s["name"]: s for s in spans}
    assert len({s["trace"] for s in spans}) == 1, spans  # one trace, across both processes
    request, start = by_name["POST /orders"], by_name["StartWorkflow:Order"]
    assert start["parent"] == request["id"]
    assert by_name["RunWorkflow:Order"]["parent"] == start["id"]
    assert by_name["StartActivity:charge"]["parent"] == start["id"]
    assert by_name["RunActivity:charge"]["parent"] == by_name["StartActivity:charge"]["id"]


@activity.defn
def step(n: int) -> int:
    return n + 1


@workflow.defn
class Traced:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    def run(self) -> Generator[Any, Any, int]:
        first = yield workflow.execute_activity(step, 1, start_to_close_timeout=10)
        yield workflow.wait_condition(lambda: self.go)
        second = yield workflow.execute_activity(step, first, start_to_close_timeout=10)
        return second  # type: ignore[no-any-return]

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@pytest.mark.parametrize("cached", [True, False], ids=["cache-on", "cache-off"])
def test_no_span_twice_when_runs_replay(server: LocalServer, cached: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = Client.connect(server, interceptors=[TracingInterceptor(provider.get_tracer("test"))])
    with Agent(client, task_queue="replayed", workflows=[Traced], activities=[step], max_cached_workflows=1000 if cached else 0):
        handle = client.start_workflow(Traced, id=f"traced-{cached}", task_queue="replayed")
        wait_for(lambda: any(e.type == "ActivityTaskCompleted" for e in handle.fetch_history_events()))
        handle.signal(Traced.proceed)
        assert handle.result(timeout=30) == 3
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == sorted(
        [
            "StartWorkflow:Traced",
            "RunWorkflow:Traced",
            "StartActivity:step",
            "StartActivity:step",
            "RunActivity:step",
            "RunActivity:step",
            "SignalWorkflow:proceed",
            "HandleSignal:proceed",
        ]
    ), names


@workflow.defn
class Chained:
    @workflow.run
    def run(self, rounds: int) -> int:
        if rounds > 0:
            workflow.continue_as_new(rounds - 1)
        return rounds


def test_continue_as_new_keeps_the_run_in_its_trace(server: LocalServer) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = Client.connect(server, interceptors=[TracingInterceptor(provider.get_tracer("test"))])
    with Agent(client, task_queue="chained", workflows=[Chained]):
        assert client.execute_workflow(Chained, 2, id="chained", task_queue="chained", timeout=30) == 0
    spans = exporter.get_finished_spans()
    start = next(s for s in spans if s.name == "StartWorkflow:Chained")
    runs = [s for s in spans if s.name == "RunWorkflow:Chained"]
    assert len(runs) == 3 and all(s.parent is not None and s.parent.span_id == start.context.span_id for s in runs)
