"""Both stores: versioned migrations, the schema against the records, and PostgreSQL's
replicas (wake-ups across them, time-driven work done once, a client moving between them)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import attrs
import pytest
import requests

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer, ManualClock, open_store
from postgrip_agent.server.store.migrations import RECORD_TABLES
from postgrip_agent.server.store import Page, PostgresStore, RunRecord, SQLiteStore, TaskRecord

from .conftest import Wire, postgres_db, wait_for


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    """One PostgreSQL schema for several replicas of the service."""
    yield from postgres_db()


def _columns(store: Any, table: str) -> Set[str]:
    if isinstance(store, PostgresStore):
        with store._conn() as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (store.schema, table),
            ).fetchall()
        return {row[0] for row in rows}
    return {row[1] for row in store._db.execute(f"PRAGMA table_info({table})").fetchall()}


def _indexes(store: Any) -> Set[str]:
    if isinstance(store, PostgresStore):
        with store._conn() as conn:
            rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (store.schema,)).fetchall()
        return {row[0] for row in rows}
    return {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()}


def _versions(store: Any) -> List[int]:
    if isinstance(store, PostgresStore):
        with store._conn() as conn:
            return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    return [row[0] for row in store._db.execute("SELECT version FROM schema_migrations ORDER BY version")]


def _sqlite_or_postgres(db: str, tmp_path: Path) -> str:
    return str(tmp_path / "service.db") if db == ":memory:" else db


def test_migrations_are_recorded_once_and_the_schema_matches_the_records(db: str, tmp_path: Path) -> None:
    target = _sqlite_or_postgres(db, tmp_path)
    store = open_store(target)
    try:
        assert _versions(store) == [1, 2, 3, 4, 5, 6] and store.schema_version == 6  # type: ignore[attr-defined]
        for table, (record, _) in RECORD_TABLES.items():
            assert _columns(store, table) == {field.name for field in attrs.fields(record)}, table
        assert {
            "runs_ns_created",
            "runs_ns_updated",
            "runs_ns_state_created",
            "runs_ns_type_created",
            "tasks_ns_created",
            "run_counts_key",
        } <= _indexes(store)
    finally:
        store.close()
    again = open_store(target)  # opening again applies nothing twice
    try:
        assert _versions(again) == [1, 2, 3, 4, 5, 6]
    finally:
        again.close()


def test_a_schema_newer_than_the_code_is_refused_with_a_clear_error(db: str, tmp_path: Path) -> None:
    target = _sqlite_or_postgres(db, tmp_path)
    store = open_store(target)
    if isinstance(store, PostgresStore):
        with store._conn() as conn:
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
    else:
        store._db.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")  # type: ignore[attr-defined]
    store.close()
    with pytest.raises(RuntimeError, match="schema is at version 99, newer than this version of the service knows"):
        open_store(target)


#: the tasks table of a file written before versioned migrations (columns added since are missing)
OLD_TASKS = """
        CREATE TABLE tasks (id TEXT PRIMARY KEY, namespace, queue, type, state, attempt, lease_timeout_seconds,
                            created_at, updated_at, payload TEXT, tenant_id, agent_id, not_before, leased_until,
                            result TEXT, error, run_id, wake_pending, fire_at, seq);
        INSERT INTO tasks (id, namespace, queue, type, state, attempt, lease_timeout_seconds, created_at, updated_at,
                           payload, wake_pending, seq)
            VALUES ('t-1', 'default', 'q', 'job', 'queued', 1, 30, 1.0, 1.0, '{"n": 1}', 0, 1);
"""


def _old_file(path: Path, script: str) -> None:
    old = sqlite3.connect(path)
    old.executescript(script)
    old.commit()
    old.close()


def test_a_sqlite_file_from_before_versioned_migrations_is_migrated(tmp_path: Path) -> None:
    """A file as the service wrote it before migrations existed: schedules without the columns
    added since (last_run_id, next_nominal_at, note), tasks without history_cursor."""
    path = tmp_path / "old.db"
    _old_file(
        path,
        """
        CREATE TABLE namespaces (name TEXT PRIMARY KEY, created_at, updated_at, tenant_id);
        INSERT INTO namespaces VALUES ('default', 1.0, 1.0, NULL), ('billing', 1.0, 1.0, NULL);
        CREATE TABLE schedules (id TEXT PRIMARY KEY, namespace, state, spec TEXT, action TEXT, next_run_at,
                                created_at, updated_at, overlap_policy, tenant_id, last_run_at);
        INSERT INTO schedules VALUES ('nightly', 'default', 'paused', '{"interval_seconds": 3600}',
            '{"workflowType": "Nightly", "namespace": "default", "queue": "q", "args": []}', 4102444800.0, 1.0, 1.0, 'skip', NULL, NULL);
    """
        + OLD_TASKS,
    )
    with LocalServer(db=str(path), port=0) as server:
        wire = Wire(server.address)
        assert {n["name"] for n in wire.get("/api/v1/namespaces")} >= {"default", "billing"}
        schedule = wire.get("/api/v1/schedules/nightly")
        assert schedule["state"] == "paused" and schedule["action"]["workflowType"] == "Nightly"
        task = wire.poll(queue="q")
        assert task is not None and task["id"] == "t-1" and task["payload"] == {"n": 1}
        assert _versions(server.store) == [1, 2, 3, 4, 5, 6]
        assert {"last_run_id", "next_nominal_at", "note"} <= _columns(server.store, "schedules")


def test_an_old_files_column_order_stays_with_that_file(tmp_path: Path) -> None:
    """A file written before some columns existed reads its rows by column name; a store of
    today's layout in the same process reads its own by position (the plan was once shared per
    statement across the process, and the new store's rows came back with columns swapped)."""
    path = tmp_path / "old.db"
    _old_file(path, OLD_TASKS)
    older, fresh = SQLiteStore(str(path)), SQLiteStore(":memory:")
    try:
        assert [(t.id, t.payload, t.seq) for t in older.list_tasks({"queue": "q"}, Page())] == [("t-1", {"n": 1}, 1)]
        written = TaskRecord(
            id="t-2",
            namespace="default",
            queue="q",
            type="job",
            state="queued",
            attempt=1,
            lease_timeout_seconds=30,
            created_at=2.0,
            updated_at=2.0,
            payload={"m": 2},
        )
        with fresh.transaction():
            fresh.insert_task(written)
        assert fresh.list_tasks({"queue": "q"}, Page()) == [written]
    finally:
        older.close()
        fresh.close()


# Replica A runs on a ManualClock, so nothing time-driven on A (a lapsed lease, a retry coming
# due) can hand its waiting poll a task: only B's notification can wake it.


def test_a_long_poll_on_one_replica_wakes_when_another_enqueues(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres, clock=ManualClock()) as a, LocalServer(db=shared_postgres) as b:
        got: Dict[str, Any] = {}

        def poll() -> None:
            started = time.monotonic()
            got["task"] = Wire(a.address).poll(queue="wake", wait=20)
            got["waited"] = time.monotonic() - started

        poller = threading.Thread(target=poll)
        poller.start()
        wait_for(lambda: a.engine.state.pollers.get(("default", "wake")))  # the poll waits on replica A
        enqueued = Wire(b.address).enqueue("job", {"n": 1}, queue="wake")
        poller.join(timeout=30)
        assert got["task"] is not None and got["task"]["id"] == enqueued["id"]
        assert got["waited"] < 20, "the poll ran to its timeout: replica B's enqueue did not wake replica A"


def test_a_result_wait_on_one_replica_wakes_when_the_run_ends_through_another(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres, clock=ManualClock()) as a, LocalServer(db=shared_postgres) as b:
        wire_a, wire_b = Wire(a.address), Wire(b.address)
        wire_b.start("Waits", "wait-1", queue="r")
        got: Dict[str, Any] = {}

        def wait() -> None:
            started = time.monotonic()
            got["run"] = wire_a.get("/api/v1/workflows/wait-1", params={"wait_seconds": 20})
            got["waited"] = time.monotonic() - started

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_for(lambda: a.engine.state.run_waiters.waiting)
        task = wire_b.poll(queue="r")
        assert task is not None
        wire_b.complete(task, "done")
        waiter.join(timeout=30)
        assert got["run"]["state"] == "succeeded" and got["waited"] < 20


@activity.defn
def noted(step: str) -> str:
    return step


@workflow.defn
class Naps:
    @workflow.run
    def run(self, count: int):
        for _ in range(count):
            yield workflow.sleep(0.02)
        return count


def test_timers_fire_once_however_many_replicas_see_them_due(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres) as a, LocalServer(db=shared_postgres) as b, LocalServer(db=shared_postgres) as c:
        client = Client.connect([a.address, b.address, c.address])
        with Agent(Client.connect(b.address), task_queue="naps", workflows=[Naps]):
            handles = [client.start_workflow(Naps, 5, id=f"naps-{i}", task_queue="naps") for i in range(10)]
            assert [h.result(timeout=60) for h in handles] == [5] * 10
        for handle in handles:
            kinds = Counter(event.type for event in handle.fetch_history().events)
            assert kinds["TimerStarted"] == 5 and kinds["TimerFired"] == 5, (handle.id, kinds)


def test_a_client_moves_to_the_next_replica_when_one_stops(shared_postgres: str) -> None:
    a, b = LocalServer(db=shared_postgres).start(), LocalServer(db=shared_postgres).start()
    try:
        client = Client.connect([a.address, b.address])
        with Agent(Client.connect([b.address, a.address]), task_queue="move", activities=[noted], workflows=[Steps]):
            assert client.execute_workflow(Steps, 2, id="move-1", task_queue="move") == ["s0", "s1"]
            assert client.connection.address == a.address
            a.stop()
            assert client.execute_workflow(Steps, 2, id="move-2", task_queue="move") == ["s0", "s1"]
            assert client.connection.address == b.address
    finally:
        a.stop()
        b.stop()


@workflow.defn
class Steps:
    @workflow.run
    def run(self, count: int):
        done = []
        for step in range(count):
            done.append((yield workflow.execute_activity(noted, f"s{step}", start_to_close_timeout=30)))
        return done


def test_the_command_says_in_one_line_when_postgres_cannot_be_reached() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "postgrip_agent.cli",
            "server",
            "--port",
            "0",
            "--db",
            "postgresql://postgres:secret@127.0.0.1:1/test",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:1/test" in lines[0]
    assert "secret" not in done.stderr


def test_the_service_runs_on_postgres_from_the_command_line(shared_postgres: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "postgrip_agent.cli", "server", "--port", "0", "--db", shared_postgres, "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://" in line, line
        address = line.split("listening on ")[1].split()[0]
        assert requests.get(address + "/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_libpq_parameters_in_the_url_reach_the_database_as_written(shared_postgres: str) -> None:
    url = shared_postgres.replace("?", "?options=-c%20synchronous_commit%3Doff&application_name=pg%20test&", 1)
    with LocalServer(db=url) as server:
        store = server.store
        assert isinstance(store, PostgresStore) and store.schema == shared_postgres.rsplit("schema=", 1)[1]
        with store._conn() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
            assert conn.execute("SHOW application_name").fetchone()[0] == "pg test"
        assert Wire(server.address).get("/healthz") == {"status": "ok"}


def test_pollers_on_two_replicas_never_lease_the_same_task(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres) as a, LocalServer(db=shared_postgres) as b:
        total = 300
        ids = {Wire(a.address).enqueue("shell.exec", {"i": i}, queue="shared")["id"] for i in range(total)}
        leased: List[str] = []
        lock = threading.Lock()

        def worker(address: str, n: int) -> None:
            mine = Wire(address)
            while (task := mine.poll(queue="shared", agent=f"agent-{n}")) is not None:
                with lock:
                    leased.append(task["id"])

        threads = [threading.Thread(target=worker, args=(replica.address, n)) for n, replica in enumerate([a, b] * 4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        counts = Counter(leased)
        assert set(counts) == ids
        assert [task for task, count in counts.items() if count > 1] == []


def test_runs_stored_before_counts_were_kept_are_counted_after_the_upgrade(db: str, tmp_path: Path) -> None:
    """Migration 5 counts the runs already stored (a store upgraded from version 4)."""
    target = _sqlite_or_postgres(db, tmp_path)
    store = open_store(target)
    try:
        with store.transaction():
            for i in range(12):
                store.insert_run(
                    RunRecord(
                        run_id=f"old-{i}",
                        id=f"w-{i}",
                        namespace="default",
                        type="Wf",
                        queue="q",
                        task_id=f"t-{i}",
                        state="running" if i % 3 else "succeeded",
                        created_at=1.0,
                        updated_at=1.0,
                    )
                )
        undo = ["DELETE FROM schema_migrations WHERE version = 5", "DROP TABLE run_counts"]
        if isinstance(store, PostgresStore):
            with store._conn() as conn:  # back to version 4, as a store of the previous release
                for statement in ["DROP TRIGGER run_counts_follow ON runs"] + undo:
                    conn.execute(statement)
        else:
            for statement in [
                "DROP TRIGGER run_counts_insert",
                "DROP TRIGGER run_counts_update",
                "DROP TRIGGER run_counts_delete",
            ] + undo:
                store._db.execute(statement)
            store._db.commit()
    finally:
        store.close()
    upgraded = open_store(target)
    try:
        assert _versions(upgraded) == [1, 2, 3, 4, 5, 6]
        assert upgraded.count_runs({}) == 12
        assert upgraded.count_runs({"state": "running"}) == 8 and upgraded.count_runs_by_state() == {"running": 8, "succeeded": 4}
    finally:
        upgraded.close()
