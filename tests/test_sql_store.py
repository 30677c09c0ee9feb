"""Every query of the one SQL store (``server/store/sql.py``), run once per database.

The queries are written once; what differs between SQLite and PostgreSQL is the dialect and the
connection. This test calls each query method on each database against the same records and
expects the same answers; it also fails when ``SQLStore`` gains a query this test does not call.
"""

from __future__ import annotations

import inspect
from typing import Any, Iterator, List, Set

import pytest

from postgrip_agent.server import open_store
from postgrip_agent.server.store import (
    HistoryRecord,
    IdempotentRecord,
    NamespaceRecord,
    Page,
    PollerRecord,
    RunRecord,
    ScheduleRecord,
    SessionRecord,
    TaskEventRecord,
    TaskRecord,
)
from postgrip_agent.server.store.sql import SQLStore

CALLED: Set[str] = set()


class Recording:
    """The store, noting which of SQLStore's query methods the test called."""

    def __init__(self, store: SQLStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        CALLED.add(name)
        return getattr(self._store, name)


@pytest.fixture
def store(db: str) -> Iterator[Recording]:
    opened = open_store(db)
    assert isinstance(opened, SQLStore)
    try:
        yield Recording(opened)
    finally:
        opened.close()


def _task(task_id: str, **fields: Any) -> TaskRecord:
    base = dict(
        namespace="default",
        queue="q",
        type="activity:work",
        state="queued",
        attempt=1,
        lease_timeout_seconds=30,
        created_at=100.0,
        updated_at=100.0,
        payload={"n": 1},
    )
    return TaskRecord(id=task_id, **{**base, **fields})  # type: ignore[arg-type]


def _run(run_id: str, workflow_id: str, **fields: Any) -> RunRecord:
    base = dict(
        namespace="default",
        type="Wf",
        queue="q",
        task_id=f"task-of-{run_id}",
        state="running",
        created_at=100.0,
        updated_at=100.0,
    )
    return RunRecord(run_id=run_id, id=workflow_id, **{**base, **fields})  # type: ignore[arg-type]


def _ids(records: List[Any]) -> List[str]:
    return [getattr(r, "id", None) or getattr(r, "run_id") for r in records]


def test_every_query_answers_the_same_on_each_database(store: Recording) -> None:
    with store.transaction():
        store.insert_namespace(NamespaceRecord("team-a", 1.0, 1.0))
        for task in (
            _task("t-queued"),
            _task("t-later", not_before=500.0),
            _task("t-wf", type="workflow:Wf"),
            _task("t-leased", state="leased", leased_until=150.0, run_id="r1"),
            _task("t-timer", type="timer", fire_at=120.0, run_id="r1"),
            _task("t-timeout", timeout_at=130.0, run_id="r1"),
            _task("t-done", state="succeeded", updated_at=10.0),
        ):
            store.insert_task(task)
        store.insert_run(_run("r1", "wf-1", deadline=140.0, search_attributes={"tag": ["a", "b"], "k": "v"}))
        store.insert_run(_run("r2", "wf-1", state="succeeded", updated_at=10.0))
        store.insert_run(_run("r3", "child", parent_run_id="r1"))
        store.append_history(HistoryRecord("r1", "wf-1", "WorkflowExecutionStarted", 100.0))
        store.append_history(HistoryRecord("r1", "wf-1", "TimerStarted", 101.0, attributes={"id": 1}))
        store.append_task_event(TaskEventRecord("t-leased", "leased", 100.0))
        store.append_task_event(TaskEventRecord("t-leased", "heartbeat", 101.0, details={"p": 1}))
        store.put_session(SessionRecord("tok-1", "access", "agent-1", "fam-1", 900.0))
        store.put_session(SessionRecord("tok-2", "refresh", "agent-1", "fam-1", 900.0))
        store.put_idempotent(IdempotentRecord("key-1", 50.0, 200, {"ok": True}))
        store.put_schedule(
            ScheduleRecord("s1", "default", "active", {"interval_seconds": 60}, {"workflowType": "Wf"}, 90.0, 1.0, 1.0)
        )

    assert [n.name for n in store.list_namespaces()] == ["team-a"]  # the engine, not the store, makes "default"
    assert store.get_namespace("team-a") is not None and store.get_namespace("nope") is None
    assert store.queued_by_type("default", "q") == {"activity:work": 3, "workflow:Wf": 1, "timer": 1}
    assert store.queued_by_type("default", "empty") == {}
    assert store.backlog() == {("default", "q"): 5}

    with store.transaction():
        store.note_poller(PollerRecord("default", "q", "agent-1", ["workflow:Wf"], 100.0))
        store.note_poller(PollerRecord("default", "q", "agent-1", ["activity:", "workflow:Wf"], 101.0))  # replaces
        store.note_poller(PollerRecord("default", "r", "agent-2", [], 102.0))
        store.note_poller(PollerRecord("team-a", "q", "agent-3", [], 103.0))
    assert store.queue_pollers("default") == [
        PollerRecord("default", "q", "agent-1", ["activity:", "workflow:Wf"], 101.0),
        PollerRecord("default", "r", "agent-2", [], 102.0),
    ]
    assert [p.agent_id for p in store.queue_pollers("default", "r")] == ["agent-2"]
    with store.transaction():  # a week later, pollers not seen since are forgotten
        store.note_poller(PollerRecord("default", "q", "agent-1", [], 200.0 + 7 * 24 * 3600))
    assert [p.agent_id for p in store.queue_pollers("default")] == ["agent-1"] and store.queue_pollers("team-a") == []

    leased = store.get_task("t-leased")
    assert leased is not None and leased.leased_until == 150.0 and store.get_task("nope") is None
    leased.state, leased.leased_until = "queued", None
    with store.transaction():
        store.update_task(leased)
    assert store.get_task("t-leased").state == "queued"  # type: ignore[union-attr]
    with store.transaction():
        leased.state, leased.leased_until = "leased", 150.0
        store.update_task(leased)

    assert store.next_available_task("default", "q", [], 200.0).id == "t-queued"  # type: ignore[union-attr]
    assert store.next_available_task("default", "q", ["workflow:"], 200.0).id == "t-wf"  # type: ignore[union-attr]
    assert store.next_available_task("default", "q", ["nothing:"], 200.0) is None
    assert store.next_available_task("default", "other", [], 200.0) is None
    assert _ids(store.list_tasks({"queue": "q", "state": "queued", "text": "t-w"}, Page(order_by="seq"))) == ["t-wf"]
    assert _ids(store.open_tasks_of_run("r1")) == ["t-leased", "t-timer", "t-timeout"]
    assert _ids(store.due_timers(125.0)) == ["t-timer"] and store.due_timers(110.0) == []
    assert _ids(store.expired_leases(160.0)) == ["t-leased"] and store.expired_leases(140.0) == []
    assert _ids(store.due_activity_timeouts(135.0)) == ["t-timeout"]
    assert _ids(store.released_tasks(400.0, 600.0)) == ["t-later"]
    assert store.next_deadline(0.0) == 90.0  # the schedule's next run comes first
    assert store.has_runnable_work(200.0) is True
    assert store.count_tasks_by_state() == {"queued": 5, "leased": 1, "succeeded": 1}

    run = store.get_run("r1")
    assert run is not None and run.search_attributes == {"tag": ["a", "b"], "k": "v"}
    run.memo = {"note": "x"}
    with store.transaction():
        store.update_run(run)
    assert store.get_run("r1").memo == {"note": "x"}  # type: ignore[union-attr]
    assert store.latest_run("wf-1").run_id == "r2"  # type: ignore[union-attr]
    assert store.find_run("wf-1").run_id == "r2" and store.find_run("r1").run_id == "r1"  # type: ignore[union-attr]
    assert store.find_run("no-such-run") is None
    assert store.latest_run("wf-1", "default").run_id == "r2" and store.latest_run("wf-1", "team-a") is None  # type: ignore[union-attr]
    assert _ids(store.running_children("r1")) == ["child"]
    assert [r.run_id for r in store.timed_out_runs(150.0)] == ["r1"]
    for search in ({"tag": "b"}, {"k": "v"}, {"tag": ["a", "b"]}):
        assert [r.run_id for r in store.list_runs({"search": search}, Page())] == ["r1"], search
    assert store.list_runs({"search": {"tag": "c"}}, Page()) == []
    assert [r.run_id for r in store.list_runs({"text": "WF-"}, Page(order_by="seq", descending=True))] == ["r2", "r1"]
    assert store.count_runs({"state": "running"}) == 2 and store.count_runs({}) == 3
    assert store.count_runs_by_state() == {"running": 2, "succeeded": 1}

    assert [e.type for e in store.history("r1")] == ["WorkflowExecutionStarted", "TimerStarted"]
    first = store.history("r1", limit=1)
    assert [e.type for e in first] == ["WorkflowExecutionStarted"]
    assert [e.attributes for e in store.history("r1", after_seq=first[0].seq)] == [{"id": 1}]
    events = store.task_events("t-leased")
    assert [e.kind for e in events] == ["leased", "heartbeat"] and events[1].details == {"p": 1}
    assert [e.kind for e in store.task_events("t-leased", after_seq=events[0].seq)] == ["heartbeat"]

    with store.transaction():
        store.bind_session_family("fam-1", "team-a")
        store.put_session(SessionRecord("tok-1", "access", "agent-1", "fam-1", 950.0, namespace="team-a"))
    assert store.get_session("tok-1").expires_at == 950.0 and store.get_session("tok-2").namespace == "team-a"  # type: ignore[union-attr]
    with store.transaction():
        store.delete_session("tok-1")
        assert store.delete_session_family("fam-1") == 1
    assert store.get_session("tok-2") is None

    assert store.get_idempotent("key-1").body == {"ok": True}  # type: ignore[union-attr]
    with store.transaction():
        store.put_idempotent(IdempotentRecord("key-1", 60.0, 201, {"ok": False}))
    assert store.get_idempotent("key-1").status == 201  # type: ignore[union-attr]
    with store.transaction():  # adding keeps the first answer of a key
        assert store.add_idempotent(IdempotentRecord("key-2", 70.0, 202, {"first": True})) is True
        assert store.add_idempotent(IdempotentRecord("key-2", 71.0, 500, {"first": False})) is False
    assert store.get_idempotent("key-2").body == {"first": True}  # type: ignore[union-attr]
    with store.transaction():
        assert store.purge_idempotent(100.0) == 2

    assert store.get_schedule("s1").spec == {"interval_seconds": 60}  # type: ignore[union-attr]
    assert [s.id for s in store.list_schedules({"state": "active"}, Page(order_by="next_run_at"))] == ["s1"]
    assert [s.id for s in store.due_schedules(95.0)] == ["s1"] and store.due_schedules(50.0) == []

    with store.transaction():
        assert store.compact(50.0) == (1, 1)  # the finished free task; the finished run r2 (and its history)
    assert store.get_run("r2") is None and store.get_task("t-done") is None and store.get_run("r1") is not None


def test_counts_follow_every_change_of_the_runs(db: str) -> None:
    """Counts by namespace, queue, type and state are kept by the database (a trigger), and agree
    with a scan of the runs after inserts, state changes, moves and deletions."""
    opened = open_store(db)
    assert isinstance(opened, SQLStore)
    filters = [
        {},
        {"namespace": "default"},
        {"namespace": "other"},
        {"state": "running"},
        {"state": "succeeded"},
        {"state__not": "running"},
        {"namespace": "default", "type": "Wf", "state": "failed"},
        {"queue": "q2"},
        {"type": "Other"},
    ]

    def agrees() -> None:
        runs = opened.list_runs({}, Page(limit=1000))
        for where in filters:
            scanned = [
                r
                for r in runs
                if all((r.state != value) if key == "state__not" else (getattr(r, key) == value) for key, value in where.items())
            ]
            assert opened.count_runs(where) == len(scanned), where
        by_state: dict = {}
        for r in runs:
            by_state[r.state] = by_state.get(r.state, 0) + 1
        assert opened.count_runs_by_state() == by_state

    try:
        with opened.transaction():
            for i in range(30):
                opened.insert_run(
                    _run(
                        f"c{i}",
                        f"w{i}",
                        namespace="other" if i % 5 == 0 else "default",
                        queue="q2" if i % 3 == 0 else "q",
                        type="Other" if i % 7 == 0 else "Wf",
                    )
                )
        agrees()
        with opened.transaction():
            for i in range(0, 30, 2):
                run = opened.get_run(f"c{i}")
                assert run is not None
                run.state, run.updated_at = ("succeeded" if i % 4 else "failed"), 10.0
                opened.update_run(run)
            moved = opened.get_run("c3")
            assert moved is not None
            moved.queue, moved.agent_id = "q2", "agent-1"  # a move between counts, and a change no count sees
            opened.update_run(moved)
        agrees()
        with opened.transaction():
            opened.compact(50.0)  # deletes the finished runs
        agrees()
        assert opened.count_runs({"state": "running"}) == 15
    finally:
        opened.close()


def test_only_transactions_that_change_a_row_count_as_commits(db: str) -> None:
    opened = open_store(db)
    try:
        before = opened.commits
        with opened.transaction():
            opened.get_run("nothing-here")  # a transaction that only reads (a poll that lost its task)
        assert opened.commits == before
        with opened.transaction():
            opened.insert_run(_run("counted", "w-counted"))
        assert opened.commits == before + 1
    finally:
        opened.close()


def test_the_test_above_calls_every_query_of_the_sql_store() -> None:
    CALLED.clear()
    opened = open_store(":memory:")
    assert isinstance(opened, SQLStore)
    try:  # the test above, on SQLite, here: whichever worker ran it, this one records what it calls
        test_every_query_answers_the_same_on_each_database(Recording(opened))
    finally:
        opened.close()
    queries = {name for name, member in vars(SQLStore).items() if inspect.isfunction(member) and not name.startswith("_")}
    assert queries - CALLED == set()
