"""Call sites ported from the async reference SDK by deleting `await`: its keyword spellings work here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .conftest import wait_for

from postgrip_agent import (
    Agent,
    ApplicationFailure,
    Client,
    Connection,
    WorkflowClient,
    WorkflowHandle,
    WorkflowUpdateHandle,
    WorkflowWorker,
    activity,
    workflow,
)

T10 = timedelta(seconds=10)


@activity.defn
def double(value: int) -> int:
    return value * 2


@workflow.defn
class Doubler:
    @workflow.run
    def run(self, value: int):
        result = yield workflow.execute_activity(double, value, start_to_close_timeout=T10)
        return result


def _run_json(env: Any, workflow_id: str) -> Any:
    return env.client.connection.request("GET", f"/api/v1/workflows/{workflow_id}")


def test_a_start_with_the_reference_spellings(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Doubler], activities=[double]):
        handle = env.client.start_workflow(
            Doubler,
            workflow_id="ported-1",
            args=[21],
            task_queue=queue,
            retry={"maximumAttempts": 2},
            workflow_id_reuse_policy="allow_duplicate",
            workflow_run_timeout_ms=60_000,
            lease_timeout_seconds=15,
            ui={"display_name": "  Nightly report ", "tags": ["a", " ", "b"], "details": {"owner": "ops"}},
        )
        assert handle.workflow_id == handle.id == "ported-1"
        assert handle.workflow_type == "Doubler" and handle.task_id
        assert handle.result(timeout=10) == 42
    run = _run_json(env, "ported-1")
    assert run["memo"]["postgrip.ui"] == {"displayName": "Nightly report", "tags": ["a", "b"], "details": {"owner": "ops"}}
    assert env.client.task.get(handle.task_id).lease_timeout_seconds == 15
    started = handle.fetch_history().events[0].attributes
    assert started["workflow_type"] == "Doubler"
    again = env.client.get_workflow_handle(workflow_id="ported-1", workflow_type="Doubler")
    assert again.id == "ported-1" and again.workflow_type == "Doubler" and again.result(timeout=5) == 42


def test_execute_and_signal_with_start_take_the_reference_spellings(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Doubler], activities=[double]):
        assert env.client.execute_workflow(Doubler, workflow_id="ported-2", args=[4], task_queue=queue, timeout=10) == 8
        handle = env.client.workflow.signal_with_start(
            Doubler, signal="poke", workflow_id="ported-3", args=[5], task_queue=queue, retry={"maximumAttempts": 1}
        )
        assert handle.id == "ported-3" and handle.result(timeout=10) == 10


@pytest.mark.parametrize(
    "keywords,problem",
    [
        ({"id": "a", "workflow_id": "b"}, "pass id= or workflow_id="),
        ({"retry_policy": {"maximumAttempts": 1}, "retry": {"maximumAttempts": 2}}, "pass retry_policy= or retry="),
        ({"run_timeout": 5, "workflow_run_timeout_ms": 5000}, "pass run_timeout= or workflow_run_timeout_ms="),
        ({"run_timeout": 5, "workflow_run_timeout": 5000}, "pass run_timeout= or workflow_run_timeout="),
        ({"workflow_run_timeout": 5000, "workflow_run_timeout_ms": 5000}, "workflow_run_timeout= or workflow_run_timeout_ms="),
        ({"id_reuse_policy": "allow_duplicate", "workflow_id_reuse_policy": "reject_duplicate"}, "id_reuse_policy="),
        ({"lease_timeout": 5, "lease_timeout_seconds": 5}, "pass lease_timeout= or lease_timeout_seconds="),
    ],
)
def test_both_spellings_at_once_are_refused_before_sending(env: Any, keywords: Any, problem: str) -> None:
    sent = env.client.connection.requests_sent
    with pytest.raises(TypeError, match=problem):
        env.client.start_workflow("Anything", task_queue="nowhere", **keywords)
    with pytest.raises(TypeError, match="positionally or as args"):
        env.client.start_workflow("Anything", 1, args=[2], task_queue="nowhere")
    assert env.client.connection.requests_sent == sent


def test_schedules_take_the_reference_spellings_and_request_dicts(env: Any) -> None:
    schedules = env.client.schedule
    created = schedules.create_workflow_schedule(
        workflow="Report",
        schedule_id="ported-s",
        interval_seconds=600,
        jitter_seconds=5,
        catch_up_window_seconds=60,
        retry={"maximumAttempts": 3},
        workflow_id_reuse_policy="allow_duplicate",
        workflow_run_timeout_ms=30_000,
        ui={"displayName": "Report"},
    )
    assert created.spec.interval_seconds == 600 and created.spec.jitter_seconds == 5
    assert created.spec.catch_up_window_seconds == 60 and created.action.run_timeout_ms == 30_000
    assert created.action.retry is not None and created.action.retry.maximum_attempts == 3
    assert created.action.workflow_id_reuse_policy == "allow_duplicate"
    assert created.action.memo == {"postgrip.ui": {"displayName": "Report"}}
    assert schedules.pause("ported-s", {"reason": "maintenance"}).state == "paused"
    assert schedules.unpause("ported-s", request={"reason": "done"}).state == "active"
    # 00:00 to 00:30 holds the fires at 00:00, 00:10, 00:20 and 00:30, given as the reference's dict or as datetimes
    from_dict = schedules.backfill("ported-s", {"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-01T00:30:00Z"})
    start, end = datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, 0, 30, tzinfo=timezone.utc)
    from_datetimes = schedules.backfill("ported-s", start, end)
    assert len(from_dict.tasks) == len(from_datetimes.tasks) == 4
    with pytest.raises(TypeError, match="reason= or a request dict"):
        schedules.pause("ported-s", {"reason": "x"}, request={"reason": "y"})
    with pytest.raises(TypeError, match="start_at and end_at, or a request dict"):
        schedules.backfill("ported-s", {"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-01T00:30:00Z"}, end)


def test_task_enqueue_takes_lease_timeout_seconds(env: Any) -> None:
    task = env.client.task.enqueue("custom.kind", queue="ported-q", lease_timeout_seconds=42)
    assert task.lease_timeout_seconds == 42


def test_application_failure_takes_details_as_a_keyword() -> None:
    assert ApplicationFailure("bad", details=[1, {"a": 2}], type="Bad").details == [1, {"a": 2}]
    assert ApplicationFailure("bad", 1, 2).details == [1, 2]
    with pytest.raises(TypeError, match="only one of them"):
        ApplicationFailure("bad", 1, details=[2])


@workflow.defn
class Hops:
    """Continues as new under another workflow id, with a retry policy and a task lease."""

    @workflow.run
    def run(self, hop: int):
        if hop == 0:
            workflow.continue_as_new(hop + 1, workflowId="hops-next", retry={"maximumAttempts": 3}, lease_timeout_seconds=17)
        yield workflow.sleep(0)
        return f"{workflow.info().workflow_id} at hop {hop}"


def test_continue_as_new_takes_workflow_id_retry_and_lease(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Hops]):
        handle = env.client.start_workflow(Hops, 0, id="hops-first", task_queue=queue)
        assert handle.result(timeout=10) == "hops-next at hop 1"  # result() follows the continuation
    following = env.client.get_workflow_handle("hops-next")
    task = env.client.task.get(following.describe().task_id)
    assert task.lease_timeout_seconds == 17 and task.payload["retry"] == {"maximumAttempts": 3}
    assert task.payload["continuedFromWorkflowId"] == "hops-first"


def test_the_async_sdks_agent_and_client_shapes(env: Any, queue: str) -> None:
    connection = Connection(
        env.address,
        auth_token=None,
        agent_id="agent-7",
        agent_name="nightly",
        agent_host="box-1",
        agent_queue=queue,
        timeout=5,
        headers={"X-Team": "ops"},
    )
    agent = WorkflowWorker.create(connection=connection, workflows=[Doubler], activities=[double])
    assert (agent.identity, agent.name, agent.host, agent.task_queue) == ("agent-7", "nightly", "box-1", queue)
    workflows = WorkflowClient(connection=connection)

    def scenario() -> Any:
        return workflows.start(Doubler, 21, id="shapes", task_queue=queue).result(timeout=10)

    assert agent.run_until(scenario) == 42  # the agent ran while the scenario did, and stopped after
    assert agent._stopped.is_set()
    with pytest.raises(TypeError, match="a Client or connection=, not both"):
        Agent(Client(connection), connection=connection, task_queue=queue, workflows=[Doubler])
    with pytest.raises(TypeError, match="one of them"):
        WorkflowClient()
    assert activity.activity_name(double) == "double"


def test_client_connect_takes_the_agent_credentials_keywords(env: Any) -> None:
    client = Client.connect(
        env.address,
        auth_token="t0ken",
        agent_access_token="a",
        agent_refresh_token="r",
        agent_access_expires_at="2030-01-01T00:00:00Z",
        worker_id="w-1",
        agent_namespace="ns1",
    )
    assert client.connection.token == "t0ken" and client.connection.agent_defaults["identity"] == "w-1"
    assert client.connection.agent_defaults["namespace"] == "ns1"
    with pytest.raises(TypeError, match="pass token= or auth_token="):
        Connection(env.address, token="a", auth_token="b")


def test_the_runtime_helpers_of_the_async_sdk() -> None:
    @workflow.defn
    class UsesTime:
        @workflow.run
        def run(self):
            import time

            return time.time()

    with pytest.raises(ValueError, match="time.time"):
        workflow.validate_workflow_sandbox(UsesTime)
    workflow.validate_workflow_sandbox(Doubler)
    with pytest.raises(TypeError, match="workflow instance"):
        workflow.run_in_workflow_runtime(object(), lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="activity context"):
        activity.run_in_activity_runtime(object(), lambda: None)  # type: ignore[arg-type]
    assert workflow.ContinueAsNewCommand is workflow.ContinueAsNew


@workflow.defn
class Counter:
    """Takes updates; continues as new the async SDK's way, raising ContinueAsNewCommand by hand."""

    def __init__(self) -> None:
        self.total = 0
        self.done = False

    @workflow.update
    def add(self, amount: int) -> int:
        self.total += amount
        return self.total

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    def run(self, hop: int):
        if hop == 0:
            raise workflow.ContinueAsNewCommand("Counter", [1], {"workflow_run_timeout_ms": 60_000, "leaseTimeoutSeconds": 19})
        yield workflow.wait_condition(lambda: self.done)
        return self.total


def test_handles_made_the_async_sdks_way_from_a_connection(env: Any, queue: str) -> None:
    connection = Connection(env.address, timeout=5)
    with Agent(env.client, task_queue=queue, workflows=[Counter]):
        started = env.client.start_workflow(Counter, 0, id="counter-1", task_queue=queue)
        made = WorkflowHandle(connection=connection, workflow_id="counter-1")  # the reference's dataclass fields
        positional = WorkflowHandle(connection, "counter-1")
        # an update sent before the run continues would be refused with the run it was sent to
        wait_for(lambda: made.describe().run_id != started.result_run_id and made.describe().status == "RUNNING")
        update = made.start_update(Counter.add, 5)  # follows the continuation: the run that waits takes it
        assert update.result(timeout=10) == 5
        by_task = WorkflowUpdateHandle(connection=connection, update_id=update.task_id)  # the reference's: a task id
        assert by_task.result(timeout=10) == 5 and by_task.events()
        positional.signal(Counter.finish)
        assert made.result(timeout=10) == 5 and started.result(timeout=10) == 5
    following = env.client.task.get(made.describe().task_id)
    assert following.lease_timeout_seconds == 19 and following.payload["runTimeoutMs"] == 60_000
    with pytest.raises(TypeError, match="one of them"):
        WorkflowHandle(env.client, "x", connection=connection)
    with pytest.raises(TypeError, match="pass id= or workflow_id="):
        WorkflowHandle(connection, "x", workflow_id="y")
    with pytest.raises(ValueError, match="update's id"):
        WorkflowUpdateHandle(connection=connection)


def test_a_workflow_info_and_a_continue_as_new_command_built_by_hand() -> None:
    theirs = workflow.WorkflowInfo(workflow_id="w", workflow_run_id="r", task_queue="q", workflow_type="T")
    assert theirs == workflow.WorkflowInfo("w", "r", "T", "q") and theirs.run_id == theirs.workflow_run_id == "r"
    assert theirs.namespace == "default"
    with pytest.raises(TypeError, match="needs run_id"):
        workflow.WorkflowInfo(workflow_id="w", task_queue="q", workflow_type="T")
    command = workflow.ContinueAsNewCommand(
        "T", [1, 2], options={"taskQueue": "q2", "workflow_run_timeout": 1500, "retry": {"maximumAttempts": 2}}
    )
    assert (command.task_queue, command.run_timeout_ms, command.retry) == ("q2", 1500, {"maximumAttempts": 2})
    assert command.options == {"taskQueue": "q2", "workflow_run_timeout": 1500, "retry": {"maximumAttempts": 2}}
    with pytest.raises(TypeError, match="unknown task_que; known: workflow_id"):
        workflow.ContinueAsNewCommand("T", [], {"task_que": "q"})
    with pytest.raises(TypeError, match="pass task_queue= or taskQueue="):
        workflow.ContinueAsNewCommand("T", [], {"task_queue": "a", "taskQueue": "b"})
