"""Stopping an agent: in-flight work finishes within the grace period; what is still running then
is handed back (extension ``lease-release``), so another agent retries it at once; without the
extension its lease lapses as before."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, Iterator

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer

from .conftest import Wire, wait_for

_release = threading.Event()
_started = threading.Event()


@activity.defn
def waits_for_release(value: str) -> str:
    _started.set()
    for _ in range(400):  # heartbeats, so an interruption reaches it between waits
        if _release.wait(0.01):
            break
        activity.heartbeat()
    return value


@workflow.defn
class OneStep:
    @workflow.run
    def run(self, value: str):  # type: ignore[no-untyped-def]
        # a 5 s attempt: where nothing is handed back, its lease (5 s) lapses soon and the attempt is retried
        return (yield workflow.execute_activity(waits_for_release, value, start_to_close_timeout=timedelta(seconds=5)))


@pytest.fixture(params=[True, False], ids=["lease-release", "contract-only"])
def server(request: Any) -> Iterator[LocalServer]:
    with LocalServer(db=":memory:", port=0, round_trip_extensions=request.param) as running:
        yield running


def test_shutdown_with_grace_hands_back_what_still_runs(server: LocalServer) -> None:
    _release.clear()
    _started.clear()
    client = Client.connect(server.address)
    first = Agent(client, task_queue="drain", workflows=[OneStep], activities=[waits_for_release], identity="first")
    first.start()
    handle = client.start_workflow(OneStep, "done by the second", task_queue="drain")
    assert _started.wait(10)
    begun = time.monotonic()
    first.shutdown(grace=0.2)
    took = time.monotonic() - begun
    activity_task = next(e.task_id for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled")
    task = client.task.get(activity_task)
    if "lease-release" in (client.connection.extensions or ()):
        assert (task.state, task.agent_id, task.attempt) == ("queued", None, 1)  # nothing failed: the same attempt
    else:  # a service without the extension: the lease lapses by itself (the contract's behaviour)
        assert (task.state, task.agent_id) == ("leased", "first")
    assert took < 5, took
    _release.set()
    with Agent(
        client, task_queue="drain", workflows=[OneStep], activities=[waits_for_release], identity="second", activity_lease=1
    ):
        assert handle.result(timeout=30) == "done by the second"


def test_shutdown_lets_in_flight_work_finish_within_the_grace_period(server: LocalServer) -> None:
    _release.clear()
    _started.clear()
    client = Client.connect(server.address)
    agent = Agent(client, task_queue="drain-2", workflows=[OneStep], activities=[waits_for_release]).start()
    handle = client.start_workflow(OneStep, "finished in time", task_queue="drain-2")
    assert _started.wait(10)
    threading.Timer(0.2, _release.set).start()
    agent.shutdown(grace=20)
    assert agent.in_flight == 0
    events = handle.fetch_history().events
    assert any(e.type == "ActivityTaskCompleted" and e.attributes["result"] == "finished in time" for e in events)


def test_release_is_for_the_lease_holder_only() -> None:
    with LocalServer(db=":memory:", port=0) as running:
        wire = Wire(running.address)
        wire.enqueue("noop", queue="r")
        task = wire.poll(queue="r", agent="agent-1")
        assert task is not None
        url = f"{running.address}/api/v1/agent/tasks/{task['id']}/release"  # an extension: not in the contract

        def release(agent: str, body: Any, status: int) -> Any:
            answer = wire.http.post(url, params={"agent_id": agent}, json=body, timeout=10)
            assert answer.status_code == status, answer.text
            return answer.json()

        assert "not leased by agent agent-2" in release("agent-2", {}, 409)["error"]
        assert "takes no body" in release("agent-1", {"x": 1}, 400)["error"]
        released = release("agent-1", {}, 200)
        assert (released["state"], released["attempt"], released.get("agent_id")) == ("queued", 1, None)
        assert "not leased" in release("agent-1", {}, 409)["error"]
        assert wire.poll(queue="r", agent="agent-2")["id"] == task["id"]  # another agent takes it at once


def test_an_idle_agent_stops_without_waiting_out_its_long_polls() -> None:
    """Extension ``poll-wake``: the agent calls its waiting polls off, so shutdown() does not wait out
    a 30 s long-poll; every poller thread has ended when it returns."""
    with LocalServer(db=":memory:", port=0) as server:
        agent = Agent(Client.connect(server.address), task_queue="idle", activities=[waits_for_release], poll_wait_seconds=30)
        agent.start()
        # the agent's pollers (two per kind, per default) are all waiting on the service
        wait_for(lambda: sum(len(w) for w in server.engine.state.pollers.values()) == 2)
        stopper = threading.Thread(target=agent.shutdown)
        stopper.start()
        stopper.join(timeout=10)  # far less than the polls' 30 s
        assert not stopper.is_alive()
        assert not any(thread.is_alive() for thread in agent._threads)
        assert server.engine.state.pollers == {}


def test_an_agent_stopped_as_it_starts_does_not_wait_out_polls_sent_as_it_stopped() -> None:
    """Its pollers may send their first polls just after the agent called its polls off: the next
    rounds call those off too, so shutdown() still does not wait out a 30 s long-poll."""
    with LocalServer(db=":memory:", port=0) as server:
        for _ in range(5):
            agent = Agent(
                Client.connect(server.address), task_queue="brief", activities=[waits_for_release], poll_wait_seconds=30
            )
            agent.start()
            stopper = threading.Thread(target=agent.shutdown)
            stopper.start()
            stopper.join(timeout=10)  # far less than the polls' 30 s
            assert not stopper.is_alive()
            assert not any(thread.is_alive() for thread in agent._threads)
        wait_for(lambda: server.engine.state.pollers == {})
