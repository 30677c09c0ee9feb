"""The in-process transport: ``Client.connect(server)`` reaches a LocalServer without a socket.

The same calls are made over loopback HTTP and in-process, and must answer alike: values,
error types, statuses, codes and messages. The agent end-to-end tests also run in-process
(tests/test_agent_workflows.py, the "in-process" variant).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.connection import RetryOptions
from postgrip_agent.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PostGripAgentError,
    RPCError,
    TransportError,
    UnauthorizedError,
)
from postgrip_agent.server import LocalServer
from postgrip_agent.server.http.conn import MAX_BODY_BYTES

from .conftest import wait_for

T10 = timedelta(seconds=10)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@activity.defn(name="inproc_double")
def double(value: int) -> int:
    return value * 2


@workflow.defn(name="InProcessFlow")
class InProcessFlow:
    def __init__(self) -> None:
        self.bonus: Optional[int] = None
        workflow.set_handler(workflow.define_signal("add_bonus"), self.add_bonus)
        workflow.set_handler(workflow.define_query("bonus"), lambda: self.bonus)

    @workflow.run
    def run(self, value: int):  # type: ignore[no-untyped-def]
        doubled = yield workflow.execute_activity(double, value, start_to_close_timeout=T10)
        yield workflow.sleep(timedelta(milliseconds=20))
        yield workflow.condition(lambda: self.bonus is not None)
        return doubled + (self.bonus or 0)

    def add_bonus(self, bonus: int) -> None:
        self.bonus = bonus


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(port=0) as running:
        yield running


def test_a_workflow_runs_end_to_end_without_opening_a_connection(server: LocalServer, queue: str) -> None:
    client = Client.connect(server)
    try:
        with Agent(client, task_queue=queue, workflows=[InProcessFlow], activities=[double]):
            handle = client.start_workflow(InProcessFlow, 21, id="inproc-1", task_queue=queue)
            wait_for(lambda: any(e.type == "TimerFired" for e in handle.fetch_history().events))
            assert handle.query("bonus") is None
            handle.signal("add_bonus", 5)
            assert handle.result(timeout=10) == 47
    finally:
        client.close()
    assert client.connection.requests_sent > 10
    assert server.connections_accepted == 0


def _outcome(call: Callable[[Client], Any], client: Client) -> Tuple[str, Any]:
    """What a call did: its value, or its error's type, status, code and message (the address,
    a different port for each server, left out)."""
    try:
        return "value", call(client)
    except RPCError as err:
        message = UUID.sub("<uuid>", str(err).replace(client.connection.address, ""))
        return "error", (type(err).__name__, err.status, err.code, message)


CALLS: List[Tuple[str, Callable[[Client], Any], Optional[type]]] = [
    ("describe a missing workflow", lambda c: c.get_workflow_handle("no-such-workflow").describe(), NotFoundError),
    ("start twice", lambda c: [c.start_workflow("Twice", id="twice", task_queue="q") for _ in range(2)], AlreadyExistsError),
    (
        "an unknown field",
        lambda c: c.connection.request("POST", "/api/v1/tasks", body={"type": "x", "bogus": 1}),
        InvalidArgumentError,
    ),
    ("no such endpoint", lambda c: c.connection.request("GET", "/api/v1/nowhere"), NotFoundError),
    ("a wrong method", lambda c: c.connection.request("DELETE", "/api/v1/tasks", idempotent=True), RPCError),
    (
        "a task enqueued and read back",
        lambda c: c.task.get(c.task.enqueue("inproc.read", payload={"n": 1}, queue="q").id).payload,
        None,
    ),
]


@pytest.mark.parametrize("name,call,expected", CALLS, ids=[c[0] for c in CALLS])
def test_each_call_answers_as_it_does_over_http(name: str, call: Callable[[Client], Any], expected: Optional[type]) -> None:
    outcomes = []
    for transport in ("http", "in-process"):
        with LocalServer(port=0) as fresh:
            client = Client.connect(fresh if transport == "in-process" else fresh.address, retry=RetryOptions.disabled())
            try:
                outcomes.append(_outcome(call, client))
            finally:
                client.close()
    over_http, in_process = outcomes
    assert in_process == over_http
    if expected is None:
        assert in_process[0] == "value"
    else:
        assert in_process[0] == "error" and in_process[1][0] == expected.__name__, in_process


def test_an_oversized_body_is_refused_with_413(server: LocalServer) -> None:
    client = Client.connect(server, retry=RetryOptions.disabled())
    with pytest.raises(PayloadTooLargeError) as refused:
        client.connection.request("POST", "/api/v1/tasks", body={"type": "big", "payload": "x" * MAX_BODY_BYTES})
    assert refused.value.status == 413 and "limit" in str(refused.value)
    assert list(client.task.list(type="big")) == []
    client.close()


def test_the_token_is_checked_in_process() -> None:
    with LocalServer(port=0, auth_token="s3cret") as secured:
        anonymous = Client.connect(secured, retry=RetryOptions.disabled())
        with pytest.raises(UnauthorizedError) as refused:
            anonymous.workflow.count()
        assert refused.value.status == 401
        trusted = Client.connect(secured, token="s3cret")
        assert trusted.workflow.count() == 0
        anonymous.close()
        trusted.close()
    assert secured.connections_accepted == 0


def test_a_stopped_service_refuses_as_a_closed_port_does(queue: str) -> None:
    server = LocalServer(port=0).start()
    client = Client.connect(server, retry=RetryOptions.disabled())
    server.stop()
    with pytest.raises(TransportError) as refused:
        client.start_workflow("Late", id="late", task_queue=queue)
    assert refused.value.reached_server is False
    assert "not running" in str(refused.value)
    client.close()


def test_connecting_to_a_server_that_was_never_started_fails_fast_and_says_so() -> None:
    server = LocalServer(port=0)
    try:
        with pytest.raises(TransportError, match="not running"):
            Client.connect(server)
    finally:
        server.stop()


def test_a_waiting_result_ends_when_the_service_stops(queue: str) -> None:
    server = LocalServer(port=0).start()
    client = Client.connect(server, retry=RetryOptions.disabled())
    handle = client.start_workflow("NobodyRunsThis", id="waiting", task_queue=queue)
    ended: List[BaseException] = []

    def wait() -> None:
        try:
            handle.result(timeout=60)
        except BaseException as err:  # the waiter's outcome is the assertion
            ended.append(err)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_for(lambda: server.engine.long_polls_waiting() > 0)
    began = time.monotonic()
    server.stop()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert len(ended) == 1 and isinstance(ended[0], PostGripAgentError), ended
    assert time.monotonic() - began < 10
    client.close()


def test_connect_names_what_it_accepts() -> None:
    with pytest.raises(TypeError, match="LocalServer"):
        Client.connect(42)  # type: ignore[arg-type]


def test_in_process_writes_need_no_idempotency_record(tmp_path: Any, queue: str) -> None:
    """An in-process answer cannot be lost in transit, so nothing is stored to replay it."""
    path = str(tmp_path / "keys.db")
    with LocalServer(db=path, port=0) as served:
        over_http = Client.connect(served.address)
        in_process = Client.connect(served)
        over_http.start_workflow("Keyed", id="keyed-http", task_queue=queue)
        in_process.start_workflow("Keyed", id="keyed-inproc", task_queue=queue)
        over_http.close()
        in_process.close()
    with sqlite3.connect(path) as db:
        answers = [row[0] for row in db.execute("SELECT body FROM idempotency")]
    assert len(answers) == 1 and "keyed-http" in answers[0], answers  # the HTTP start's, only


def test_the_adapter_also_serves_a_plain_requests_session(server: LocalServer) -> None:
    """The Connection calls the adapter's own entry; mounted on any requests.Session (requests'
    extension point) it answers the same way, headers and errors included."""
    import requests

    session = requests.Session()
    session.mount(server.address + "/", server.transport_adapter())
    listed = session.get(server.address + "/api/v1/workflows", params={"limit": "2"})
    assert listed.status_code == 200 and listed.json() == []
    assert "markers" in listed.headers["x-postgrip-extensions"]
    missing = session.get(server.address + "/api/v1/workflows/no%20such")
    assert missing.status_code == 404 and "no such" in missing.json()["error"]
    bad = session.get(server.address + "/api/v1/workflows", params={"limit": "many"})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]
