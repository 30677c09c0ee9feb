"""Agent-lane writes are fenced to the lease they belong to; retried writes are applied once."""

from __future__ import annotations

import uuid
from typing import Any, Dict, Optional, Tuple

import requests

from postgrip_agent.server import LocalServer

from .conftest import Wire


def _lease(wire: Wire, agent: str = "agent-1", queue: str = "q") -> Tuple[Dict[str, Any], str]:
    response = wire.call("GET", "/api/v1/agent/poll", 200, params={"queue": queue, "agent_id": agent})
    task = response.json()["task"]
    return task, response.headers["X-PostGrip-Lease-Token"]


def _write(
    wire: Wire,
    task_id: str,
    action: str,
    body: Any,
    token: Optional[str],
    *,
    lease_of: Optional[str] = None,
    key: Optional[str] = None,
    agent: str = "agent-1",
) -> Any:
    headers = {}
    if token is not None:
        headers["X-PostGrip-Lease"] = f"{lease_of or task_id} {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return wire.call("POST", f"/api/v1/agent/tasks/{task_id}/{action}?agent_id={agent}", json=body, headers=headers)


def test_a_retried_block_from_an_earlier_lease_changes_nothing(wire: Wire) -> None:
    wire.start("Fenced", "fenced-1")
    task, first = _lease(wire)
    assert _write(wire, task["id"], "block", {"reason": "waiting"}, first).status_code == 200
    wire.post("/api/v1/workflows/fenced-1/signal", {"name": "go"}, 202)  # wakes the run: a new lease
    again, second = _lease(wire)
    assert again["id"] == task["id"] and second != first
    # the first block's answer was lost and the SDK retries it: it lands on the newer lease
    stale = _write(wire, task["id"], "block", {"reason": "waiting"}, first)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_lease" and "stale lease" in stale.json()["error"]
    assert wire.task(task["id"])["state"] == "leased"
    assert _write(wire, task["id"], "complete", {"result": {"value": 7}}, second).status_code == 200
    assert wire.workflow("fenced-1")["state"] == "succeeded"


def test_a_lapsed_activation_cannot_schedule_next_to_its_successor(mwire: Wire, manual_server: LocalServer) -> None:
    mwire.enqueue("workflow:Lapsing", {"workflowId": "lapse-1"}, queue="q", lease_timeout_seconds=5)
    task, lapsed = _lease(mwire)
    manual_server.advance(6)  # the activation stalls past its lease; the task is leased again
    again, current = _lease(mwire, agent="agent-1")
    assert again["id"] == task["id"] and current != lapsed
    command = {
        "type": "activity:charge",
        "queue": "q",
        "payload": {
            "activityType": "charge",
            "workflowRunId": task["payload"]["runId"],
            "workflowTaskId": task["id"],
            "args": [1],
        },
    }
    fresh = mwire.call("POST", "/api/v1/tasks", json=command, headers={"X-PostGrip-Lease": f"{task['id']} {current}"})
    assert fresh.status_code == 202
    late = mwire.call("POST", "/api/v1/tasks", json=command, headers={"X-PostGrip-Lease": f"{task['id']} {lapsed}"})
    assert late.status_code == 409 and late.json()["code"] == "stale_lease"
    assert mwire.history_types("lapse-1").count("ActivityTaskScheduled") == 1


def test_an_update_finished_in_the_workflow_is_fenced_to_the_workflow_tasks_lease(wire: Wire) -> None:
    workflow_task = wire.start("Upd", "upd-1")
    wire.poll()
    update = wire.enqueue("update:Upd", {"workflowId": "upd-1", "updateName": "set", "args": [1]}, queue="q")
    leased_update = wire.poll(types="update:")
    assert leased_update["id"] == update["id"]
    wire.block(leased_update)  # handed over to the workflow
    wire.block(workflow_task)
    wire.post("/api/v1/workflows/upd-1/signal", {"name": "__postgrip_update__"}, 202)
    _, token = _lease(wire)
    stale = _write(wire, update["id"], "complete", {"result": {"value": 1}}, "0" * 16, lease_of=workflow_task["id"])
    assert stale.status_code == 409
    ok = _write(wire, update["id"], "complete", {"result": {"value": 1}}, token, lease_of=workflow_task["id"])
    assert ok.status_code == 200 and wire.task(update["id"])["state"] == "succeeded"


def test_writes_without_a_lease_header_are_checked_by_agent_id_as_before(wire: Wire) -> None:
    wire.start("Plain", "plain-1")
    task = wire.poll(agent="agent-1")
    wire.block(task, agent="agent-2", expect=409)
    wire.complete(task, 1, agent="agent-1", expect=200)


def test_a_retried_write_with_the_same_idempotency_key_gets_the_first_answer(wire: Wire) -> None:
    wire.start("Keyed", "keyed-1")
    task, token = _lease(wire)
    key = uuid.uuid4().hex
    first = _write(wire, task["id"], "block", {"reason": "waiting"}, token, key=key)
    wire.post("/api/v1/workflows/keyed-1/signal", {"name": "go"}, 202)
    _, newer = _lease(wire)
    replay = _write(wire, task["id"], "block", {"reason": "waiting"}, token, key=key)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers.get("Idempotency-Replayed") == "true"
    assert wire.task(task["id"])["state"] == "leased"  # the replay had no second effect


def test_signals_and_starts_with_an_idempotency_key_are_applied_once(wire: Wire) -> None:
    start = {"type": "workflow:Once", "queue": "q", "payload": {"workflowId": "once-1"}}
    key = uuid.uuid4().hex
    a = wire.call("POST", "/api/v1/tasks", 202, json=start, headers={"Idempotency-Key": key})
    b = wire.call("POST", "/api/v1/tasks", 202, json=start, headers={"Idempotency-Key": key})
    assert a.json()["id"] == b.json()["id"]
    signal_key = uuid.uuid4().hex
    for _ in range(3):
        wire.call(
            "POST",
            "/api/v1/workflows/once-1/signal",
            202,
            json={"name": "s", "args": [1]},
            headers={"Idempotency-Key": signal_key},
        )
    assert wire.history_types("once-1").count("WorkflowSignaled") == 1
    assert wire.get("/api/v1/workflows/count", params={"id": "once-1"})["count"] == 1


def test_a_failed_write_is_not_remembered_so_its_retry_runs_again(wire: Wire) -> None:
    key = uuid.uuid4().hex
    missing = wire.call("POST", "/api/v1/workflows/nope/signal", 404, json={"name": "s"}, headers={"Idempotency-Key": key})
    assert missing.json()["code"] == "not_found"
    wire.start("Later", "nope")
    wire.call("POST", "/api/v1/workflows/nope/signal", 202, json={"name": "s"}, headers={"Idempotency-Key": key})


def _continue(wire: Wire, task: Dict[str, Any], token: str) -> Dict[str, Any]:
    """Enqueue the next run of ``task``'s workflow, naming the continuing task's lease (as our agent does)."""
    body = {
        "type": "workflow:Chain",
        "queue": "q",
        "payload": {"workflowType": "Chain", "workflowId": "chain", "continuedFromWorkflowId": "chain", "args": []},
    }
    answer = wire.call("POST", "/api/v1/tasks", 202, json=body, headers={"X-PostGrip-Lease": f"{task['id']} {token}"})
    return answer.json()  # type: ignore[no-any-return]


def test_a_successor_that_continues_before_its_predecessor_closed_gets_a_new_run(wire: Wire) -> None:
    """Run A enqueues its successor B; B is leased and continues as new before A's completion
    arrives. The lease B's request names says B is the run continuing, so C is a new run (the
    oldest running run, A, is not taken for the continuing one, which handed B back to itself)."""
    wire.start("Chain", "chain")
    a, a_token = _lease(wire)
    b_task = _continue(wire, a, a_token)
    b, b_token = _lease(wire)
    assert b["id"] == b_task["id"]
    c_task = _continue(wire, b, b_token)
    assert c_task["id"] != b["id"]
    for task, token, successor in ((a, a_token, b_task), (b, b_token, c_task)):
        done = _write(
            wire,
            task["id"],
            "complete",
            {
                "result": {
                    "continue_as_new": {
                        "workflow_id": "chain",
                        "workflow_type": "Chain",
                        "task_queue": "q",
                        "task_id": successor["id"],
                    }
                }
            },
            token,
        )
        assert done.status_code == 200, done.text
    chain = [wire.workflow(t["payload"]["runId"]) for t in (wire.task(a["id"]), wire.task(b["id"]), wire.task(c_task["id"]))]
    assert [run["state"] for run in chain] == ["continued_as_new", "continued_as_new", "running"]
    assert len({run["run_id"] for run in chain}) == 3


def test_the_agent_writes_under_the_lease_its_work_holds_not_the_latest(mwire: Wire, manual_server: LocalServer) -> None:
    from postgrip_agent import Connection
    from postgrip_agent.agent.lane import AgentLane, TaskGone

    mwire.enqueue("workflow:Relet", {"workflowId": "relet-1"}, queue="q", lease_timeout_seconds=5)
    lane = AgentLane(Connection(manual_server.address), "agent-1")
    first = lane.poll("default", "q", ["workflow:Relet"], 0)
    assert first is not None
    with lane.holding(first["id"]) as first_token:
        manual_server.advance(6)  # this work stalls past its lease; the same agent leases the task again
        again = lane.poll("default", "q", ["workflow:Relet"], 0)
        assert again is not None and again["id"] == first["id"]
        try:  # the stalled work finishes: its write names its own, lapsed lease
            lane.complete(first["id"], {"value": "stale"})
            raise AssertionError("a write under a lapsed lease was accepted")
        except TaskGone as gone:
            assert "stale" in str(gone)
    lane.released(first["id"], first_token)  # the lapsed lease's end keeps the current lease's fence
    with lane.holding(again["id"]) as second_token:
        assert second_token is not None and second_token != first_token
        lane.complete(again["id"], {"value": "fresh"})
    assert mwire.workflow("relet-1")["state"] == "succeeded"


def _activity_command(task: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "type": "activity:charge",
        "queue": "q",
        "payload": {
            "activityType": "charge",
            "workflowRunId": task["payload"]["runId"],
            "workflowTaskId": task["id"],
            "args": [1],
        },
    }


def test_a_command_without_a_lease_header_from_another_agent_is_refused(wire: Wire) -> None:
    task = wire.start("Headerless", "headerless-1")
    leased = wire.poll(agent="agent-b")
    assert leased["id"] == task["id"]
    # agent A, whose lease of this task lapsed, sends the command its stale activation decided
    late = wire.call("POST", "/api/v1/tasks?agent_id=agent-a", json=_activity_command(leased))
    assert late.status_code == 409 and late.json()["code"] == "stale_lease" and "agent-b" in late.json()["error"]
    ok = wire.call("POST", "/api/v1/tasks?agent_id=agent-b", json=_activity_command(leased))
    assert ok.status_code == 202
    assert wire.history_types("headerless-1").count("ActivityTaskScheduled") == 1


def test_a_command_without_a_lease_header_after_its_activation_ended_is_refused(wire: Wire) -> None:
    task = wire.start("Headerless", "headerless-2")
    leased = wire.poll(agent="agent-a")
    wire.block(leased, agent="agent-a")  # the activation ended; a late command of it must not land
    late = wire.call("POST", "/api/v1/tasks", json=_activity_command(leased))
    assert late.status_code == 409 and late.json()["code"] == "stale_lease" and "blocked" in late.json()["error"]
    assert "ActivityTaskScheduled" not in wire.history_types("headerless-2")
    assert task["id"] == leased["id"]


def test_an_idempotency_key_reused_with_another_body_is_refused_naming_the_key(wire: Wire) -> None:
    wire.start("Reused", "reused-1")
    key = uuid.uuid4().hex
    wire.call("POST", "/api/v1/workflows/reused-1/signal", 202, json={"name": "s", "args": [1]}, headers={"Idempotency-Key": key})
    other = requests.post(
        wire.address + "/api/v1/workflows/reused-1/signal",
        json={"name": "s", "args": [2]},
        headers={"Idempotency-Key": key},
        timeout=10,
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused" and key in other.json()["error"]
    signals = [e for e in wire.history("reused-1") if e["type"] == "WorkflowSignaled"]
    assert [e["attributes"]["args"] for e in signals] == [[1]]  # the second write was not applied, nor dropped silently


def test_an_idempotency_key_is_scoped_to_its_caller() -> None:
    token = "scoped-service-token"
    with LocalServer(auth_token=token, port=0) as server:
        session = requests.post(server.address + "/api/v1/agent/session/refresh", json={"refreshToken": token}, timeout=5).json()
        admin = {"Authorization": f"Bearer {token}"}
        agent = {"Authorization": f"Bearer {session['accessToken']}"}
        requests.post(
            server.address + "/api/v1/tasks",
            json={"type": "workflow:Scoped", "queue": "q", "payload": {"workflowId": "scoped-1"}},
            headers=admin,
            timeout=5,
        )
        key = uuid.uuid4().hex
        for caller in (admin, agent):  # the same key from two callers: two writes, each answered for itself
            answer = requests.post(
                server.address + "/api/v1/workflows/scoped-1/signal",
                json={"name": "s", "args": [1]},
                headers={**caller, "Idempotency-Key": key},
                timeout=5,
            )
            assert answer.status_code == 202 and "Idempotency-Replayed" not in answer.headers
        history = requests.get(server.address + "/api/v1/workflows/scoped-1/history", headers=admin, timeout=5).json()
        assert [e["type"] for e in history].count("WorkflowSignaled") == 2
