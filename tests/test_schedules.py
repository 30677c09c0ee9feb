"""Schedules, with the service's injected clock (no real waiting) and end to end with an Agent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from postgrip_agent import Agent, Client, NotFoundError, workflow
from postgrip_agent.server import LocalServer, ManualClock
from postgrip_agent.testing import WorkflowEnvironment

from .conftest import Wire

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def menv() -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment.start_local(clock=ManualClock(START.timestamp())) as environment:
        yield environment


def _run_ids(client: Client) -> List[str]:
    return sorted(w.id for w in client.list_workflows())


def _advance(env: WorkflowEnvironment, seconds: float, step: float) -> None:
    moved = 0.0
    while moved < seconds:
        env.server.advance(step)
        moved += step


def test_interval_schedule_fires_each_slot_with_deterministic_ids(menv: WorkflowEnvironment) -> None:
    menv.client.schedule.create_workflow_schedule(
        workflow="Report", schedule_id="every10", interval=timedelta(minutes=10), overlap_policy="allow_all"
    )
    _advance(menv, 3600, 60)
    assert _run_ids(menv.client) == [f"every10-20260101T00{m}000Z" for m in range(1, 6)] + ["every10-20260101T010000Z"]
    schedule = menv.client.schedule.get("every10")
    assert schedule.last_run_at == START + timedelta(hours=1)
    assert schedule.next_run_at == START + timedelta(hours=1, minutes=10)


def test_cron_in_berlin_across_both_dst_transitions() -> None:
    clock = ManualClock(datetime(2026, 3, 27, 12, tzinfo=timezone.utc).timestamp())
    with WorkflowEnvironment.start_local(clock=clock) as env:
        env.client.schedule.create_workflow_schedule(
            workflow="Nightly", schedule_id="night", cron="30 2 * * *", timezone="Europe/Berlin", overlap_policy="allow_all"
        )
        _advance(env, 4 * 86400, 1800)  # Mar 27 .. Mar 31: the spring gap
        clock.set(datetime(2026, 10, 23, 12, tzinfo=timezone.utc).timestamp())
        env.server.engine.run_due()
        _advance(env, 4 * 86400, 1800)  # Oct 23 .. Oct 27: the autumn fold
        ids = _run_ids(env.client)
    assert ids == [
        "night-20260328T013000Z",  # 02:30 CET
        # Mar 29: 02:30 does not exist in Berlin: skipped
        "night-20260330T003000Z",
        "night-20260331T003000Z",  # 02:30 CEST
        "night-20261024T003000Z",
        "night-20261025T003000Z",  # 02:30 happens twice: runs once, at the first
        "night-20261026T013000Z",
        "night-20261027T013000Z",  # back on CET
    ]


def test_pause_and_unpause(menv: WorkflowEnvironment) -> None:
    schedules = menv.client.schedule
    schedules.create_workflow_schedule(
        workflow="R", schedule_id="p", interval=600, overlap_policy="allow_all", missed_run_policy="skip"
    )
    _advance(menv, 600, 60)
    assert schedules.pause("p", reason="maintenance").state == "paused"
    _advance(menv, 1500, 60)  # 00:35: the 00:20 and 00:30 slots pass while paused
    assert len(_run_ids(menv.client)) == 1
    assert schedules.unpause("p").state == "active"
    _advance(menv, 600, 60)
    assert _run_ids(menv.client) == ["p-20260101T001000Z", "p-20260101T004000Z"]


def test_unpause_catches_up_within_the_window(menv: WorkflowEnvironment) -> None:
    schedules = menv.client.schedule
    schedules.create_workflow_schedule(
        workflow="R",
        schedule_id="c",
        interval=600,
        overlap_policy="allow_all",
        missed_run_policy="catch_up",
        catch_up_window=timedelta(minutes=15),
    )
    schedules.pause("c")
    _advance(menv, 1800, 60)
    schedules.unpause("c")
    menv.server.advance(0)
    # at 00:30 the 00:10 slot is 20 minutes late (outside the window), 00:20 is 10 minutes late
    assert _run_ids(menv.client) == ["c-20260101T002000Z", "c-20260101T003000Z"]


def test_a_tick_that_listed_the_schedule_earlier_judges_lateness_at_its_own_moment(menv: WorkflowEnvironment) -> None:
    """The ticker lists due schedules, then fires each in its own transaction. If the schedule was
    unpaused in between, the slot's lateness is judged when it fires, not when it was listed: a
    tick that listed it at 00:15 and fires at 00:30 must not start the 00:10 slot."""
    schedules = menv.client.schedule
    schedules.create_workflow_schedule(
        workflow="R",
        schedule_id="late",
        interval=600,
        overlap_policy="allow_all",
        missed_run_policy="catch_up",
        catch_up_window=timedelta(minutes=15),
    )
    schedules.pause("late")
    _advance(menv, 1800, 60)
    schedules.unpause("late")
    menv.server.schedules._tick((START + timedelta(minutes=15)).timestamp())  # the slow tick's listing time
    assert _run_ids(menv.client) == ["late-20260101T002000Z", "late-20260101T003000Z"]


@pytest.mark.parametrize(
    "policy,downtime,expected",
    [
        ("catch_up", 1500, ["d-20260101T001000Z", "d-20260101T002000Z"]),  # within a 30-minute window
        ("catch_up", 7200, ["d-20260101T013000Z", "d-20260101T014000Z", "d-20260101T015000Z", "d-20260101T020000Z"]),
        ("skip", 1500, []),
        ("skip", 7200, ["d-20260101T020000Z"]),  # only the slot that is due right now
    ],
)
def test_catch_up_and_skip_after_downtime(menv: WorkflowEnvironment, policy: str, downtime: int, expected: List[str]) -> None:
    menv.client.schedule.create_workflow_schedule(
        workflow="R",
        schedule_id="d",
        interval=600,
        overlap_policy="allow_all",
        missed_run_policy=policy,
        catch_up_window=timedelta(minutes=30),
    )
    assert isinstance(menv.server.clock, ManualClock)
    menv.server.clock.set(START.timestamp() + downtime)  # the service saw none of this time pass
    menv.server.engine.run_due()
    assert _run_ids(menv.client) == expected


def test_overlap_skip_and_allow_all(menv: WorkflowEnvironment) -> None:
    schedules = menv.client.schedule
    schedules.create_workflow_schedule(workflow="Long", schedule_id="skip", interval=60, overlap_policy="skip")
    schedules.create_workflow_schedule(workflow="Long", schedule_id="all", interval=60, overlap_policy="allow_all")
    _advance(menv, 180, 60)
    ids = _run_ids(menv.client)
    assert [i for i in ids if i.startswith("skip-")] == ["skip-20260101T000100Z"]
    assert len([i for i in ids if i.startswith("all-")]) == 3
    menv.client.get_workflow_handle("skip-20260101T000100Z").terminate(reason="done")
    menv.server.advance(60)
    assert len([i for i in _run_ids(menv.client) if i.startswith("skip-")]) == 2


def test_trigger_and_backfill(menv: WorkflowEnvironment) -> None:
    schedules = menv.client.schedule
    schedules.create_workflow_schedule(workflow="R", schedule_id="t", cron="0 * * * *", overlap_policy="allow_all")
    triggered = schedules.trigger("t", reason="now please")
    assert triggered.task.type == "workflow:R" and triggered.task.payload["workflowId"].startswith("t-manual-")
    backfilled = schedules.backfill("t", START - timedelta(hours=3), START - timedelta(minutes=30))
    ids = sorted(task.payload["workflowId"] for task in backfilled.tasks)
    assert ids == ["t-20251231T210000Z", "t-20251231T220000Z", "t-20251231T230000Z"]
    again = schedules.backfill("t", START - timedelta(hours=3), START - timedelta(minutes=30))
    assert again.tasks == []  # the same nominal runs are never started twice
    assert len(list(schedules.runs("t"))) == 4


def test_schedule_client_operations(menv: WorkflowEnvironment) -> None:
    schedules = menv.client.schedule
    created = schedules.create_workflow_schedule(
        workflow="R",
        schedule_id="ops",
        calendar={"hour": [2], "minute": [0]},
        timezone="UTC",
        args=[1, "x"],
        task_queue="reports",
        jitter=timedelta(seconds=0),
        memo={"team": "data"},
    )
    assert created.spec.calendar is not None and created.spec.calendar.hour == [2]
    assert created.next_run_at == START + timedelta(hours=2)
    assert [s.id for s in schedules.list()] == ["ops"]
    updated = schedules.update("ops", {"spec": {"interval_seconds": 300}})
    assert updated.next_run_at == START + timedelta(minutes=5)
    assert schedules.delete("ops").state == "deleted"
    assert list(schedules.list()) == []
    with pytest.raises(NotFoundError):
        schedules.get("ops")
    with pytest.raises(ValueError, match="interval"):
        schedules.create_workflow_schedule(workflow="R", interval=0)


def test_bad_schedules_are_4xx_and_store_nothing(manual_server: LocalServer, mwire: Wire) -> None:
    action = {"workflowType": "R"}
    cases = [
        ({"spec": {"cron": "61 * * * *"}, "action": action}, "spec.cron"),
        ({"spec": {"cron": "0 2 * * *", "timezone": "Moon/Base"}, "action": action}, "spec.timezone"),
        ({"spec": {}, "action": action}, "spec"),
        ({"spec": {"interval_seconds": 0}, "action": action}, "spec.interval_seconds"),
        ({"spec": {"calendar": {"hour": [25]}}, "action": action}, "spec.calendar.hour"),
        ({"spec": {"interval_seconds": 60}, "action": {"workflowType": ""}}, "action.workflowType"),
        ({"spec": {"interval_seconds": 60}}, "action"),
    ]
    for body, field in cases:
        error = mwire.post("/api/v1/schedules", body, expect=400)
        assert field in error["error"], (body, error)
    assert mwire.get("/api/v1/schedules") == []
    mwire.post("/api/v1/schedules", {"id": "b", "spec": {"interval_seconds": 60}, "action": action}, expect=202)
    backwards = mwire.post(
        "/api/v1/schedules/b/backfill", {"start_at": "2026-01-02T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, expect=400
    )
    assert "end_at" in backwards["error"]
    assert mwire.post("/api/v1/schedules/nope/pause", {}, expect=404)["code"] == "not_found"
    assert mwire.post("/api/v1/schedules", {"id": "b", "spec": {"interval_seconds": 60}, "action": action}, expect=409)
    assert "state" in mwire.get("/api/v1/schedules", params={"state": "sleeping"}, expect=400)["error"]


def test_restart_around_a_due_fire_neither_loses_nor_doubles(tmp_path: Path) -> None:
    db = str(tmp_path / "sched.db")
    clock = ManualClock(START.timestamp())
    with LocalServer(db=db, clock=clock) as first:
        Wire(first.address).post(
            "/api/v1/schedules", {"id": "r", "spec": {"interval_seconds": 600}, "action": {"workflowType": "R"}}, expect=202
        )
        first.advance(590)  # stopped ten seconds before the fire
    clock = ManualClock(START.timestamp() + 620)  # back twenty seconds after it
    with LocalServer(db=db, clock=clock) as second:
        second.engine.run_due()
        assert [w["id"] for w in Wire(second.address).get("/api/v1/workflows")] == ["r-20260101T001000Z"]
    with LocalServer(db=db, clock=ManualClock(START.timestamp() + 625)) as third:
        third.engine.run_due()
        assert [w["id"] for w in Wire(third.address).get("/api/v1/workflows")] == ["r-20260101T001000Z"]


@workflow.defn
def scheduled_report(region: str) -> str:
    return f"report for {region} at {workflow.info().workflow_id}"


def test_schedule_runs_execute_and_their_results_are_readable(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[scheduled_report]):
        env.client.schedule.create_workflow_schedule(
            workflow=scheduled_report, schedule_id="live", interval=1, task_queue=queue, args=["emea"]
        )
        import time

        deadline = time.monotonic() + 10
        while len([r for r in env.client.schedule.runs("live") if r.state == "succeeded"]) < 2:
            assert time.monotonic() < deadline, "schedule did not fire twice"
            time.sleep(0.05)
        env.client.schedule.pause("live")
    finished = [r for r in env.client.schedule.runs("live") if r.state == "succeeded"]
    for run in finished:
        assert env.client.get_workflow_handle(run.id).result(timeout=5) == f"report for emea at {run.id}"


def test_jitter_offsets_each_fire_deterministically(menv: WorkflowEnvironment) -> None:
    created = menv.client.schedule.create_workflow_schedule(
        workflow="R", schedule_id="j", interval=3600, jitter=timedelta(minutes=5), overlap_policy="allow_all"
    )
    offset = created.next_run_at - (START + timedelta(hours=1))
    assert timedelta(0) <= offset < timedelta(minutes=5)
    assert menv.client.schedule.get("j").next_run_at == created.next_run_at  # the same on every read
    menv.server.advance(3600 + offset.total_seconds() - 1)
    assert _run_ids(menv.client) == []  # not before its jittered moment
    menv.server.advance(1.01)  # (the wire rounds next_run_at to milliseconds)
    assert _run_ids(menv.client) == ["j-20260101T010000Z"]  # the id keeps the nominal time
