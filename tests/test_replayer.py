"""Replaying a saved history: a real run's history, saved as JSON, replays cleanly with the code
that made it and fails with a DeterminismViolation (naming the command, its position and the run)
against changed code."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, List

import pytest

from postgrip_agent import Agent, ApplicationFailure, activity, workflow
from postgrip_agent.history import WorkflowHistory
from postgrip_agent.replayer import Replayer

T10 = timedelta(seconds=10)


@activity.defn
def pack(item: str) -> str:
    return f"packed {item}"


@activity.defn
def ship(item: str) -> str:
    return f"shipped {item}"


def _define(order: str) -> Any:
    @workflow.defn(name="Fulfil")
    class Fulfil:
        def __init__(self) -> None:
            self.go = False

        @workflow.run
        def run(self, item: str):  # type: ignore[no-untyped-def]
            done: List[str] = [f"lucky {int(workflow.random() * 6) + 1}"]  # seeded by the run id
            first, second = (pack, ship) if order != "swapped" else (ship, pack)
            done.append((yield workflow.execute_activity(first, item, start_to_close_timeout=T10)))
            yield workflow.sleep(timedelta(milliseconds=20))
            yield workflow.condition(lambda: self.go)
            done.append((yield workflow.execute_activity(second, item, start_to_close_timeout=T10)))
            if order == "extra":
                yield workflow.execute_activity(pack, "a gift", start_to_close_timeout=T10)
            return done

        @workflow.signal
        def release(self) -> None:
            self.go = True

    return Fulfil


@pytest.fixture
def saved(env: Any, tmp_path: Path) -> Path:
    """A real run of the original code, its history saved as JSON."""
    original = _define("original")
    with Agent(env.client, task_queue="replay", workflows=[original], activities=[pack, ship]):
        handle = env.client.start_workflow("Fulfil", "a book", id="fulfil-1", task_queue="replay")
        handle.signal("release")
        assert handle.result(timeout=10)[1:] == ["packed a book", "shipped a book"]
    path = tmp_path / "fulfil-1.json"
    path.write_text(json.dumps(handle.fetch_history().to_json()))
    return path


def test_a_saved_history_replays_with_the_code_that_made_it(saved: Path) -> None:
    history = WorkflowHistory.from_json(saved.read_text())
    assert history.workflow_id == "fulfil-1" and history.run_id and history.events[0].type == "WorkflowExecutionStarted"
    result = Replayer(workflows=[_define("original")]).replay_workflow(history)
    assert result.error is None and result.run_id == history.run_id


def test_changed_code_fails_naming_the_command_its_position_and_the_run(saved: Path) -> None:
    history = WorkflowHistory.from_json(saved.read_text())
    with pytest.raises(ApplicationFailure) as caught:
        Replayer(workflows=[_define("swapped")]).replay_workflow(history)
    assert caught.value.type == "DeterminismViolation"
    message = str(caught.value)
    assert "command #1" in message and "'pack'" in message and "'ship'" in message and history.run_id in message
    with pytest.raises(ApplicationFailure) as extra:
        Replayer(workflows=[_define("extra")]).replay_workflow(history)
    assert "ends with WorkflowExecutionCompleted" in str(extra.value) and "activity pack" in str(extra.value)


def test_several_histories_collect_their_failures(env: Any, saved: Path) -> None:
    history = WorkflowHistory.from_json(saved.read_text())
    raw_events = env.client.connection.request("GET", "/api/v1/workflows/fulfil-1/history")  # the endpoint's list
    bare = WorkflowHistory.from_json(raw_events)
    assert bare.workflow_id == "fulfil-1" and len(bare.events) == len(history.events)
    results = Replayer(workflows=[_define("swapped")]).replay_workflows([history, bare])
    assert [type(r.error).__name__ for r in results] == ["ApplicationFailure", "ApplicationFailure"]
    assert Replayer(workflows=[_define("original")]).replay_workflows([history])[0].error is None
    with pytest.raises(ValueError, match="non-empty list of events"):
        WorkflowHistory.from_json("[]")
    with pytest.raises(ValueError, match="was not given"):
        Replayer(workflows=[_define("original")]).replay_workflow(
            WorkflowHistory.from_json(
                json.dumps(
                    {
                        **history.to_json(),
                        "events": [{**history.to_json()["events"][0], "attributes": {"workflow_type": "Other"}}],
                    }
                )
            )
        )
