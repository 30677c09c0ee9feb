"""Listings page by position: walking 10,000 runs with ``page_token`` while runs are being added
yields each run once, with no gap, in either order, on both stores."""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from postgrip_agent import Client
from postgrip_agent.server import LocalServer, ManualClock
from postgrip_agent.server.store import RunRecord

from .conftest import Wire

RUNS = 10_000


@pytest.fixture
def server(db: str) -> Iterator[LocalServer]:
    with LocalServer(db=db, port=0) as running:
        with running.engine.operation():  # 10,000 finished runs, three to each created_at (the tiebreak matters)
            for i in range(RUNS):
                at = 1_000.0 + i // 3
                running.store.insert_run(
                    RunRecord(
                        run_id=f"old-run-{i}",
                        id=f"old-{i}",
                        namespace="default",
                        type="Wf",
                        queue="q",
                        task_id=f"old-task-{i}",
                        state="succeeded",
                        created_at=at,
                        updated_at=at,
                    )
                )
        yield running


def _walk(address: str, order_by: str, also: Optional[Dict[str, str]] = None) -> List[str]:
    seen: List[str] = []
    params: Dict[str, Any] = {"limit": 500, "order_by": order_by, **(also or {})}
    while True:
        answer = requests.get(f"{address}/api/v1/workflows", params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        seen += [run["id"] for run in answer.json()]
        token = answer.headers.get("X-Next-Page-Token")
        if not token:
            return seen
        params = {**params, "page_token": token}


@pytest.mark.parametrize("order_by", ["created_at", "-created_at", "-updated_at"])
def test_a_walk_while_runs_are_added_sees_each_run_once(server: LocalServer, order_by: str) -> None:
    stop = threading.Event()
    added: List[str] = []

    def add_runs() -> None:
        with Client.connect(server.address) as client:
            while not stop.is_set():
                added.append(client.start_workflow("Wf", id=f"new-{len(added)}", task_queue="q").id)

    adder = threading.Thread(target=add_runs)
    adder.start()
    try:
        seen = _walk(server.address, order_by)
    finally:
        stop.set()
        adder.join(timeout=30)
    assert added, "runs were added during the walk"
    assert len(seen) == len(set(seen)), "a run was listed twice"
    assert {f"old-{i}" for i in range(RUNS)} <= set(seen), "a run was skipped"


def test_a_token_answers_only_the_order_it_was_made_for(server: LocalServer) -> None:
    first = requests.get(f"{server.address}/api/v1/workflows", params={"limit": 10}, timeout=30)
    token = first.headers["X-Next-Page-Token"]
    other = requests.get(
        f"{server.address}/api/v1/workflows", params={"limit": 10, "order_by": "-created_at", "page_token": token}, timeout=30
    )
    assert other.status_code == 400 and "another order" in other.json()["error"]
    forged = requests.get(f"{server.address}/api/v1/workflows", params={"page_token": "bm90IGpzb24"}, timeout=30)
    assert forged.status_code == 400 and "not a token this service issued" in forged.json()["error"]
    second = requests.get(f"{server.address}/api/v1/workflows", params={"limit": 10, "page_token": token}, timeout=30)
    assert [r["id"] for r in second.json()] == [f"old-{i}" for i in range(10, 20)]


def test_listings_and_counts_take_a_time_range_of_starts(db: str) -> None:
    clock = ManualClock()
    with LocalServer(db=db, clock=clock) as server:
        client = Client.connect(server)
        for i in range(3):
            client.start_workflow("Ranged", id=f"ranged-{i}", task_queue="ranged")
            clock.advance(10)
        middle = next(r for r in client.workflow.list(task_queue="ranged") if r.id == "ranged-1").created_at.isoformat()
        wire = Wire(server.address)
        after = wire.get("/api/v1/workflows", params={"queue": "ranged", "created_after": middle})
        before = wire.get("/api/v1/workflows", params={"queue": "ranged", "created_before": middle})
        assert [r["id"] for r in after] == ["ranged-1", "ranged-2"] and [r["id"] for r in before] == ["ranged-0"]
        assert wire.get("/api/v1/workflows/count", params={"queue": "ranged", "created_after": middle})["count"] == 2
        refused = wire.http.get(server.address + "/api/v1/workflows", params={"created_after": "yesterday"}, timeout=5)
        assert refused.status_code == 400 and "RFC 3339" in refused.json()["error"]
