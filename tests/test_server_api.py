"""The service's plain operations and their error statuses, over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from .conftest import CONTRACT, Wire


def test_health_and_ready_report_store_counts(wire: Wire) -> None:
    assert wire.get("/healthz") == {"status": "ok"}
    wire.enqueue("shell.exec", {"command": "true"}, queue="q")
    ready = wire.get("/readyz")
    assert ready["status"] == "ready"
    assert ready["stats"]["tasks_queued"] == 1
    assert ready["stats"]["namespaces"] == 1


def test_namespaces_list_create_and_duplicate(wire: Wire) -> None:
    assert [n["name"] for n in wire.get("/api/v1/namespaces")] == ["default"]
    created = wire.post("/api/v1/namespaces", {"name": "billing"}, expect=201)
    assert created["name"] == "billing"
    assert sorted(n["name"] for n in wire.get("/api/v1/namespaces")) == ["billing", "default"]
    dup = wire.post("/api/v1/namespaces", {"name": "billing"}, expect=409)
    assert "already exists" in dup["error"]
    bad = wire.post("/api/v1/namespaces", {"name": "no spaces"}, expect=400)
    assert "namespace name" in bad["error"]


def test_enqueue_get_and_list_tasks_with_filters_order_and_pages(wire: Wire) -> None:
    ids = [wire.enqueue("shell.exec", {"n": i}, queue="a" if i % 2 else "b")["id"] for i in range(5)]
    assert wire.task(ids[0])["payload"] == {"n": 0}
    everything = wire.get("/api/v1/tasks")
    assert [t["id"] for t in everything] == ids
    only_a = wire.get("/api/v1/tasks", params={"queue": "a"})
    assert [t["id"] for t in only_a] == [ids[1], ids[3]]
    newest_first = wire.get("/api/v1/tasks", params={"order_by": "-created_at"})
    assert [t["id"] for t in newest_first] == list(reversed(ids))
    first = wire.call("GET", "/api/v1/tasks", 200, params={"limit": 2})
    token = first.headers["X-Next-Page-Token"]
    second = wire.get("/api/v1/tasks", params={"limit": 2, "page_token": token})
    assert [t["id"] for t in first.json() + second] == ids[:4]
    assert wire.get("/api/v1/tasks", params={"state": "leased"}) == []


def test_enqueue_rejects_bad_bodies_with_named_fields(wire: Wire) -> None:
    malformed = wire.call("POST", "/api/v1/tasks", 400, data=b"{not json", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in malformed.json()["error"]
    missing = wire.post("/api/v1/tasks", {"queue": "q"}, expect=400)
    assert "type" in missing["error"] and missing["code"] == "invalid_argument"
    unknown = wire.post("/api/v1/tasks", {"type": "x", "colour": "red"}, expect=400)
    assert "colour" in unknown["error"]
    mistyped = wire.post("/api/v1/tasks", {"type": "x", "lease_timeout_seconds": "ten"}, expect=400)
    assert "lease_timeout_seconds" in mistyped["error"]
    not_object = wire.post("/api/v1/tasks", [1, 2], expect=400)
    assert "JSON object" in not_object["error"]
    bad_payload = wire.post("/api/v1/tasks", {"type": "workflow:W", "payload": {"args": "notalist"}}, expect=400)
    assert "args" in bad_payload["error"]
    assert wire.get("/api/v1/tasks") == []  # nothing half-written


def test_oversized_body_is_413(wire: Wire) -> None:
    blob = "x" * (9 * 1024 * 1024)
    response = wire.call("POST", "/api/v1/tasks", 413, json={"type": "x", "payload": blob})
    assert "exceeds" in response.json()["error"]


def test_unknown_ids_are_404_with_error_response(wire: Wire) -> None:
    assert wire.get("/api/v1/tasks/nope", expect=404)["code"] == "not_found"
    assert "nope" in wire.get("/api/v1/workflows/nope", expect=404)["error"]
    assert wire.get("/api/v1/workflows/nope/history", expect=404)["code"] == "not_found"
    assert wire.post("/api/v1/workflows/nope/signal", {"name": "s"}, expect=404)["code"] == "not_found"
    assert wire.post("/api/v1/agent/tasks/nope/complete", {"result": {}}, expect=404)["code"] == "not_found"


def test_poll_validates_queue_and_wait_seconds(wire: Wire) -> None:
    assert "queue" in wire.get("/api/v1/agent/poll", expect=400)["error"]
    out_of_range = wire.get("/api/v1/agent/poll", params={"queue": "q", "wait_seconds": 999}, expect=400)
    assert "wait_seconds" in out_of_range["error"]
    assert "wait_seconds" in wire.get("/api/v1/agent/poll", params={"queue": "q", "wait_seconds": "soon"}, expect=400)["error"]
    assert wire.get("/api/v1/agent/poll", params={"queue": "q"}) == {}


def test_poll_filters_by_type_prefix_and_never_hands_out_timers(wire: Wire) -> None:
    wire.enqueue("shell.exec", {}, queue="q")
    act = wire.enqueue("activity:greet", {"args": []}, queue="q")
    assert wire.poll(types="activity:,workflow:")["id"] == act["id"]
    assert wire.poll(types="activity:") is None


def test_agent_lane_conflicts_say_not_leased_or_terminal(wire: Wire) -> None:
    task = wire.enqueue("shell.exec", {}, queue="q")
    queued = wire.complete(task, 1, expect=409)
    assert "not leased" in queued["error"]
    leased = wire.poll()
    other = wire.complete(leased, 1, agent="agent-2", expect=409)
    assert "not leased" in other["error"]
    wire.complete(leased, 1)
    again = wire.post(f"/api/v1/agent/tasks/{task['id']}/heartbeat?agent_id=agent-1", {}, expect=409)
    assert "terminal" in again["error"]
    assert "terminal" in wire.fail(leased, "x", expect=409)["error"]


def test_heartbeat_extends_lease_and_events_are_recorded(wire: Wire) -> None:
    wire.enqueue("shell.exec", {}, queue="q", lease_timeout_seconds=5)
    task = wire.poll()
    before = task["leased_until"]
    beat = wire.post(
        f"/api/v1/agent/tasks/{task['id']}/heartbeat?agent_id=agent-1",
        {"lease_timeout_seconds": 60, "event": {"kind": "heartbeat", "details": {"pct": 50}}},
        expect=200,
    )
    assert beat["leased_until"] > before
    event = wire.post(
        f"/api/v1/agent/tasks/{task['id']}/events?agent_id=agent-1",
        {"event": {"kind": "stdout", "data": "hello\n", "stream": "stdout"}},
        expect=202,
    )
    assert event["kind"] == "stdout"
    bad = wire.post(f"/api/v1/agent/tasks/{task['id']}/events?agent_id=agent-1", {"event": {"kind": "shout"}}, expect=400)
    assert "kind" in bad["error"]
    kinds = [e["kind"] for e in wire.get(f"/api/v1/tasks/{task['id']}/events")]
    assert kinds == ["leased", "heartbeat", "stdout"]


def test_block_and_generic_fail_set_states(wire: Wire) -> None:
    wire.enqueue("shell.exec", {}, queue="q")
    task = wire.poll()
    assert wire.block(task)["state"] == "blocked"
    wire.enqueue("shell.exec", {}, queue="q")
    other = wire.poll()
    failed = wire.fail(other, "boom")
    assert failed["state"] == "failed" and failed["error"] == "boom"


def test_sandboxes_and_workspaces_answer_501(wire: Wire) -> None:
    for path in ("/api/v1/sandboxes", "/api/v1/workspaces", "/api/v1/sandboxes/abc/start"):
        method = "POST" if path.endswith("start") else "GET"
        response = wire.http.request(method, wire.address + path)
        assert response.status_code == 501
        assert response.json()["code"] == "not_implemented"


def test_unknown_endpoint_and_wrong_method(wire: Wire) -> None:
    assert requests.get(wire.address + "/api/v1/nothing").status_code == 404
    wrong = requests.delete(wire.address + "/api/v1/tasks")
    assert wrong.status_code == 405 and "GET" in wrong.json()["error"]


def test_compact_removes_finished_work_only(wire: Wire) -> None:
    wire.enqueue("shell.exec", {}, queue="q")
    wire.complete(wire.poll(), "done")
    wire.enqueue("shell.exec", {}, queue="q")
    started = wire.start("W", "wf-open")
    wire.start("W", "wf-done")
    done_task = [
        t for t in [wire.poll(types="workflow:"), wire.poll(types="workflow:")] if t["payload"]["workflowId"] == "wf-done"
    ][0]
    wire.complete(done_task, 42)
    result = wire.post("/api/v1/admin/compact", {"retention_seconds": 0}, expect=200)
    assert result == {"removed_tasks": 2, "removed_workflows": 1}
    assert wire.workflow("wf-open")["state"] == "running"
    assert wire.get(f"/api/v1/tasks/{started['id']}")["id"] == started["id"]
    assert wire.get("/api/v1/workflows/wf-done", expect=404)
    assert "retention_seconds" in wire.post("/api/v1/admin/compact", {"retention_seconds": -1}, expect=400)["error"]


def test_responses_are_checked_against_the_contract_and_the_check_can_fail(wire: Wire) -> None:
    if CONTRACT is None:
        pytest.skip("../shared/contract/openapi.json is absent; conformance cannot be checked")
    task = wire.enqueue("shell.exec", {"n": 1}, queue="q")
    wire.get(f"/api/v1/tasks/{task['id']}")
    assert wire.validated == 2  # every response above went through the schema check
    import jsonschema

    for broken in ({**task, "state": "sleeping"}, {k: v for k, v in task.items() if k != "queue"}, {**task, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            CONTRACT.validate("GET", f"/api/v1/tasks/{task['id']}", 200, broken)


@pytest.mark.parametrize(
    "raw", [b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/2.0\r\n\r\n", b"GET /healthz HTTP/1.1\r\nno-colon-here\r\n\r\n"]
)
def test_malformed_http_is_400_and_the_service_keeps_serving(wire: Wire, raw: bytes) -> None:
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(wire.address)
    with socket.create_connection((target.hostname, target.port), timeout=5) as sock:
        sock.sendall(raw)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    error = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert set(error) == {"error", "code"} and error["error"]
    assert wire.get("/healthz") == {"status": "ok"}


def test_headers_are_case_insensitive(wire: Wire) -> None:
    response = wire.http.post(
        wire.address + "/api/v1/tasks",
        data=b'{"type": "x"}',
        headers={"content-type": "application/json", "CONTENT-LENGTH": "13"},
    )
    assert response.status_code == 202
