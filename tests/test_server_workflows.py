"""Runs played by the test as an agent would play them, over real HTTP."""

from __future__ import annotations

import threading
import time

from postgrip_agent.server import LocalServer

from .conftest import Wire


def _wf(wire: Wire, wf_id: str, queue: str = "q", **payload: object) -> dict:
    wire.start("Order", wf_id, queue=queue, **payload)
    task = wire.poll(queue, types="workflow:")
    assert task is not None and task["payload"]["workflowId"] == wf_id
    return task


def test_activity_round_trip_requeues_the_workflow_task(wire: Wire) -> None:
    started = wire.start("Order", "order-1", args=["book"])
    assert started["payload"]["runId"]
    wf_task = wire.poll(types="workflow:")
    assert wf_task["id"] == started["id"]
    act = wire.activity(wf_task, "charge", 12)
    assert wire.block(wf_task)["state"] == "blocked"
    act_task = wire.poll(types="activity:")
    assert act_task["id"] == act["id"]
    wire.complete(act_task, {"charged": 12})
    again = wire.poll(types="workflow:")
    assert again["id"] == wf_task["id"]
    history = wire.history("order-1")
    assert [e["type"] for e in history] == ["WorkflowExecutionStarted", "ActivityTaskScheduled", "ActivityTaskCompleted"]
    assert history[0]["attributes"]["args"] == ["book"]
    assert history[1]["attributes"]["activity_type"] == "charge"
    assert history[2]["attributes"]["result"] == {"charged": 12}
    assert history[2]["task_id"] == act["id"]
    wire.complete(again, "shipped")
    run = wire.workflow("order-1")
    assert run["state"] == "succeeded" and run["result"]["value"] == "shipped"
    assert wire.history_types("order-1")[-1] == "WorkflowExecutionCompleted"
    assert wire.workflow(run["run_id"])["id"] == "order-1"  # a run id works where a workflow id does


def test_wake_while_leased_requeues_on_block(wire: Wire) -> None:
    wf_task = _wf(wire, "order-2")
    wire.activity(wf_task, "charge")
    act_task = wire.poll(types="activity:")
    wire.complete(act_task, 1)  # finishes before the workflow task blocks
    assert wire.block(wf_task)["state"] == "queued"
    assert wire.poll(types="workflow:")["id"] == wf_task["id"]


def test_timer_fires_at_its_time_and_wakes_the_run(manual_server: LocalServer, mwire: Wire) -> None:
    wf_task = _wf(mwire, "sleepy")
    timer = mwire.timer(wf_task, 5000)
    mwire.block(wf_task)
    assert mwire.poll() is None  # timers are never handed to agents
    manual_server.advance(4.9)
    assert mwire.task(timer["id"])["state"] == "queued"
    manual_server.advance(0.2)
    assert mwire.task(timer["id"])["state"] == "succeeded"
    events = mwire.history("sleepy")
    assert [e["type"] for e in events][-2:] == ["TimerStarted", "TimerFired"]
    assert events[1]["attributes"]["duration_ms"] == 5000
    assert mwire.poll(types="workflow:")["id"] == wf_task["id"]


def test_signals_are_recorded_in_order_and_wake_the_run(wire: Wire) -> None:
    wf_task = _wf(wire, "sig")
    wire.block(wf_task)
    for i in range(3):
        event = wire.post("/api/v1/workflows/sig/signal", {"name": "add", "args": [i]}, expect=202)
        assert event["type"] == "WorkflowSignaled"
    signals = [e["attributes"] for e in wire.history("sig") if e["type"] == "WorkflowSignaled"]
    assert signals == [
        {"signal_name": "add", "args": [0]},
        {"signal_name": "add", "args": [1]},
        {"signal_name": "add", "args": [2]},
    ]
    assert wire.poll(types="workflow:")["id"] == wf_task["id"]
    assert "name" in wire.post("/api/v1/workflows/sig/signal", {"args": []}, expect=400)["error"]


def test_signal_to_finished_run_is_409(wire: Wire) -> None:
    wire.complete(_wf(wire, "done"), 1)
    error = wire.post("/api/v1/workflows/done/signal", {"name": "late"}, expect=409)
    assert "not running" in error["error"] and "late" in error["error"]


def test_signal_with_start_starts_once_then_only_signals(wire: Wire) -> None:
    body = {"workflowType": "Cart", "queue": "q", "args": [1], "signal": {"name": "add", "args": ["apple"]}}
    first = wire.post("/api/v1/workflows/cart-1/signal-with-start", body, expect=202)
    second = wire.post(
        "/api/v1/workflows/cart-1/signal-with-start", {**body, "signal": {"name": "add", "args": ["pear"]}}, expect=202
    )
    assert first["workflow"]["run_id"] == second["workflow"]["run_id"]
    assert first["task"]["id"] == second["task"]["id"]
    assert wire.history_types("cart-1") == ["WorkflowExecutionStarted", "WorkflowSignaled", "WorkflowSignaled"]
    assert wire.get("/api/v1/workflows/count", params={"id": "cart-1"}) == {"count": 1}


def test_child_workflow_result_is_recorded_on_the_parent(wire: Wire) -> None:
    parent = _wf(wire, "parent")
    child = wire.enqueue(
        "workflow:Child",
        {
            "workflowType": "Child",
            "workflowId": "child-1",
            "parentWorkflowId": "parent",
            "parentWorkflowRunId": parent["payload"]["runId"],
            "parentWorkflowTaskId": parent["id"],
            "args": [2],
        },
        queue="q",
    )
    wire.block(parent)
    started = [e for e in wire.history("parent") if e["type"] == "ChildWorkflowExecutionStarted"][0]
    assert started["attributes"] == {
        "workflow_type": "Child",
        "child_workflow_id": "child-1",
        "child_run_id": child["payload"]["runId"],
        "args": [2],
    }
    assert started["task_id"] == child["id"]
    child_task = wire.poll(types="workflow:")
    assert child_task["id"] == child["id"]
    wire.complete(child_task, 4)
    done = [e for e in wire.history("parent") if e["type"] == "ChildWorkflowExecutionCompleted"][0]
    assert done["attributes"]["result"] == 4 and done["task_id"] == child["id"]
    assert wire.poll(types="workflow:")["id"] == parent["id"]


def test_child_failure_is_recorded_on_the_parent(wire: Wire) -> None:
    parent = _wf(wire, "parent-f")
    wire.enqueue(
        "workflow:Child",
        {"workflowId": "child-f", "parentWorkflowId": "parent-f", "parentWorkflowTaskId": parent["id"]},
        queue="q",
    )
    wire.block(parent)
    wire.fail(wire.poll(types="workflow:"), "child broke", {"message": "child broke", "type": "Oops", "non_retryable": True})
    failed = [e for e in wire.history("parent-f") if e["type"] == "ChildWorkflowExecutionFailed"][0]
    assert failed["attributes"]["failure"]["type"] == "Oops"


def test_continue_as_new_links_runs_and_latest_answers(wire: Wire) -> None:
    first = _wf(wire, "loop", args=[0])
    next_body = {"workflowType": "Order", "workflowId": "loop", "continuedFromWorkflowId": "loop", "args": [1]}
    next_task = wire.enqueue("workflow:Order", next_body, queue="q")
    assert wire.enqueue("workflow:Order", next_body, queue="q")["id"] == next_task["id"]  # a replay re-enqueues: no second run
    wire.complete(
        first,
        None,
        continue_as_new={"workflow_id": "loop", "workflow_type": "Order", "task_queue": "q", "task_id": next_task["id"]},
    )
    old = wire.workflow(first["payload"]["runId"])
    assert old["state"] == "continued_as_new"
    assert wire.history_types(old["run_id"])[-1] == "WorkflowExecutionContinuedAsNew"
    latest = wire.workflow("loop")
    assert latest["run_id"] == next_task["payload"]["runId"] and latest["state"] == "running"
    started = wire.history("loop")[0]
    assert started["attributes"]["continued_from_run_id"] == old["run_id"]
    second = wire.poll(types="workflow:")
    wire.complete(second, "end")
    assert wire.workflow("loop")["result"]["value"] == "end"


def test_cancel_records_request_cancels_activities_and_wakes(wire: Wire) -> None:
    wf_task = _wf(wire, "cancel-me")
    act = wire.activity(wf_task, "slow")
    shielded = wire.activity(wf_task, "cleanup", cancellationScope="non_cancellable")
    wire.block(wf_task)
    act_task = wire.poll(types="activity:slow")
    event = wire.post("/api/v1/workflows/cancel-me/cancel", {"reason": "customer asked"}, expect=202)
    assert event["type"] == "WorkflowCancellationRequested" and event["attributes"]["reason"] == "customer asked"
    assert wire.task(act["id"])["state"] == "failed"
    assert wire.task(shielded["id"])["state"] == "queued"
    beat = wire.post(f"/api/v1/agent/tasks/{act_task['id']}/heartbeat?agent_id=agent-1", {}, expect=409)
    assert "terminal" in beat["error"]
    canceled = [e for e in wire.history("cancel-me") if e["type"] == "ActivityTaskCanceled"]
    assert [e["task_id"] for e in canceled] == [act["id"]]
    assert wire.poll(types="workflow:")["id"] == wf_task["id"]


def test_terminate_ends_the_run_at_once(wire: Wire) -> None:
    wf_task = _wf(wire, "term")
    act = wire.activity(wf_task, "slow")
    wire.block(wf_task)
    event = wire.post("/api/v1/workflows/term/terminate", {"reason": "ops"}, expect=202)
    assert event["type"] == "WorkflowExecutionTerminated"
    run = wire.workflow("term")
    assert run["state"] == "failed" and "terminated" in run["error"]
    assert wire.task(act["id"])["state"] == "failed"
    assert wire.task(wf_task["id"])["state"] == "failed"
    assert wire.post("/api/v1/workflows/term/terminate", {}, expect=409)["code"] == "conflict"


def test_update_completion_is_recorded_and_query_is_not(wire: Wire) -> None:
    wf_task = _wf(wire, "upd")
    wire.block(wf_task)
    update = wire.enqueue("update:Order", {"workflowId": "upd", "updateName": "set_price", "args": [9]}, queue="q")
    query = wire.enqueue("query:Order", {"workflowId": "upd", "queryName": "price", "args": []}, queue="q")
    assert update["payload"]["workflowRunId"] == wf_task["payload"]["runId"]
    got = wire.poll(types="update:")
    wire.complete(got, "ok")
    completed = wire.history("upd")[-1]
    assert completed["type"] == "WorkflowUpdateCompleted"
    assert completed["attributes"]["update_name"] == "set_price" and completed["attributes"]["args"] == [9]
    assert completed["attributes"]["result"] == "ok"
    assert wire.poll(types="workflow:")["id"] == wf_task["id"]
    wire.complete(wire.poll(types="query:"), 9)
    assert wire.task(query["id"])["result"]["value"] == 9
    assert wire.history_types("upd")[-1] == "WorkflowUpdateCompleted"


def test_query_and_update_on_unknown_or_finished_workflow(wire: Wire) -> None:
    missing = wire.enqueue("query:Order", {"workflowId": "ghost", "queryName": "q"}, queue="q", expect=404)
    assert "ghost" in missing["error"]
    wire.complete(_wf(wire, "fin"), 1)
    closed = wire.enqueue("update:Order", {"workflowId": "fin", "updateName": "u"}, queue="q", expect=409)
    assert "not running" in closed["error"] and "'u'" in closed["error"]


def test_a_query_waiting_when_the_run_closes_is_still_answered(wire: Wire) -> None:
    wf_task = _wf(wire, "closing")
    query = wire.enqueue("query:Order", {"workflowId": "closing", "queryName": "price"}, queue="q")
    wire.complete(wf_task, 5)  # the run ends while the query waits for an agent
    assert wire.workflow("closing")["state"] == "succeeded"
    assert wire.task(query["id"])["state"] == "queued"  # an agent answers it by replaying the finished run
    wire.complete(wire.poll(types="query:"), 5)
    assert wire.task(query["id"])["result"]["value"] == 5


def test_workflow_failure_and_retry_policy(wire: Wire) -> None:
    wire.complete(_wf(wire, "dummy"), 0)
    failing = _wf(wire, "fails")
    wire.fail(failing, "bad input", {"message": "bad input", "type": "ValueError"})
    run = wire.workflow("fails")
    assert run["state"] == "failed" and run["error"] == "bad input"
    assert wire.history("fails")[-1]["attributes"]["failure"]["type"] == "ValueError"
    retried = _wf(wire, "retried", retry={"maximumAttempts": 2, "initialIntervalMs": 0})
    wire.fail(retried, "flaky")
    latest = wire.workflow("retried")
    assert latest["state"] == "running" and latest["attempt"] == 2
    failed_event = wire.history(retried["payload"]["runId"])[-1]
    assert failed_event["attributes"]["next_run_id"] == latest["run_id"]
    wire.fail(wire.poll(types="workflow:"), "flaky again")
    assert wire.workflow("retried")["state"] == "failed"


def test_id_reuse_policies(wire: Wire) -> None:
    wire.start("W", "dup")
    assert "already running" in wire.enqueue("workflow:W", {"workflowId": "dup"}, queue="q", expect=409)["error"]
    wire.complete(wire.poll(types="workflow:"), 1)
    reject = wire.enqueue("workflow:W", {"workflowId": "dup", "workflowIdReusePolicy": "reject_duplicate"}, queue="q", expect=409)
    assert "reject_duplicate" in reject["error"]
    failed_only = wire.enqueue(
        "workflow:W", {"workflowId": "dup", "workflowIdReusePolicy": "allow_duplicate_failed_only"}, queue="q", expect=409
    )
    assert "allow_duplicate_failed_only" in failed_only["error"]
    again = wire.enqueue("workflow:W", {"workflowId": "dup", "workflowIdReusePolicy": "allow_duplicate"}, queue="q")
    assert again["payload"]["runId"] != wire.history("dup")[0]["id"]
    bad = wire.enqueue("workflow:W", {"workflowId": "x", "workflowIdReusePolicy": "sometimes"}, queue="q", expect=400)
    assert "workflowIdReusePolicy" in bad["error"]


def test_run_timeout_ends_the_run(manual_server: LocalServer, mwire: Wire) -> None:
    _wf(mwire, "slow-run", runTimeoutMs=2000)
    manual_server.advance(2.5)
    run = mwire.workflow("slow-run")
    assert run["state"] == "failed" and "timed out" in run["error"]
    assert mwire.history_types("slow-run")[-1] == "WorkflowExecutionTimedOut"


def test_list_and_count_workflows_with_filters(wire: Wire) -> None:
    wire.start("A", "a-1", memo={"k": 1}, searchAttributes={"customer": "acme"})
    wire.start("B", "b-1")
    wire.start("A", "a-2", queue="other")
    assert [w["id"] for w in wire.get("/api/v1/workflows", params={"type": "A"})] == ["a-1", "a-2"]
    assert wire.get("/api/v1/workflows/count", params={"state": "running"}) == {"count": 3}
    assert [w["id"] for w in wire.get("/api/v1/workflows", params={"search.customer": "acme"})] == ["a-1"]
    assert [w["id"] for w in wire.get("/api/v1/workflows", params={"q": "b-"})] == ["b-1"]
    assert wire.get("/api/v1/workflows", params={"order_by": "id", "order": "desc", "limit": 1})[0]["id"] == "b-1"
    assert "state" in wire.get("/api/v1/workflows", params={"state": "sleeping"}, expect=400)["error"]


def test_long_poll_wakes_on_enqueue_without_waiting_out_its_timeout(wire: Wire) -> None:
    got = {}

    def poller() -> None:
        begun = time.monotonic()
        got["task"] = Wire(wire.address).poll(queue="lp", wait=10)
        got["waited"] = time.monotonic() - begun

    thread = threading.Thread(target=poller)
    thread.start()
    time.sleep(0.2)
    enqueued = wire.enqueue("shell.exec", {}, queue="lp")
    thread.join(5)
    assert got["task"]["id"] == enqueued["id"]
    assert got["waited"] < 2


def test_workflow_wait_seconds_returns_when_the_run_closes(wire: Wire) -> None:
    wf_task = _wf(wire, "waited")
    result = {}

    def waiter() -> None:
        result["run"] = Wire(wire.address).get("/api/v1/workflows/waited", params={"wait_seconds": 10})

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)
    begun = time.monotonic()
    wire.complete(wf_task, "v")
    thread.join(5)
    assert result["run"]["state"] == "succeeded"
    assert time.monotonic() - begun < 1


def test_a_text_search_matches_percent_and_underscore_literally(wire: Wire) -> None:
    for workflow_id in ("lit_a_b", "lit_axb", "lit_50%off", "lit_50xoff"):
        wire.start("Literal", workflow_id)

    def found(text: str) -> list:  # type: ignore[type-arg]
        return sorted(w["id"] for w in wire.get("/api/v1/workflows", params={"q": text}))

    assert found("a_b") == ["lit_a_b"]
    assert found("50%") == ["lit_50%off"]
    assert found("LIT_A_B") == ["lit_a_b"]  # case-insensitive on both stores
    assert found("\\") == []
