"""Two replicas of the service in separate processes over one PostgreSQL database: agents poll
both, 500 workflows of 3 activities start through both, one replica is killed with SIGKILL
mid-run, and every workflow still completes once, through the other, with nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from typing import Dict, Iterator, List, Tuple

import pytest

from postgrip_agent import Agent, Client, activity, workflow

from .conftest import postgres_db, wait_for

WORKFLOWS = 500
STEPS = 3

_lock = threading.Lock()
_executions: Counter = Counter()  # (workflow id, step) -> times the activity body ran


@activity.defn(name="replica_step")
def replica_step(workflow_id: str, step: int) -> str:
    with _lock:
        _executions[(workflow_id, step)] += 1
    return f"{workflow_id}:{step}"


@workflow.defn(name="ThreeSteps")
class ThreeSteps:
    @workflow.run
    def run(self, workflow_id: str):
        done = []
        for step in range(STEPS):
            done.append((yield workflow.execute_activity(replica_step, workflow_id, step, start_to_close_timeout=5)))
        return done


def _replica(url: str) -> Tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    process = subprocess.Popen(
        [sys.executable, "-m", "postgrip_agent.cli", "server", "--port", "0", "--db", url, "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on http://" in line, line
    return process, line.split("listening on ")[1].split()[0]


@pytest.fixture
def two_replicas() -> Iterator[List[Tuple[subprocess.Popen, str]]]:  # type: ignore[type-arg]
    for url in postgres_db():
        replicas = [_replica(url), _replica(url)]
        try:
            yield replicas
        finally:
            for process, _ in replicas:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)


def test_work_survives_a_replica_killed_mid_run(two_replicas: List[Tuple[subprocess.Popen, str]]) -> None:  # type: ignore[type-arg]
    _executions.clear()
    (doomed, a), (_, b) = two_replicas
    through_a, through_b = Client.connect([a, b]), Client.connect([b, a])
    agents = [
        Agent(through_a, task_queue="replicas", workflows=[ThreeSteps], activities=[replica_step], activity_lease=2),
        Agent(through_b, task_queue="replicas", workflows=[ThreeSteps], activities=[replica_step], activity_lease=2),
    ]
    for agent in agents:
        agent.start()
    killed_at: Dict[str, int] = {}

    def kill_mid_run() -> None:  # once a third of the activities ran, replica A dies without a word
        wait_for(lambda: sum(_executions.values()) >= WORKFLOWS * STEPS // 3, timeout=120, interval=0.005)
        killed_at["executions"] = sum(_executions.values())
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)

    killer = threading.Thread(target=kill_mid_run)
    killer.start()
    try:
        handles = [
            (through_a if i % 2 == 0 else through_b).start_workflow(
                ThreeSteps, f"wf-{i}", id=f"wf-{i}", task_queue="replicas", lease_timeout=2
            )
            for i in range(WORKFLOWS)
        ]
        results = [handle.result(timeout=180) for handle in handles]
        killer.join(timeout=60)
    finally:
        for agent in agents:
            agent.shutdown(timeout=10)
    assert doomed.returncode == -signal.SIGKILL
    assert killed_at["executions"] < WORKFLOWS * STEPS, "the replica died after the work was done"
    assert results == [[f"wf-{i}:{step}" for step in range(STEPS)] for i in range(WORKFLOWS)]
    assert through_a.connection.address == b  # the client given [a, b] moved on to b
    for i, handle in enumerate(handles):
        events = handle.fetch_history().events
        kinds = Counter(event.type for event in events)
        assert kinds["WorkflowExecutionCompleted"] == 1 and kinds["ActivityTaskCompleted"] == STEPS, (handle.id, kinds)
        scheduled: Counter = Counter(
            tuple(event.attributes["args"])[1] for event in events if event.type == "ActivityTaskScheduled"
        )
        for step in range(STEPS):
            ran = _executions[(f"wf-{i}", step)]
            assert 1 <= ran <= scheduled[step] + 1, (handle.id, step, ran, scheduled[step])
