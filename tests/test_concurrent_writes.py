"""Writes that race: the same request at once, one workflow id started at once, many writes of one
run at once, and long-polls woken by writes that commit while they look.

On PostgreSQL operations run concurrently (no lock of the whole service): these hold there as on
SQLite, whose single writer runs them one at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import requests

from postgrip_agent.server import LocalServer

from .conftest import Wire, wait_for

AT_ONCE = 8


def _together(count: int, call: Any) -> List[Any]:
    """Run ``call(i)`` on ``count`` threads released at the same moment; their results in order."""
    gate = threading.Barrier(count)

    def one(i: int) -> Any:
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_one_request_sent_several_times_at_once_takes_effect_once(server: LocalServer, wire: Wire) -> None:
    wire.start("W", "once")

    def signal(_: int) -> Tuple[int, Dict[str, Any], str]:
        response = requests.post(
            f"{server.address}/api/v1/workflows/once/signal",
            json={"name": "go", "args": [1]},
            headers={"Idempotency-Key": "the-same-key"},
            timeout=30,
        )
        return response.status_code, response.json(), response.headers.get("Idempotency-Replayed", "")

    answers = _together(AT_ONCE, signal)
    assert {status for status, _, _ in answers} == {202}
    assert len({str(body) for _, body, _ in answers}) == 1  # every caller got the first answer
    assert sorted(replayed for _, _, replayed in answers) == [""] + ["true"] * (AT_ONCE - 1)
    assert wire.history_types("once").count("WorkflowSignaled") == 1


def test_one_workflow_id_started_at_once_starts_one_run(server: LocalServer, wire: Wire) -> None:
    def start(_: int) -> int:
        response = requests.post(
            f"{server.address}/api/v1/tasks",
            timeout=30,
            json={"type": "workflow:W", "queue": "q", "payload": {"workflowId": "only-one"}},
        )
        return response.status_code

    statuses = _together(AT_ONCE, start)
    assert sorted(statuses) == [202] + [409] * (AT_ONCE - 1)
    runs = wire.get("/api/v1/workflows", params={"workflow_id": "only-one"})
    assert len(runs) == 1 and wire.history_types("only-one") == ["WorkflowExecutionStarted"]


def test_many_writes_of_one_run_at_once_are_all_applied_in_one_order(server: LocalServer, wire: Wire) -> None:
    wire.start("W", "busy")

    def signal(i: int) -> int:
        return requests.post(f"{server.address}/api/v1/workflows/busy/signal", json={"name": f"s{i}"}, timeout=30).status_code

    assert _together(AT_ONCE * 2, signal) == [202] * (AT_ONCE * 2)
    events = wire.history("busy")
    names = [e["attributes"]["signal_name"] for e in events if e["type"] == "WorkflowSignaled"]
    assert sorted(names) == sorted(f"s{i}" for i in range(AT_ONCE * 2))
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # one order, no number twice


def test_writes_of_different_runs_at_once_all_land(server: LocalServer, wire: Wire) -> None:
    for i in range(AT_ONCE):
        wire.start("W", f"run-{i}")

    def finish(i: int) -> int:
        own = Wire(server.address)
        task = own.poll(agent=f"agent-{i}", wait=5)
        assert task is not None
        own.complete(task, f"done-{i}", agent=f"agent-{i}")
        return 1

    assert sum(_together(AT_ONCE, finish)) == AT_ONCE
    results = {wire.workflow(f"run-{i}")["state"] for i in range(AT_ONCE)}
    assert results == {"succeeded"}


def test_a_long_poll_looking_while_a_task_commits_is_woken(server: LocalServer) -> None:
    """Pollers start looking as tasks commit, over and over: none sleeps through its task (each
    wait is long, so a missed wake-up would show as a poll answering late or empty)."""
    for i in range(40):
        got: List[Any] = []
        poller = threading.Thread(target=lambda: got.append(Wire(server.address).poll(queue=f"race-{i}", wait=20)))
        poller.start()
        Wire(server.address).enqueue("job", queue=f"race-{i}")
        poller.join(timeout=15)
        assert not poller.is_alive(), f"round {i}: the poll slept through the task it raced"
        if got[0] is None:  # it looked before the task and then answered empty: only on its 20 s timeout
            raise AssertionError(f"round {i}: the poll answered without the task")


def test_a_result_waiter_racing_the_close_is_woken(server: LocalServer, wire: Wire) -> None:
    for i in range(20):
        wire.start("W", f"close-{i}")
        task = wire.poll(wait=5)
        assert task is not None
        answers: List[Dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: answers.append(Wire(server.address).get(f"/api/v1/workflows/close-{i}", params={"wait_seconds": 20}))
        )
        waiter.start()
        wire.complete(task, i)
        waiter.join(timeout=15)
        assert not waiter.is_alive(), f"round {i}: the waiter slept through the close it raced"
        wait_for(lambda: bool(answers))
        assert answers[0]["state"] == "succeeded"


def test_one_namespace_or_schedule_created_at_once_is_created_once(server: LocalServer) -> None:
    def create(path: str, body: Dict[str, Any]) -> Any:
        return lambda _: requests.post(f"{server.address}{path}", json=body, timeout=30).status_code

    namespaces = _together(AT_ONCE, create("/api/v1/namespaces", {"name": "team-x"}))
    assert sorted(namespaces)[0] in (200, 201) and sorted(namespaces)[1:] == [409] * (AT_ONCE - 1)
    schedules = _together(
        AT_ONCE, create("/api/v1/schedules", {"id": "nightly", "spec": {"cron": "0 3 * * *"}, "action": {"workflowType": "W"}})
    )
    assert sorted(schedules) == [202] + [409] * (AT_ONCE - 1)
