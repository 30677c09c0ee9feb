"""The service's round-trip extensions, spoken raw: activation-commit, history-tail, completion-handback.

Each answer's embedded tasks and history events are checked against the contract's Task and
WorkflowHistoryEvent schemas; the extensions' own envelopes are ours (docs/server.md).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from postgrip_agent.server import LocalServer

from .conftest import CONTRACT, Wire

ROUND_TRIPS = ("activation-commit", "history-tail", "completion-handback")


def _checked(answer: Dict[str, Any]) -> Dict[str, Any]:
    """An answer carrying a leased task (and maybe its history tail), checked against the contract."""
    if CONTRACT is not None and answer:
        CONTRACT.validate_component("Task", answer["task"])
        for event in answer.get("history", []):
            CONTRACT.validate_component("WorkflowHistoryEvent", event)
    return answer


def _poll(wire: Wire, agent: str = "agent-1", types: str = "") -> Dict[str, Any]:
    params = {"queue": "q", "agent_id": agent, "wait_seconds": 0, "task_types": types}
    response = wire.http.get(f"{wire.address}/api/v1/agent/poll-with-history", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return _checked(response.json())


def _lease_header(answer: Dict[str, Any]) -> Dict[str, str]:
    return {"X-PostGrip-Lease": f"{answer['task']['id']} {answer['lease_token']}"}


def _post(
    wire: Wire, task_id: str, action: str, body: Any, headers: Optional[Dict[str, str]] = None, agent: str = "agent-1"
) -> Any:
    return wire.http.post(
        f"{wire.address}/api/v1/agent/tasks/{task_id}/{action}?agent_id={agent}", json=body, headers=headers or {}, timeout=10
    )


def _activity_command(workflow_task: Dict[str, Any], name: str = "charge") -> Dict[str, Any]:
    payload = workflow_task["payload"]
    return {
        "type": f"activity:{name}",
        "queue": "q",
        "payload": {
            "activityType": name,
            "workflowId": payload["workflowId"],
            "workflowRunId": payload["runId"],
            "workflowTaskId": workflow_task["id"],
            "args": [1],
            "startToCloseTimeoutMs": 10_000,
        },
    }


def _seqs(events: List[Dict[str, Any]]) -> List[int]:
    return [int(e["id"]) for e in events]


def test_a_new_runs_first_workflow_task_comes_with_its_whole_history(wire: Wire) -> None:
    wire.start("Tail", "tail-1")
    answer = _poll(wire)
    assert answer["history_after"] == 0
    assert [e["type"] for e in answer["history"]] == ["WorkflowExecutionStarted"]
    assert answer["history"] == wire.history("tail-1")
    assert wire.task(answer["task"]["id"])["state"] == "leased"


def test_the_tail_starts_at_the_cursor_the_last_activation_sent(wire: Wire) -> None:
    wire.start("Tail", "tail-2")
    first = _poll(wire)
    task = first["task"]
    cursor = _seqs(first["history"])[-1]
    ended = _post(
        wire,
        task["id"],
        "activation",
        {"commands": [_activity_command(task)], "reason": "waiting", "cursor": cursor},
        _lease_header(first),
    )
    assert ended.status_code == 200, ended.text
    activity = ended.json()["tasks"][0]
    assert wire.poll(types="activity:") is not None  # the activity, leased through the plain poll
    wire.complete(activity, 2)
    again = _poll(wire, types="workflow:")
    assert again["task"]["id"] == task["id"] and again["history_after"] == cursor
    assert [e["type"] for e in again["history"]] == ["ActivityTaskScheduled", "ActivityTaskCompleted"]
    assert again["history"] == [e for e in wire.history("tail-2") if int(e["id"]) > cursor]


def test_a_plain_block_leaves_the_cursor_unknown_so_no_tail_is_sent(wire: Wire) -> None:
    wire.start("Tail", "tail-3")
    first = _poll(wire)
    assert _post(wire, first["task"]["id"], "block", {"reason": "waiting"}, _lease_header(first)).status_code == 200
    wire.post("/api/v1/workflows/tail-3/signal", {"name": "go"}, 202)
    again = _poll(wire)
    assert again["task"]["id"] == first["task"]["id"]
    assert "history" not in again and "history_after" not in again  # the agent reads the history itself


def test_a_completion_hands_the_woken_workflow_task_back_to_the_same_agent(wire: Wire) -> None:
    wire.start("Handback", "hb-1")
    first = _poll(wire)
    task = first["task"]
    cursor = _seqs(first["history"])[-1]
    eager = {"queue": "q", "types": ["activity:"], "max": 5}
    ended = _post(
        wire,
        task["id"],
        "activation",
        {"commands": [_activity_command(task)], "reason": "waiting", "cursor": cursor, "eager": eager},
        _lease_header(first),
    ).json()
    leased = ended["leased"][0]
    assert leased["task"]["state"] == "leased" and leased["task"]["agent_id"] == "agent-1"
    done = _post(
        wire,
        leased["task"]["id"],
        "complete-and-next",
        {"result": {"value": 3}, "next": {"queue": "q", "types": ["workflow:Handback"]}},
        {"X-PostGrip-Lease": f"{leased['task']['id']} {leased['lease_token']}"},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    if CONTRACT is not None:
        CONTRACT.validate_component("Task", body["task"])
    assert body["task"]["state"] == "succeeded"
    following = _checked(body["next"])
    assert following["task"]["id"] == task["id"] and following["task"]["agent_id"] == "agent-1"
    assert following["history_after"] == cursor
    assert [e["type"] for e in following["history"]] == ["ActivityTaskScheduled", "ActivityTaskCompleted"]
    assert wire.poll(agent="agent-2") is None  # taken in the same transaction: nothing left for other pollers
    finished = _post(wire, task["id"], "complete", {"result": {"value": 3}}, _lease_header(following))
    assert finished.status_code == 200 and wire.workflow("hb-1")["state"] == "succeeded"


def test_no_hand_back_when_the_agent_does_not_take_that_workflow_or_it_is_already_leased(wire: Wire) -> None:
    wire.start("Handback", "hb-2")
    first = _poll(wire)
    task = first["task"]
    activities = _post(
        wire,
        task["id"],
        "activation",
        {"commands": [_activity_command(task), _activity_command(task)], "reason": "waiting"},
        _lease_header(first),
    ).json()["tasks"]
    for _ in activities:
        assert wire.poll(types="activity:") is not None
    other = _post(
        wire,
        activities[0]["id"],
        "complete-and-next",
        {"result": {"value": 1}, "next": {"queue": "q", "types": ["workflow:SomethingElse"]}},
    ).json()
    assert other["next"] is None
    woken = wire.poll(agent="agent-2", types="workflow:")  # a plain poller gets the woken workflow task
    assert woken is not None and woken["id"] == task["id"]
    busy = _post(
        wire, activities[1]["id"], "complete-and-next", {"result": {"value": 2}, "next": {"queue": "q", "types": ["workflow:"]}}
    ).json()
    assert busy["next"] is None  # leased elsewhere: it runs again there once blocked (wake pending)
    assert wire.task(task["id"])["agent_id"] == "agent-2"


@pytest.mark.parametrize(
    "action,body,problem",
    [
        ("complete-and-next", {"result": {"value": 1}}, "next is required"),
        ("complete-and-next", {"next": {"queue": "q", "types": ["workflow:"]}}, "result is required"),
        ("complete-and-next", {"result": {"value": 1}, "next": {"queue": "q", "types": "workflow:"}}, "next.types"),
        ("complete-and-next", {"result": {"value": 1}, "next": {"queue": "q", "types": [], "max": 2}}, "next must be"),
        ("complete-and-next", {"result": {"value": 1}, "next": {"queue": "q", "types": []}, "extra": 1}, "unknown field"),
        ("activation", {"commands": [], "cursor": -1}, "cursor must be"),
        ("activation", {"commands": [], "cursor": "7"}, "cursor must be"),
        ("activation", {"commands": [], "eager": {"queue": "q", "types": ["activity:"], "max": -1}}, "eager.max"),
    ],
)
def test_bad_extension_bodies_are_refused_with_a_named_problem(
    wire: Wire, action: str, body: Dict[str, Any], problem: str
) -> None:
    wire.start("Bad", "bad-1")
    task = wire.poll()
    assert task is not None
    response = _post(wire, task["id"], action, body)
    assert response.status_code == 400, response.text
    assert problem in response.json()["error"]
    assert wire.task(task["id"])["state"] == "leased"  # nothing changed


def test_the_extensions_are_advertised_and_can_be_switched_off() -> None:
    with LocalServer(db=":memory:", port=0) as on, LocalServer(db=":memory:", port=0, round_trip_extensions=False) as off:
        advertised = Wire(on.address).call("GET", "/healthz", 200).headers["X-PostGrip-Extensions"]
        assert all(name in advertised for name in ROUND_TRIPS)
        wire = Wire(off.address)
        plain = wire.call("GET", "/healthz", 200).headers["X-PostGrip-Extensions"]
        assert not any(name in plain for name in ROUND_TRIPS) and "lease-fencing" in plain
        missing = wire.http.get(f"{off.address}/api/v1/agent/poll-with-history", params={"queue": "q"}, timeout=10)
        assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"]
