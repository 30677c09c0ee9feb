"""The blocking Client against a LocalServer over real HTTP."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, List

import attrs
import pytest

from postgrip_agent import (
    Agent,
    AlreadyExistsError,
    Client,
    InvalidArgumentError,
    NotFoundError,
    RetryPolicy,
    TimeoutFailure,
    TransportError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    activity,
    workflow,
)
from postgrip_agent import types as wt

T10 = timedelta(seconds=10)


@attrs.define
class Order:
    sku: str
    quantity: int


@activity.defn
def price(order: dict) -> int:
    return order["quantity"] * 3


@workflow.defn
class OrderWorkflow:
    def __init__(self) -> None:
        self.notes: List[str] = []
        self.total = 0
        workflow.set_handler(workflow.define_signal("note"), self.notes.append)
        workflow.set_handler(workflow.define_query("notes"), lambda: list(self.notes))
        workflow.set_handler(workflow.define_update("discount"), self.discount, validator=self.check_discount)

    def check_discount(self, amount: int) -> None:
        if amount < 0:
            raise ValueError("discount must not be negative")

    def discount(self, amount: int) -> int:
        self.total -= amount
        return self.total

    @workflow.run
    def run(self, order: dict) -> Any:
        workflow.milestone("priced", index=1, total=2)
        self.total = yield workflow.execute_activity(price, order, start_to_close_timeout=T10)
        yield workflow.condition(lambda: "ship" in self.notes)
        return {"total": self.total, "notes": self.notes}


@workflow.defn
class Typed:
    @workflow.run
    def run(self, sku: str) -> Order:
        return {"sku": sku, "quantity": 2}  # type: ignore[return-value]


def test_connect_fails_fast_naming_the_address() -> None:
    with pytest.raises(TransportError) as caught:
        Client.connect("http://127.0.0.1:1", retry=None)
    assert "127.0.0.1:1" in str(caught.value) and "postgrip-agent server" in str(caught.value)


def test_service_operations(env: Any) -> None:
    client = env.client
    assert client.health().status == "ok"
    assert client.ready().stats["workflows_running"] == 0
    assert client.create_namespace("team-a").name == "team-a"
    with pytest.raises(AlreadyExistsError):
        client.create_namespace("team-a")
    assert {n.name for n in client.list_namespaces()} == {"default", "team-a"}
    assert client.compact().removed_tasks == 0


def test_start_signal_query_update_and_result(env: Any, queue: str) -> None:
    client = env.client
    with Agent(client, task_queue=queue, workflows=[OrderWorkflow], activities=[price]):
        handle = client.start_workflow(
            OrderWorkflow,
            Order("book", 4),
            id="order-7",
            task_queue=queue,
            memo={"source": "web"},
            search_attributes={"customer": "acme"},
        )
        assert handle.id == "order-7" and handle.run_id is None and handle.result_run_id
        handle.signal("note", "gift wrap")
        assert handle.query("notes") == ["gift wrap"]
        deadline = time.monotonic() + 10  # the update below discounts the priced total
        while not any(e.type == "ActivityTaskCompleted" for e in handle.fetch_history().events):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert handle.execute_update("discount", 2) == 10
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            handle.execute_update(workflow.define_update("discount"), -1)
        assert "must not be negative" in str(rejected.value)
        with pytest.raises(WorkflowQueryFailedError, match="no query handler 'nope'"):
            handle.query("nope")
        update = handle.start_update("discount", 1, id="upd-1")
        assert update.id == "upd-1" and update.result(timeout=10) == 9
        assert handle.get_update_handle("upd-1").result(timeout=10) == 9
        assert handle.get_update_handle_for(workflow.define_update("discount"), "upd-1").result(timeout=10) == 9
        handle.signal(workflow.define_signal("note"), args=["ship"])
        assert handle.result(timeout=10) == {"total": 9, "notes": ["gift wrap", "ship"]}
    described = handle.describe()
    assert described.state == "succeeded" and described.memo == {"source": "web"}
    assert client.count_workflows(search_attributes={"customer": "acme"}) == 1
    assert [w.id for w in client.list_workflows(workflow_type="OrderWorkflow")] == ["order-7"]
    events = handle.fetch_history().events
    assert [e.type for e in events][0] == "WorkflowExecutionStarted"
    assert [e.type for e in handle.fetch_history_events(wait_new_event=True)] == [e.type for e in events]
    milestones = [e for e in handle.watch_events(timeout=5) if e.kind == "milestone"]
    assert [m.details["name"] for m in milestones] == ["priced"]  # type: ignore[index]


def test_typed_results_from_annotation_or_result_type(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Typed]):
        assert env.client.execute_workflow(Typed, "pen", task_queue=queue, timeout=10) == Order("pen", 2)
        handle = env.client.start_workflow("Typed", "ink", task_queue=queue, result_type=Order)
        assert handle.result(timeout=10) == Order("ink", 2)
        raw = env.client.get_workflow_handle(handle.id).result(timeout=10)
        assert raw == {"sku": "ink", "quantity": 2}


def test_cancel_and_terminate_through_handles(env: Any, queue: str) -> None:
    from postgrip_agent import WorkflowFailureError

    with Agent(env.client, task_queue=queue, workflows=[OrderWorkflow], activities=[price]):
        cancelled = env.client.start_workflow(OrderWorkflow, {"sku": "a", "quantity": 1}, task_queue=queue)
        cancelled.cancel("customer changed mind")
        with pytest.raises(WorkflowFailureError) as caught:
            cancelled.result(timeout=10)
        assert caught.value.status == "cancelled"
        terminated = env.client.start_workflow(OrderWorkflow, {"sku": "b", "quantity": 1}, task_queue=queue)
        terminated.terminate(reason="ops cleanup")
        with pytest.raises(WorkflowFailureError) as caught:
            terminated.result(timeout=10)
        assert caught.value.status == "terminated" and "ops cleanup" in str(caught.value)


def test_result_timeout_and_pinned_handles(env: Any, queue: str) -> None:
    handle = env.client.start_workflow("Nobody", task_queue=queue, id="idle")
    with pytest.raises(TimeoutFailure):
        handle.result(timeout=0.2)
    pinned = env.client.get_workflow_handle("idle", run_id=handle.result_run_id)
    assert pinned.run_id == handle.result_run_id == pinned.result_run_id
    assert pinned.describe().run_id == handle.result_run_id
    assert handle.first_execution_run_id == handle.result_run_id


def test_bad_input_is_rejected_before_sending(env: Any) -> None:
    client = env.client
    sent = client.connection.requests_sent
    with pytest.raises(TypeError, match="argument 0 cannot be converted to JSON"):
        client.start_workflow("W", object())
    with pytest.raises(ValueError, match="workflow id"):
        client.start_workflow("W", id="")
    with pytest.raises(ValueError, match="id_reuse_policy"):
        client.start_workflow("W", id_reuse_policy="sometimes")
    with pytest.raises(ValueError, match="run_timeout must not be negative"):
        client.start_workflow("W", run_timeout=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="workflow id"):
        client.get_workflow_handle("  ")
    with pytest.raises(ValueError, match="RetryPolicy.maximum_attempts"):
        client.start_workflow("W", retry_policy=RetryPolicy(maximum_attempts=-1))
    assert client.connection.requests_sent == sent


def test_service_errors_map_to_the_hierarchy(env: Any) -> None:
    with pytest.raises(NotFoundError) as missing:
        env.client.get_workflow_handle("ghost").describe()
    assert missing.value.status == 404 and "ghost" in missing.value.message
    with pytest.raises(InvalidArgumentError):
        env.client.connection.request("POST", "/api/v1/tasks", body={"type": "x", "bogus": 1}, idempotent=False)
    env.client.start_workflow("W", id="twice")
    with pytest.raises(AlreadyExistsError):
        env.client.start_workflow("W", id="twice")


def test_task_client(env: Any) -> None:
    tasks = env.client.task
    shell = tasks.shell_exec("echo", ["hi"], queue="ops")
    assert shell.type == "shell.exec" and shell.payload == {"command": "echo", "args": ["hi"]}
    container = tasks.container_exec("alpine:3", ["true"], queue="ops")
    runtime = tasks.workflow_runtime(image="python:3.12", command="python", queue="ops")
    noop = tasks.noop(queue="ops")
    assert [t.id for t in tasks.list(queue="ops")] == [shell.id, container.id, runtime.id, noop.id]
    assert tasks.get(noop.id).state == "queued"
    with pytest.raises(ValueError, match="isolation"):
        tasks.workflow_runtime(command="x", isolation="microvm")
    lane = env.client.connection
    polled = lane.request("GET", "/api/v1/agent/poll", params={"queue": "ops", "agent_id": "me"}, idempotent=False)["task"]
    lane.request(
        "POST",
        f"/api/v1/agent/tasks/{polled['id']}/events",
        params={"agent_id": "me"},
        body={"event": {"kind": "stdout", "data": "hi\n"}},
    )
    seen: List[wt.TaskEvent] = []

    def finish() -> None:
        lane.request(
            "POST", f"/api/v1/agent/tasks/{polled['id']}/complete", params={"agent_id": "me"}, body={"result": {"exit_code": 0}}
        )

    timer = threading.Timer(0.2, finish)
    timer.start()
    for event in tasks.watch_events(polled["id"], timeout=10):
        seen.append(event)
    assert [e.kind for e in seen] == ["leased", "stdout"]
    assert tasks.wait(polled["id"], timeout=5).state == "succeeded"
    assert [e.kind for e in tasks.events(polled["id"])] == ["leased", "stdout"]


def test_one_client_shared_by_many_threads(env: Any) -> None:
    client = env.client
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                client.task.enqueue("noop", queue=f"shared-{n}")
                client.health()
            assert len(list(client.task.list(queue=f"shared-{n}"))) == 15
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _established(env.server.port) <= 128  # the pool bounds the connections
    client.close()
    assert _established(env.server.port, client_side=True) == 0


def _established(port: int, client_side: bool = False) -> int:
    """Open TCP connections to ``port`` (as seen from this process's network namespace)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            target = remote if client_side else local
            if state == "01" and int(target.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def test_ids_with_slashes_spaces_and_unicode_are_addressable(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[OrderWorkflow], activities=[price]):
        handle = env.client.start_workflow(OrderWorkflow, {"sku": "x", "quantity": 1}, id="orders/2026 #7 ü?", task_queue=queue)
        assert handle.describe().id == "orders/2026 #7 ü?"
        handle.signal("note", "ship")
        assert handle.result(timeout=10) == {"total": 3, "notes": ["ship"]}
    assert [e.type for e in handle.fetch_history().events][-1] == "WorkflowExecutionCompleted"


def test_listings_take_the_async_sdks_paging_and_filters(env: Any, queue: str) -> None:
    for n in range(5):
        env.client.start_workflow("Listed", id=f"listed-{queue}-{n}", task_queue=queue)
    workflows = env.client.workflow
    everything = list(workflows.list(task_queue=queue))
    assert len(everything) == 5
    assert [w.id for w in workflows.list(task_queue=queue, limit=2)] == [w.id for w in everything[:2]]
    assert [w.id for w in workflows.list(task_queue=queue, offset=2, limit=2)] == [w.id for w in everything[2:4]]
    _, headers = env.client.connection.request_full(
        "GET", "/api/v1/workflows", params={"queue": queue, "limit": 2, "order_by": "-created_at"}
    )
    token = headers.get("X-Next-Page-Token")  # a token goes on in its listing's order (newest first here)
    assert token and [w.id for w in workflows.list(task_queue=queue, page_token=token, limit=2)] == [
        w.id for w in everything[2:4]
    ]
    _, headers = env.client.connection.request_full("GET", "/api/v1/workflows", params={"queue": queue, "limit": 2})
    oldest_first = headers.get("X-Next-Page-Token")  # the service's own default order: oldest first
    assert [w.id for w in workflows.list(task_queue=queue, page_token=oldest_first)] == [w.id for w in everything[2::-1]]
    one = everything[3]
    assert [w.id for w in workflows.list(run_id=one.run_id)] == [one.id] and workflows.count(run_id=one.run_id) == 1
    assert workflows.count(q=f"listed-{queue}-1") == 1 and len(list(workflows.list(q=f"listed-{queue}-", limit=10))) == 5
    with pytest.raises(TypeError, match="not both"):
        list(workflows.list(query="x", q="y"))
    for n in range(3):
        env.client.schedule.create_workflow_schedule(
            workflow="Listed", schedule_id=f"sched-{queue}-{n}", task_queue=queue, interval=timedelta(hours=1)
        )
    schedules = [s.id for s in env.client.schedule.list() if s.id.startswith(f"sched-{queue}")]
    assert len(schedules) == 3
    assert len(list(env.client.schedule.list(limit=2))) == 2
    page = [s.id for s in env.client.schedule.list(offset=1, limit=1)]
    assert len(page) == 1 and page[0] == [s.id for s in env.client.schedule.list()][1]
