"""Retries, leases and concurrent polling."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Dict, List

from postgrip_agent.server import LocalServer

from .conftest import Wire, wait_for


def _activity_under_workflow(wire: Wire, retry: Dict[str, object]) -> tuple:
    wire.start("W", "retrying", queue="q")
    wf_task = wire.poll(types="workflow:")
    act = wire.activity(wf_task, "flaky", retry=retry)
    wire.block(wf_task)
    return wf_task, act


def test_activity_retry_backs_off_then_exhausts(manual_server: LocalServer, mwire: Wire) -> None:
    wf_task, act = _activity_under_workflow(mwire, {"maximumAttempts": 3, "initialIntervalMs": 1000, "backoffCoefficient": 2})
    first = mwire.poll(types="activity:")
    mwire.fail(first, "transient", {"message": "transient", "type": "IOError"})
    events = mwire.history("retrying")
    assert [e["type"] for e in events][-2:] == ["ActivityTaskRetryScheduled", "ActivityTaskScheduled"]
    retry_event = events[-2]
    assert retry_event["attributes"]["previous_task"] == act["id"] and retry_event["attributes"]["attempt"] == 2
    second_id = retry_event["task_id"]
    assert mwire.poll(types="activity:") is None  # not before its backoff
    assert mwire.poll(types="workflow:") is None  # a retry does not wake the workflow
    manual_server.advance(1.0)
    second = mwire.poll(types="activity:")
    assert second["id"] == second_id and second["payload"]["attempt"] == 2
    mwire.fail(second, "transient")
    manual_server.advance(1.9)
    assert mwire.poll(types="activity:") is None  # 2 s backoff now
    manual_server.advance(0.1)
    third = mwire.poll(types="activity:")
    mwire.fail(third, "transient")
    assert mwire.history_types("retrying")[-1] == "ActivityTaskFailed"
    assert mwire.poll(types="workflow:")["id"] == wf_task["id"]


def test_non_retryable_failures_are_final(wire: Wire) -> None:
    wf_task, act = _activity_under_workflow(wire, {"maximumAttempts": 5, "nonRetryableErrorTypes": ["CardDeclined"]})
    wire.fail(wire.poll(types="activity:"), "declined", {"message": "declined", "type": "CardDeclined"})
    failed = wire.history("retrying")[-1]
    assert failed["type"] == "ActivityTaskFailed" and failed["attributes"]["failure"]["type"] == "CardDeclined"
    wire.complete(wire.poll(types="workflow:"), None)
    wire.start("W", "flagged", queue="q")
    wf2 = wire.poll(types="workflow:")
    wire.activity(wf2, "x", retry={"maximumAttempts": 5})
    wire.fail(wire.poll(types="activity:"), "no", {"message": "no", "non_retryable": True})
    assert wire.history_types("flagged")[-1] == "ActivityTaskFailed"


def test_lapsed_lease_redelivers_with_next_attempt(manual_server: LocalServer, mwire: Wire) -> None:
    task = mwire.enqueue("shell.exec", {}, queue="q", lease_timeout_seconds=10)
    first = mwire.poll(agent="a1")
    manual_server.advance(10.5)
    again = mwire.poll(agent="a2")
    assert again["id"] == task["id"] and again["attempt"] == first["attempt"] + 1
    late = mwire.complete(first, "stale", agent="a1", expect=409)
    assert "not leased" in late["error"]
    mwire.complete(again, "fresh", agent="a2")
    assert mwire.task(task["id"])["result"]["value"] == "fresh"


def test_heartbeat_keeps_the_lease(manual_server: LocalServer, mwire: Wire) -> None:
    mwire.enqueue("shell.exec", {}, queue="q", lease_timeout_seconds=10)
    task = mwire.poll()
    for _ in range(3):
        manual_server.advance(8)
        mwire.post(f"/api/v1/agent/tasks/{task['id']}/heartbeat?agent_id=agent-1", {}, expect=200)
    assert mwire.task(task["id"])["state"] == "leased"


def test_concurrent_pollers_never_share_a_task(wire: Wire) -> None:
    total = 300
    ids = {wire.enqueue("shell.exec", {"i": i}, queue="many")["id"] for i in range(total)}
    seen: List[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = Wire(wire.address)
        while True:
            task = mine.poll(queue="many", agent=f"agent-{n}")
            if task is None:
                return
            mine.complete(task, n, agent=f"agent-{n}")
            with lock:
                seen.append(task["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(seen)
    assert set(counts) == ids
    assert max(counts.values()) == 1


def test_a_new_task_wakes_the_waiting_poller_whose_types_match(wire: Wire, server: LocalServer) -> None:
    got: Dict[str, Any] = {}

    def poll(name: str, types: str, wait: int) -> None:
        started = time.monotonic()
        got[name] = (wire.poll(queue="wake", agent=name, wait=wait, types=types), time.monotonic() - started)

    activities = threading.Thread(target=poll, args=("activity-poller", "activity:", 2))
    workflows = threading.Thread(target=poll, args=("workflow-poller", "workflow:", 10))
    activities.start()
    workflows.start()
    wait_for(lambda: sum(len(w) for w in server.engine.state.pollers.values()) == 2)  # both are waiting
    wire.enqueue("workflow:Woken", {"workflowId": "woken-1"}, queue="wake")
    workflows.join(timeout=5)
    task, took = got["workflow-poller"]
    assert task is not None and task["type"] == "workflow:Woken" and took < 1.0
    activities.join(timeout=5)
    assert got["activity-poller"][0] is None


def test_a_poller_that_waits_again_at_once_is_still_woken(server: LocalServer) -> None:
    """Two pollers are woken together; one finds nothing and waits again at once (as a poll whose
    task was taken by another does), before the other has left the queue's wait list. Its new
    wait must still be reachable: a later task wakes it, not the end of its long-poll."""
    state = server.engine.state
    namespace, queue, task_type = "default", "rewait", "workflow:Churn"

    def wake() -> None:
        with state.lock:
            state._available(namespace, queue, task_type)

    for _ in range(100):
        first_done, again_done, other_done = threading.Event(), threading.Event(), threading.Event()

        def again() -> None:
            state.wait_for_task(namespace, queue, ("workflow:",), 30, state.queue_seen(namespace, queue))
            first_done.set()
            state.wait_for_task(namespace, queue, ("workflow:",), 30, state.queue_seen(namespace, queue))
            again_done.set()

        def other() -> None:
            state.wait_for_task(namespace, queue, ("workflow:",), 30, state.queue_seen(namespace, queue))
            other_done.set()

        threads = [threading.Thread(target=again, daemon=True), threading.Thread(target=other, daemon=True)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(state.pollers.get((namespace, queue), [])) == 2)
        with state.lock:  # both woken at once: they leave the wait list in whichever order they run
            wake()
            wake()
        assert first_done.wait(5) and other_done.wait(5)
        wait_for(lambda: (wake(), again_done.is_set())[1], timeout=2.0)  # a lost waiter sleeps 30 s
        for thread in threads:
            thread.join(5)


def test_an_agent_calls_off_its_own_waiting_polls_and_no_other(wire: Wire, server: LocalServer) -> None:
    """Extension ``poll-wake``: a stopping agent ends its long-polls at once, empty; other agents' polls
    keep waiting, and a task enqueued afterwards goes to one of them, not to the agent that stopped."""
    got: Dict[str, Any] = {}

    def poll(name: str) -> None:
        got[name] = wire.poll(queue="stop", agent=name, wait=30)

    threads = {name: threading.Thread(target=poll, args=(name,)) for name in ("stopping", "staying")}
    for thread in threads.values():
        thread.start()
    wait_for(lambda: sum(len(w) for w in server.engine.state.pollers.values()) == 2)  # both are waiting
    wake = f"{server.address}/api/v1/agent/polls/wake"  # an extension: not in the contract

    def call_off(agent: str, body: Any, status: int) -> Any:
        answer = wire.http.post(wake, params={"agent_id": agent}, json=body, timeout=10)
        assert answer.status_code == status, answer.text
        return answer.json()

    assert call_off("stopping", {}, 200) == {"woken": 1}
    threads["stopping"].join(timeout=10)
    assert not threads["stopping"].is_alive() and got["stopping"] is None  # ended now (its wait was 30 s), empty
    assert threads["staying"].is_alive()
    wire.enqueue("activity:after", {}, queue="stop")
    threads["staying"].join(timeout=10)
    assert got["staying"] is not None and got["staying"]["type"] == "activity:after"
    assert call_off("stopping", {}, 200) == {"woken": 0}
    assert "takes no body" in call_off("stopping", {"all": True}, 400)["error"]
    assert "poll-wake" in wire.http.get(f"{server.address}/healthz", timeout=10).headers["X-PostGrip-Extensions"]
