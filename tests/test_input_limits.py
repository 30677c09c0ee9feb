"""Poison input is refused with a 400 naming the field: depth, non-finite numbers, ranges, tokens."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from postgrip_agent.server import LocalServer

from .conftest import Wire


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [400, 5000])
def test_deeply_nested_arguments_are_refused(wire: Wire, depth: int) -> None:
    wire.start("Deep", "deep-1")
    body = '{"name": "s", "args": [' + "[" * depth + "1" + "]" * depth + "]}"  # raw: too deep for json.dumps too
    refused = wire.call(
        "POST", "/api/v1/workflows/deep-1/signal", 400, data=body, headers={"Content-Type": "application/json"}
    ).json()
    assert "nested deeper than 64" in refused["error"]
    assert wire.history_types("deep-1") == ["WorkflowExecutionStarted"]


def test_nesting_within_the_limit_is_accepted(wire: Wire) -> None:
    wire.start("Deep", "deep-2")
    wire.post("/api/v1/workflows/deep-2/signal", {"name": "s", "args": [_nested(50)]}, 202)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(wire: Wire, token: str) -> None:
    body = '{"name": "s", "args": [%s]}' % token
    response = wire.call("POST", "/api/v1/workflows/x/signal", 400, data=body, headers={"Content-Type": "application/json"})
    assert token in response.json()["error"]


BIG = 2**63


@pytest.mark.parametrize("query", [f"offset={BIG}", f"limit={BIG}", "offset=-1", f"offset={'9' * 5000}"])
def test_out_of_range_query_integers_are_refused(wire: Wire, query: str) -> None:
    response = wire.call("GET", f"/api/v1/tasks?{query}", 400)
    assert query.split("=")[0] in response.json()["error"]


def test_out_of_range_after_and_page_token_are_refused(wire: Wire) -> None:
    wire.start("W", "w-after")
    assert "after" in wire.call("GET", f"/api/v1/workflows/w-after/history?after={BIG}", 400).json()["error"]
    import base64
    import json

    token = base64.urlsafe_b64encode(json.dumps({"offset": BIG}).encode()).decode()
    assert "page_token" in wire.call("GET", f"/api/v1/tasks?page_token={token}", 400).json()["error"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"type": "workflow:W", "lease_timeout_seconds": BIG}, "lease_timeout_seconds"),
        ({"type": "workflow:W", "lease_timeout_seconds": 10**7}, "lease_timeout_seconds"),
        ({"type": "workflow:W", "payload": {"runTimeoutMs": BIG}}, "runTimeoutMs"),
        ({"type": "workflow:W", "payload": {"runTimeoutMs": 10**30}}, "runTimeoutMs"),
        ({"type": "workflow:W", "payload": {"retry": {"backoffCoefficient": 1e300}}}, "backoffCoefficient"),
        ({"type": "timer", "payload": {"durationMs": 10**20}}, "durationMs"),
    ],
)
def test_out_of_range_body_integers_are_refused(wire: Wire, body: Any, field: str) -> None:
    response = wire.post("/api/v1/tasks", body, 400)
    assert field in response["error"]


@pytest.mark.parametrize(
    "spec,field",
    [
        ({"interval_seconds": BIG}, "interval_seconds"),
        ({"interval_seconds": 60, "jitter_seconds": BIG}, "jitter_seconds"),
        ({"interval_seconds": 60, "catch_up_window_seconds": -1}, "catch_up_window_seconds"),
    ],
)
def test_out_of_range_schedule_numbers_are_refused_and_listing_still_works(wire: Wire, spec: Any, field: str) -> None:
    response = wire.post("/api/v1/schedules", {"id": "s", "spec": spec, "action": {"workflowType": "W"}}, 400)
    assert field in response["error"]
    assert wire.get("/api/v1/schedules") == []


def test_timestamps_outside_the_window_are_refused(wire: Wire) -> None:
    refused = wire.post(
        "/api/v1/schedules/none/backfill", {"start_at": "1900-01-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, 400
    )
    assert "1970" in refused["error"]


def test_non_ascii_tokens_are_refused_not_crashed() -> None:
    with LocalServer(auth_token="secret") as server:
        bad = requests.get(server.address + "/api/v1/tasks", headers={"Authorization": "Bearer ünïcode"}, timeout=5)
        assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
        refresh = requests.post(server.address + "/api/v1/agent/session/refresh", json={"refreshToken": "ünïcode"}, timeout=5)
        assert refresh.status_code == 401


NUL = "a\u0000b"
LONG = "w" * 10_000

#: (method, path, body, what the 400 names): a NUL or a 10 KB identifier in each place a caller puts one
IDENTIFIER_CASES = [
    ("POST", "/api/v1/tasks", {"type": "workflow:T", "queue": "q", "payload": {"workflowId": NUL}}, "body.payload.workflowId"),
    ("POST", "/api/v1/tasks", {"type": "workflow:T", "queue": "q", "payload": {"workflowId": LONG}}, "body.payload.workflowId"),
    ("POST", "/api/v1/tasks", {"type": "workflow:T", "queue": NUL}, "body.queue"),
    ("POST", "/api/v1/tasks", {"type": "workflow:" + LONG, "queue": "q"}, "body.type"),
    ("POST", "/api/v1/tasks", {"type": "job", "queue": "q", "payload": {"note": ["x", NUL]}}, "body.payload.note[1]"),
    ("GET", "/api/v1/workflows/a%00b", None, "path parameter workflowId"),
    ("GET", f"/api/v1/workflows/{LONG}", None, "path parameter workflowId"),
    ("GET", "/api/v1/workflows?queue=a%00b", None, "query parameter queue"),
    ("GET", f"/api/v1/tasks?namespace={LONG}", None, "query parameter namespace"),
    ("GET", "/api/v1/agent/poll?queue=q&namespace=a%00b", None, "query parameter namespace"),
    ("POST", "/api/v1/namespaces", {"name": NUL}, "body.name"),
    ("POST", "/api/v1/workflows/nul-1/signal", {"name": NUL}, "body.name"),
    (
        "POST",
        "/api/v1/schedules",
        {"id": LONG, "spec": {"intervals": [{"every": "1h"}]}, "action": {"workflowType": "T", "taskQueue": "q"}},
        "body.id",
    ),
]


def _refusals(server: LocalServer) -> list:  # type: ignore[type-arg]
    out = []
    for method, path, body, where in IDENTIFIER_CASES:
        answer = requests.request(method, server.address + path, json=body, timeout=10)
        out.append((answer.status_code, answer.json().get("error", "")))
        assert answer.status_code == 400, (method, path[:80], answer.status_code, answer.text[:300])
        assert where in answer.json()["error"], (where, answer.json()["error"][:200])
    return out


def test_nul_characters_and_long_identifiers_are_refused_alike_on_both_stores(db: str) -> None:
    with LocalServer(db=db, port=0) as server:
        requests.post(
            server.address + "/api/v1/tasks",
            json={"type": "workflow:T", "queue": "q", "payload": {"workflowId": "nul-1"}},
            timeout=10,
        )
        refused = _refusals(server)
        # nothing half-written: only the one good start is there
        listed = requests.get(server.address + "/api/v1/workflows", timeout=10).json()
        assert [w["id"] for w in listed] == ["nul-1"]
    with LocalServer(db=":memory:", port=0) as reference:
        requests.post(
            reference.address + "/api/v1/tasks",
            json={"type": "workflow:T", "queue": "q", "payload": {"workflowId": "nul-1"}},
            timeout=10,
        )
        assert refused == _refusals(reference)  # the same 400s, word for word, as SQLite's


def test_identifiers_up_to_the_limit_are_accepted(wire: Wire) -> None:
    longest = "é" * 512  # 1,024 UTF-8 bytes
    wire.start("T", longest)
    assert wire.workflow(longest)["id"] == longest
