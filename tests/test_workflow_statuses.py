"""describe().status tells how a run ended in Temporal's words, though the wire keeps the
contract's four states; listings filter by it, and so does the CLI."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any, Dict

import pytest

from postgrip_agent import Agent, ApplicationFailure, WorkflowFailureError, workflow

from .conftest import wait_for


@workflow.defn(name="Ending")
class Ending:
    @workflow.run
    def run(self, how: str):  # type: ignore[no-untyped-def]
        if how == "complete":
            return "done"
        if how == "fail":
            raise ApplicationFailure("broken", non_retryable=True)
        if how == "continue":
            workflow.continue_as_new("complete")
        yield workflow.sleep(timedelta(hours=1))  # cancelled, terminated or timed out meanwhile
        return "slept"


def test_each_ending_has_its_status_and_listings_filter_by_it(env: Any, queue: str) -> None:
    ids: Dict[str, str] = {}
    with Agent(env.client, task_queue=queue, workflows=[Ending]):
        for how in ("complete", "fail", "continue", "cancel", "terminate", "time_out", "run"):
            handle = env.client.start_workflow(
                Ending,
                how,
                id=f"{queue}-{how}",
                task_queue=queue,
                run_timeout=timedelta(milliseconds=300) if how == "time_out" else None,
            )
            ids[how] = handle.id
            if how in ("cancel", "terminate"):
                wait_for(lambda h=handle: any(e.type == "TimerStarted" for e in h.fetch_history().events))
                handle.cancel("no longer wanted") if how == "cancel" else handle.terminate("stopped by hand")
            if how not in ("run", "continue"):
                with pytest.raises(WorkflowFailureError) if how != "complete" else contextlib.nullcontext():
                    handle.result(timeout=10, follow_runs=False)
        latest_of_continued = env.client.get_workflow_handle(ids["continue"])
        wait_for(lambda: len(list(env.client.workflow.list(workflow_id=ids["continue"]))) == 2)
        expected = {
            "complete": "COMPLETED",
            "fail": "FAILED",
            "cancel": "CANCELED",
            "terminate": "TERMINATED",
            "time_out": "TIMED_OUT",
            "run": "RUNNING",
        }
        for how, status in expected.items():
            assert env.client.get_workflow_handle(ids[how]).describe().status == status, how
        statuses = sorted(run.status for run in env.client.workflow.list(workflow_id=ids["continue"]))
        assert statuses == ["COMPLETED", "CONTINUED_AS_NEW"] and latest_of_continued.describe().status == "COMPLETED"
        mine = {run.id for run in env.client.workflow.list(task_queue=queue, status="CANCELED")}
        assert mine == {ids["cancel"]}
        assert {run.id for run in env.client.workflow.list(task_queue=queue, state="terminated")} == {ids["terminate"]}
        assert env.client.workflow.count(task_queue=queue, status="FAILED") == 1  # not the cancelled nor terminated
        assert env.client.workflow.count(task_queue=queue, state="failed") == 4  # the wire's state, as before
        assert [r.id for r in env.client.workflow.list(task_queue=queue, status="TIMED_OUT", limit=1)] == [ids["time_out"]]
        with pytest.raises(ValueError, match="status must be one of"):
            list(env.client.workflow.list(status="ASLEEP"))
        env.client.get_workflow_handle(ids["run"]).terminate("test over")


def test_the_cli_lists_by_status(env: Any, queue: str) -> None:
    from .test_cli import cli

    with Agent(env.client, task_queue=queue, workflows=[Ending]):
        handle = env.client.start_workflow(Ending, "cancel", id=f"{queue}-cli-cancel", task_queue=queue)
        wait_for(lambda: any(e.type == "TimerStarted" for e in handle.fetch_history().events))
        handle.cancel("no")
        with pytest.raises(WorkflowFailureError):
            handle.result(timeout=10)
    listed = json.loads(cli("workflow", "list", "--state", "cancelled", "-q", queue, "-o", "json", address=env.address).stdout)
    assert [(row["id"], row["status"], row["state"]) for row in listed] == [(handle.id, "CANCELED", "failed")]
    described = json.loads(cli("workflow", "describe", handle.id, "-o", "json", address=env.address).stdout)
    assert described["status"] == "CANCELED"
