"""Transient faults (a service error, a dropped connection, a store that is briefly unavailable)
never fail a run: only the run's own code does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer

from .proxy import HttpFaultProxy


@activity.defn(name="transient_inc")
def inc(x: int) -> int:
    return x + 1


@workflow.defn(name="TwoSteps")
class TwoSteps:
    @workflow.run
    def run(self, x: int):  # type: ignore[no-untyped-def]
        a = yield workflow.execute_activity(inc, x, start_to_close_timeout=timedelta(seconds=10))
        b = yield workflow.execute_activity(inc, a, start_to_close_timeout=timedelta(seconds=10))
        return b


@pytest.fixture
def service() -> Iterator[LocalServer]:
    with LocalServer(db=":memory:", port=0) as srv:
        yield srv


@pytest.fixture
def proxy(service: LocalServer) -> Iterator[HttpFaultProxy]:
    p = HttpFaultProxy(service.address)
    yield p
    p.close()


@pytest.mark.parametrize("fault", [500, 503, "drop"])
def test_a_fault_on_the_history_read_does_not_fail_the_run(service: LocalServer, proxy: HttpFaultProxy, fault: Any) -> None:
    # the agent (no cache: every activation reads history) talks through the proxy; the client does not
    agent_client = Client.connect(proxy.address)
    client = Client.connect(service.address)
    proxy.inject("GET", "/history", fault, times=1)
    with Agent(agent_client, task_queue="tq", workflows=[TwoSteps], activities=[inc], max_cached_workflows=0):
        handle = client.start_workflow(TwoSteps, 1, task_queue="tq")
        assert handle.result(timeout=20) == 3
    assert [hit[2] for hit in proxy.hits] == [fault], "the fault was not injected on a history read"
    types = [e.type for e in handle.fetch_history().events]
    assert "WorkflowExecutionFailed" not in types and types[-1] == "WorkflowExecutionCompleted"
