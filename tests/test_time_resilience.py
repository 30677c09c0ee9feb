"""Time never stops: a failing item is retried and quarantined alone; the ticker cannot die."""

from __future__ import annotations

import threading
import time

import requests

from postgrip_agent.server import LocalServer
from postgrip_agent.server.store import ScheduleRecord

from .conftest import Wire, wait_for


def _ticker_alive(server: LocalServer) -> bool:
    return any(t.name == "postgrip-server-ticker" and t.is_alive() for t in threading.enumerate())


def test_a_poisoned_schedule_is_quarantined_while_an_unrelated_timer_still_fires(server: LocalServer, wire: Wire) -> None:
    now = server.clock.now()
    # a row written before today's validation existed: every fire of it raises
    poisoned = ScheduleRecord(
        id="poisoned",
        namespace="default",
        state="active",
        spec={"interval_seconds": 60},
        action={"workflowType": "Nightly", "runTimeoutMs": 10**30},
        next_run_at=now,
        created_at=now,
        updated_at=now,
        next_nominal_at=now,
    )
    with server.engine.operation():
        server.store.put_schedule(poisoned)
    workflow_task = wire.start("Sleeper", "sleeper-1")
    wire.poll()
    wire.timer(workflow_task, 50)
    wire.block(workflow_task)
    wait_for(lambda: "TimerFired" in wire.history_types("sleeper-1"), timeout=5)
    schedule = wait_for(
        lambda: (lambda s: s if s["state"] == "paused" else None)(wire.get("/api/v1/schedules/poisoned")), timeout=10
    )
    assert schedule["state"] == "paused"
    assert "quarantined" in (server.store.get_schedule("poisoned").note or "")
    stats = wire.get("/readyz")["stats"]
    assert stats["time_items_quarantined"] >= 1 and _ticker_alive(server)


def test_far_future_and_oversized_schedules_are_refused(wire: Wire) -> None:
    far = wire.post(
        "/api/v1/schedules",
        {"id": "far", "spec": {"interval_seconds": 60, "start_at": "2400-01-01T00:00:00Z"}, "action": {"workflowType": "W"}},
        400,
    )
    assert "start_at" in far["error"]
    huge = wire.post(
        "/api/v1/schedules", {"id": "huge", "spec": {"interval_seconds": 10**10}, "action": {"workflowType": "W"}}, 400
    )
    assert "interval_seconds" in huge["error"]
    timeout = wire.post(
        "/api/v1/schedules",
        {"id": "t", "spec": {"interval_seconds": 60}, "action": {"workflowType": "W", "runTimeoutMs": 10**30}},
        400,
    )
    assert "runTimeoutMs" in timeout["error"]


def test_a_schedule_far_in_the_future_leaves_the_ticker_running(server: LocalServer, wire: Wire) -> None:
    wire.post(
        "/api/v1/schedules",
        {"id": "late", "spec": {"interval_seconds": 60, "start_at": "2199-12-01T00:00:00Z"}, "action": {"workflowType": "W"}},
        202,
    )
    workflow_task = wire.start("Sleeper", "sleeper-2")
    wire.poll()
    wire.timer(workflow_task, 20)
    wire.block(workflow_task)
    wait_for(lambda: "TimerFired" in wire.history_types("sleeper-2"), timeout=5)
    assert _ticker_alive(server)
    assert wire.get("/readyz")["stats"]["ticker_lag_ms"] < 10_000


def test_a_long_backfill_is_refused_at_once_while_other_calls_answer(wire: Wire) -> None:
    wire.post("/api/v1/schedules", {"id": "minutely", "spec": {"cron": "* * * * *"}, "action": {"workflowType": "W"}}, 202)
    answered = []

    def other_calls() -> None:
        for _ in range(20):
            started = time.monotonic()
            requests.get(wire.address + "/healthz", timeout=10)
            answered.append(time.monotonic() - started)

    helper = threading.Thread(target=other_calls)
    started = time.monotonic()
    helper.start()
    refused = wire.post(
        "/api/v1/schedules/minutely/backfill", {"start_at": "2024-01-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, 400
    )
    took = time.monotonic() - started
    helper.join()
    assert "10000" in refused["error"] and took < 1.0
    assert max(answered) < 1.0
    interval = wire.post(
        "/api/v1/schedules", {"id": "secondly", "spec": {"interval_seconds": 1}, "action": {"workflowType": "W"}}, 202
    )
    assert interval["id"] == "secondly"
    counted = wire.post(
        "/api/v1/schedules/secondly/backfill", {"start_at": "2000-01-01T00:00:00Z", "end_at": "2100-01-01T00:00:00Z"}, 400
    )
    assert "runs, over the limit of 10000" in counted["error"]


def test_a_backfill_within_the_limit_starts_every_slot(wire: Wire) -> None:
    wire.post("/api/v1/schedules", {"id": "hourly", "spec": {"cron": "0 * * * *"}, "action": {"workflowType": "W"}}, 202)
    done = wire.post(
        "/api/v1/schedules/hourly/backfill", {"start_at": "2025-01-01T00:00:00Z", "end_at": "2025-01-02T00:00:00Z"}, 202
    )
    assert len(done["tasks"]) == 25


def test_readyz_turns_not_ready_when_the_ticker_stalls() -> None:
    with LocalServer(tick_lag_limit=0.3) as server:
        wire = Wire(server.address)
        assert wire.get("/readyz")["status"] == "ready"
        with server.engine.locked():  # the ticker cannot complete a tick while the engine is held
            server.engine.wake_ticker()
            wait_for(lambda: server.engine.tick_lag() > 0.5, timeout=10)
            response = requests.get(server.address + "/readyz", timeout=5)
        assert response.status_code == 503 and "ticker" in response.json()["error"]
        wait_for(lambda: requests.get(server.address + "/readyz", timeout=5).status_code == 200, timeout=10)
