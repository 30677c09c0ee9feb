"""Interceptors through a real service: a header added by the client reaches the workflow's run,
signal, query and update handlers, and (carried on by the workflow's outbound interceptor) the
activity and the child; replays do not repeat what interceptors guard; foreign clients are
unaffected."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Generator, List, Optional, Type

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.interceptor import (
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
from postgrip_agent.server import LocalServer


SEEN: List[Any] = []


class _AddTenant(OutboundInterceptor):
    def start_workflow(self, input: StartWorkflowInput) -> Any:
        input.headers["tenant"] = "acme"
        return self.next.start_workflow(input)

    def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers["tenant"] = "acme"
        return self.next.signal_workflow(input)

    def query_workflow(self, input: QueryWorkflowInput) -> Any:
        input.headers["tenant"] = "acme"
        return self.next.query_workflow(input)

    def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        input.headers["tenant"] = "acme"
        return self.next.start_workflow_update(input)


class _CarryTenant(WorkflowOutboundInterceptor):
    """What the workflow starts carries the tenant the run was started with."""

    def __init__(self, next: WorkflowOutboundInterceptor, inbound: "_WorkflowSide") -> None:
        super().__init__(next)
        self.inbound = inbound

    def start_activity(self, input: StartActivityInput) -> Any:
        input.headers.update(self.inbound.tenant)
        return self.next.start_activity(input)

    def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        input.headers.update(self.inbound.tenant)
        return self.next.start_child_workflow(input)


class _WorkflowSide(WorkflowInboundInterceptor):
    tenant: Dict[str, Any] = {}

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.tenant = {}
        self.next.init(_CarryTenant(outbound, self))

    def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.tenant = {k: v for k, v in input.headers.items() if k == "tenant"}
        if not workflow.is_replaying():
            SEEN.append(("run", input.type, input.headers.get("tenant")))
        return self.next.execute_workflow(input)

    def handle_signal(self, input: HandleSignalInput) -> Any:
        if not workflow.is_replaying():
            SEEN.append(("signal", input.signal, input.headers.get("tenant")))
        return self.next.handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        SEEN.append(("query", input.query, input.headers.get("tenant")))
        return self.next.handle_query(input)

    def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        SEEN.append(("update", input.update, input.headers.get("tenant")))
        return self.next.handle_update_handler(input)


class _ActivitySide(ActivityInboundInterceptor):
    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        SEEN.append(("activity", activity.info().activity_type, input.headers.get("tenant")))
        return self.next.execute_activity(input)


class Tenancy(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _AddTenant(next)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivitySide(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> Optional[Type[WorkflowInboundInterceptor]]:
        return _WorkflowSide


@activity.defn
def bill(amount: int) -> int:
    return amount * 2


@workflow.defn
class Billing:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    def run(self, amount: int) -> Generator[Any, Any, int]:
        doubled = yield workflow.execute_activity(bill, amount, start_to_close_timeout=10)
        child = yield workflow.execute_child(BillingChild, doubled, id=f"{workflow.info().workflow_id}-child")
        yield workflow.wait_condition(lambda: self.approved)
        return child  # type: ignore[no-any-return]

    @workflow.signal
    def approve(self) -> None:
        self.approved = True

    @workflow.query
    def status(self) -> str:
        return "approved" if self.approved else "waiting"

    @workflow.update
    def bump(self, by: int) -> int:
        return by + 1


@workflow.defn
class BillingChild:
    @workflow.run
    def run(self, amount: int) -> int:
        return amount + 1


@pytest.mark.parametrize("cached", [True, False], ids=["cache-on", "cache-off"])
def test_a_clients_header_reaches_every_handler_the_activity_and_the_child(server: LocalServer, cached: bool) -> None:
    SEEN.clear()
    client = Client.connect(server, interceptors=[Tenancy()])
    with Agent(
        client,
        task_queue="tenants",
        workflows=[Billing, BillingChild],
        activities=[bill],
        max_cached_workflows=1000 if cached else 0,
    ):
        handle = client.start_workflow(Billing, 5, id=f"billing-{cached}", task_queue="tenants")
        assert handle.execute_update(Billing.bump, 1) == 2
        assert handle.query(Billing.status) == "waiting"
        handle.signal(Billing.approve)
        assert handle.result(timeout=30) == 11
    tenants = {entry[:2]: entry[2] for entry in SEEN}
    assert tenants == {
        ("run", "Billing"): "acme",
        ("activity", "bill"): "acme",
        ("run", "BillingChild"): "acme",
        ("update", "bump"): "acme",
        ("query", "status"): "acme",
        ("signal", "approve"): "acme",
    }, SEEN
    runs = [entry for entry in SEEN if entry[:2] == ("run", "Billing")]
    assert len(runs) == 1, SEEN  # replays (every activation, with the cache off) are not counted again
    history = server.engine.history(f"billing-{cached}")
    signalled = [e.attributes for e in history if e.type == "WorkflowSignaled" and e.attributes.get("signal_name") == "approve"]
    assert signalled and signalled[0]["headers"] == {"tenant": "acme"}


REFERENCE_PYTHON = os.environ.get("POSTGRIP_REFERENCE_PYTHON")


@pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set POSTGRIP_REFERENCE_PYTHON to a Python with postgrip-agent==0.12.3 (.ci/run does)"
)
def test_a_reference_client_starts_a_run_our_intercepting_agent_runs(tmp_path: Path) -> None:
    SEEN.clear()
    script = Path(__file__).parent / "reference" / "ref_client.py"
    with LocalServer(db=str(tmp_path / "ref.db"), auth_token="hdr-secret") as server:
        ours = Client.connect(server.address, token="hdr-secret")
        with Agent(ours, task_queue="hdr", workflows=[BillingChild], interceptors=[Tenancy()]):
            env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRIP_")}
            env.update(POSTGRIP_TOKEN="hdr-secret", POSTGRIP_AGENT_REFRESH_TOKEN="hdr-secret", PYTHONPATH="")
            done = subprocess.run(
                [str(REFERENCE_PYTHON), str(script), server.address, "BillingChild", "hdr", "41"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == 42
    assert ("run", "BillingChild", None) in SEEN  # the foreign start carried no headers, and needed none


def test_interceptors_must_be_interceptors() -> None:
    with pytest.raises(TypeError, match="Interceptor objects"):
        Client.connect("http://127.0.0.1:1", interceptors=[object()], check_health=False)  # type: ignore[list-item]
