"""``/metrics``: after a known workload, the service's counters, histograms and gauges have the
values it implies (Prometheus text format, parsed with prometheus_client's own parser)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, Tuple

import pytest
import requests

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.errors import WorkflowFailureError
from postgrip_agent.server import LocalServer, ManualClock

from .conftest import Wire

parser = pytest.importorskip("prometheus_client.parser")


@activity.defn
def measured(n: int) -> int:
    if n < 0:
        raise ValueError("negative")
    return n + 1


@workflow.defn
class Measured:
    @workflow.run
    def run(self, n: int):  # type: ignore[no-untyped-def]
        from postgrip_agent import RetryPolicy

        return (
            yield workflow.execute_activity(
                measured, n, start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=1)
            )
        )


@workflow.defn
class Stranded:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        yield workflow.execute_activity(
            "nobody_runs_this",
            task_queue="unpolled",
            schedule_to_start_timeout=timedelta(seconds=5),
            start_to_close_timeout=timedelta(seconds=10),
        )


def _scrape(address: str, **headers: str) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    answer = requests.get(address + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain"), answer.text[:300]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parser.text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(seen: Dict[Any, float], name: str, **labels: str) -> float:
    return seen.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_a_known_workload(db: str) -> None:
    clock = ManualClock()
    with LocalServer(db=db, clock=clock) as server:
        client = Client.connect(server)
        with Agent(client, task_queue="metered", workflows=[Measured, Stranded], activities=[measured]):
            for n in range(3):
                assert client.execute_workflow(Measured, n, task_queue="metered", timeout=30) == n + 1
            with pytest.raises(WorkflowFailureError):
                client.execute_workflow(Measured, -1, task_queue="metered", timeout=30)
            stranded = client.start_workflow(Stranded, task_queue="metered")
            wire = Wire(server.address)
            for i in range(2):
                wire.enqueue("report:build", {"i": i}, queue="backlogged")
            wire.enqueue("report:lease", {}, queue="leased-once", lease_timeout_seconds=1)
            assert wire.poll(queue="leased-once", agent="vanishing") is not None
            clock.advance(6)  # the stranded activity's schedule-to-start timeout, and the lease, lapse
            server.engine.run_due()
            stranded.describe()
        seen = _scrape(server.address)
    assert _value(seen, "postgrip_workflows_started_total", namespace="default", workflow_type="Measured") == 4
    assert _value(seen, "postgrip_workflows_closed_total", namespace="default", workflow_type="Measured", status="COMPLETED") == 3
    assert _value(seen, "postgrip_workflows_closed_total", namespace="default", workflow_type="Measured", status="FAILED") == 1
    assert _value(seen, "postgrip_timeouts_total", kind="SCHEDULE_TO_START") == 1
    assert _value(seen, "postgrip_lease_expiries_total", namespace="default", queue="leased-once") == 1
    assert _value(seen, "postgrip_task_backlog", namespace="default", queue="backlogged") == 2
    assert _value(seen, "postgrip_schedule_to_start_seconds_count", namespace="default", queue="metered") >= 13
    assert _value(seen, "postgrip_schedule_to_start_seconds_count", namespace="default", queue="leased-once") == 1
    assert _value(seen, "postgrip_http_requests_total", route="/api/v1/tasks", method="POST", status="202") >= 8
    assert _value(seen, "postgrip_http_requests_total", route="/api/v1/workflows/{workflowId}", method="GET", status="200") >= 1
    commits = _value(seen, "postgrip_store_commits_total")
    assert commits > 20 and _value(seen, "postgrip_store_commit_seconds_count") >= commits
    assert _value(seen, "postgrip_store_commit_seconds_bucket", le="+Inf") == _value(seen, "postgrip_store_commit_seconds_count")


def test_metrics_need_the_token_when_the_service_has_one() -> None:
    with LocalServer(auth_token="scrape-secret") as server:
        assert requests.get(server.address + "/metrics", timeout=5).status_code == 401
        seen = _scrape(server.address, Authorization="Bearer scrape-secret")
        assert ("postgrip_polls_waiting", ()) in seen and ("postgrip_ticker_lag_seconds", ()) in seen


def test_the_agent_reports_its_work_to_prometheus(server: LocalServer) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from postgrip_agent.contrib.prometheus import AgentMetrics

    registry = CollectorRegistry()
    metrics = AgentMetrics(registry)
    client = Client.connect(server)
    agent = Agent(
        client,
        task_queue="agent-metered",
        workflows=[Measured],
        activities=[measured],
        metrics=metrics,
        identity="metered-agent",
        max_concurrent_activities=7,
    )
    with agent:
        for n in range(3):
            client.execute_workflow(Measured, n, task_queue="agent-metered", timeout=30)
        with pytest.raises(WorkflowFailureError):
            client.execute_workflow(Measured, -1, task_queue="agent-metered", timeout=30)
        stats = agent.stats()
        assert stats["activity_slots"] == 7 and stats["cache_hits"] + stats["cache_misses"] >= 4
        seen = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples
        }
    activity = (("lane", "activity"), ("task_type", "activity:measured"))
    assert seen[("postgrip_agent_task_seconds_count", activity)] == 4
    assert seen[("postgrip_agent_task_failures_total", activity)] == 1
    assert seen[("postgrip_agent_slots", (("agent", "metered-agent"), ("lane", "activity")))] == 7
    assert seen[("postgrip_agent_cache_hits_total", (("agent", "metered-agent"),))] == stats["cache_hits"]
    polls = sum(v for (name, labels), v in seen.items() if name == "postgrip_agent_poll_seconds_count")
    assert polls >= 1
