"""The one SQL store: every query the service runs, written once.

``SQLStore`` implements the ``Store`` interface with plain SQL (``?`` placeholders)
over a handful of primitives that each database provides (``sqlite``, ``postgres``):
running a statement, reading records, inserting and updating by key, and its transactions.
What one database spells differently goes through its ``Dialect``.
"""

from __future__ import annotations

import abc
import json
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Type, TypeVar

from .base import (
    HistoryRecord,
    IdempotentRecord,
    NamespaceRecord,
    Page,
    PollerRecord,
    RunRecord,
    ScheduleRecord,
    SessionRecord,
    Store,
    TaskEventRecord,
    TaskRecord,
    contains_pattern,
)
from .dialect import Dialect
from .migrations import RECORD_TABLES

R = TypeVar("R")

#: how many keys one ``IN (...)`` of a bulk delete names at most
_CHUNK = 500
_TASK_ORDER = {"created_at", "updated_at", "seq"}
_RUN_ORDER = {"created_at", "updated_at", "seq", "id", "type"}
_SCHEDULE_ORDER = {"created_at", "updated_at", "next_run_at", "id"}
#: how the statements that change rows begin (a transaction that sent none is not counted as a commit)
WRITES = ("INSERT", "UPDATE", "DELETE")
#: pollers not seen for this long are forgotten
POLLERS_KEPT_SECONDS = 7 * 24 * 3600
#: the filters a count of runs answers from ``run_counts`` (any other scans the runs)
_COUNTED = {"namespace", "queue", "type", "state", "state__not"}


class SQLStore(Store):
    """The records of the service in SQL tables; a subclass connects to one database."""

    dialect: Dialect

    # ------------------------------------------------------------------ what each database provides

    @abc.abstractmethod
    def _all(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> List[R]:
        """The records a ``SELECT * FROM ...`` finds."""

    @abc.abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        """The rows a SELECT finds, as tuples."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""

    @abc.abstractmethod
    def _insert(self, table: str, record: Any, upsert: bool = False) -> None:
        """Insert ``record`` (replacing the row with its key when ``upsert``); sets its ``seq`` where the table numbers rows."""

    @abc.abstractmethod
    def _update(self, table: str, record: Any) -> None:
        """Write every column of ``record`` to the row with its key."""

    def _locking(self) -> str:
        """What a SELECT of rows the transaction may change ends with: a store of concurrent
        writers locks them (`` FOR UPDATE``) inside a transaction; a single writer needs nothing."""
        return ""

    def _by_key(self, table: str, key: Any) -> Optional[Any]:
        """The record of ``table`` with this primary key."""
        cls, column = RECORD_TABLES[table]
        return self._one(cls, f"SELECT * FROM {table} WHERE {column} = ?", (key,))

    def _bulk_deleted(self) -> None:
        """Rows were deleted in bulk (a store that keeps rows in memory forgets them)."""

    def _one(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> Optional[R]:
        found = self._all(cls, sql, params)
        return found[0] if found else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------ namespaces

    def get_namespace(self, name: str) -> Optional[NamespaceRecord]:
        return self._one(NamespaceRecord, "SELECT * FROM namespaces WHERE name = ?", (name,))

    def insert_namespace(self, record: NamespaceRecord) -> None:
        self._insert("namespaces", record)

    def list_namespaces(self) -> List[NamespaceRecord]:
        return self._all(NamespaceRecord, "SELECT * FROM namespaces ORDER BY name")

    # ------------------------------------------------------------------ tasks

    def insert_task(self, record: TaskRecord) -> None:
        self._insert("tasks", record)

    def update_task(self, record: TaskRecord) -> None:
        self._update("tasks", record)

    def get_task(self, task_id: str) -> Optional[TaskRecord]:
        return self._by_key("tasks", task_id)

    def next_available_task(self, namespace: str, queue: str, type_prefixes: Sequence[str], now: float) -> Optional[TaskRecord]:
        sql = (
            "SELECT * FROM tasks WHERE namespace = ? AND queue = ? AND state = 'queued' "
            "AND type != 'timer' AND (not_before IS NULL OR not_before <= ?)"
        )
        params: List[Any] = [namespace, queue, now]
        if type_prefixes:
            clause, more = self.dialect.prefix_match("type", type_prefixes)
            sql += " AND " + clause
            params += more
        return self._one(TaskRecord, sql + " ORDER BY seq LIMIT 1" + self.dialect.skip_locked, params)

    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        where, params = self._where(filters)
        return self._all(TaskRecord, "SELECT * FROM tasks" + _page(where, params, page, _TASK_ORDER), params)

    def open_tasks_of_run(self, run_id: str) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE run_id = ? AND state IN ('queued', 'leased', 'blocked') ORDER BY seq" + self._locking(),
            (run_id,),
        )

    def due_timers(self, now: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL AND fire_at <= ? ORDER BY fire_at, seq",
            (now,),
        )

    def expired_leases(self, now: float) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE state = 'leased' AND leased_until <= ? ORDER BY seq", (now,))

    def due_activity_timeouts(self, now: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE timeout_at IS NOT NULL AND timeout_at <= ? "
            "AND state IN ('queued', 'leased') ORDER BY timeout_at, seq",
            (now,),
        )

    def released_tasks(self, after: float, upto: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE state = 'queued' AND not_before > ? AND not_before <= ? ORDER BY seq",
            (after, upto),
        )

    def next_deadline(self, now: float) -> Optional[float]:
        found = self._scalar(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(fire_at) AS t FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL"
            " UNION ALL SELECT MIN(leased_until) FROM tasks WHERE state = 'leased'"
            " UNION ALL SELECT MIN(not_before) FROM tasks WHERE state = 'queued' AND not_before > ?"
            " UNION ALL SELECT MIN(deadline) FROM runs WHERE state = 'running' AND deadline IS NOT NULL"
            " UNION ALL SELECT MIN(next_run_at) FROM schedules WHERE state = 'active'"
            " UNION ALL SELECT MIN(timeout_at) FROM tasks WHERE timeout_at IS NOT NULL AND state IN ('queued', 'leased')"
            ") AS deadlines",
            (now,),
        )
        return None if found is None else float(found)

    def has_runnable_work(self, now: float) -> bool:
        return (
            self._scalar(
                "SELECT 1 FROM tasks WHERE state = 'leased' OR (state = 'queued' AND fire_at IS NULL "
                "AND (not_before IS NULL OR not_before <= ?)) LIMIT 1",
                (now,),
            )
            is not None
        )

    def count_tasks_by_state(self) -> Dict[str, int]:
        return {state: int(count) for state, count in self._rows("SELECT state, COUNT(*) FROM tasks GROUP BY state")}

    # ------------------------------------------------------------------ runs

    def insert_run(self, record: RunRecord) -> None:
        self._insert("runs", record)

    def update_run(self, record: RunRecord) -> None:
        self._update("runs", record)

    def get_run(self, run_id: str) -> Optional[RunRecord]:
        return self._by_key("runs", run_id)

    def latest_run(self, workflow_id: str, namespace: Optional[str] = None) -> Optional[RunRecord]:
        if namespace is None:
            return self._one(
                RunRecord, "SELECT * FROM runs WHERE id = ? ORDER BY seq DESC LIMIT 1" + self._locking(), (workflow_id,)
            )
        return self._one(
            RunRecord,
            "SELECT * FROM runs WHERE id = ? AND namespace = ? ORDER BY seq DESC LIMIT 1" + self._locking(),
            (workflow_id, namespace),
        )

    def find_run(self, run_or_workflow_id: str) -> Optional[RunRecord]:
        return self._one(
            RunRecord,
            "SELECT * FROM runs WHERE run_id = ? OR id = ? "
            "ORDER BY CASE WHEN run_id = ? THEN 0 ELSE 1 END, seq DESC LIMIT 1" + self._locking(),
            (run_or_workflow_id,) * 3,
        )

    def running_children(self, run_id: str) -> List[RunRecord]:
        return self._all(
            RunRecord,
            "SELECT * FROM runs WHERE parent_run_id = ? AND state = 'running' ORDER BY seq" + self._locking(),
            (run_id,),
        )

    def timed_out_runs(self, now: float) -> List[RunRecord]:
        return self._all(
            RunRecord,
            "SELECT * FROM runs WHERE state = 'running' AND deadline IS NOT NULL AND deadline <= ? ORDER BY seq",
            (now,),
        )

    def list_runs(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        where, params = self._where(filters)
        return self._all(RunRecord, "SELECT * FROM runs" + _page(where, params, page, _RUN_ORDER), params)

    def count_runs(self, filters: Dict[str, Any]) -> int:
        used = {key: value for key, value in filters.items() if value is not None}
        where, params = self._where(used)
        if set(used) <= _COUNTED:  # summed from the counts a trigger keeps (migration 5)
            return int(self._scalar(f"SELECT COALESCE(SUM(n), 0) FROM run_counts{where}", params))
        return int(self._scalar(f"SELECT COUNT(*) FROM runs{where}", params))

    def backlog(self) -> Dict[Tuple[str, str], int]:
        rows = self._rows("SELECT namespace, queue, COUNT(*) FROM tasks WHERE state = 'queued' GROUP BY namespace, queue")
        return {(str(namespace), str(queue)): int(count) for namespace, queue, count in rows}

    def queued_by_type(self, namespace: str, queue: str) -> Dict[str, int]:
        rows = self._rows(
            "SELECT type, COUNT(*) FROM tasks WHERE namespace = ? AND queue = ? AND state = 'queued' GROUP BY type",
            (namespace, queue),
        )
        return {str(kind): int(count) for kind, count in rows}

    def note_poller(self, record: PollerRecord) -> None:
        self._execute(
            "INSERT INTO queue_pollers (namespace, queue, agent_id, types, last_seen) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, queue, agent_id) DO UPDATE SET types = excluded.types, "
            "last_seen = excluded.last_seen",
            (record.namespace, record.queue, record.agent_id, json.dumps(record.types), record.last_seen),
        )
        self._execute("DELETE FROM queue_pollers WHERE last_seen < ?", (record.last_seen - POLLERS_KEPT_SECONDS,))

    def queue_pollers(self, namespace: str, queue: Optional[str] = None) -> List[PollerRecord]:
        where, params = "namespace = ?", [namespace]
        if queue is not None:
            where, params = where + " AND queue = ?", params + [queue]
        rows = self._rows(
            f"SELECT namespace, queue, agent_id, types, last_seen FROM queue_pollers WHERE {where} ORDER BY queue, agent_id",
            params,
        )
        return [
            PollerRecord(str(r[0]), str(r[1]), str(r[2]), list(json.loads(r[3]) if isinstance(r[3], str) else r[3]), float(r[4]))
            for r in rows
        ]

    def count_runs_by_state(self) -> Dict[str, int]:
        rows = self._rows("SELECT state, SUM(n) FROM run_counts GROUP BY state")
        return {state: int(count) for state, count in rows if int(count)}

    # ------------------------------------------------------------------ history and events

    def append_history(self, record: HistoryRecord) -> None:
        self._insert("history", record)

    def history(self, run_id: str, after_seq: int = 0, limit: Optional[int] = None) -> List[HistoryRecord]:
        sql = "SELECT * FROM history WHERE run_id = ? AND seq > ? ORDER BY seq"
        if limit is None:
            return self._all(HistoryRecord, sql, (run_id, after_seq))
        return self._all(HistoryRecord, sql + " LIMIT ?", (run_id, after_seq, limit))

    def append_task_event(self, record: TaskEventRecord) -> None:
        self._insert("task_events", record)

    def task_events(self, task_id: str, after_seq: int = 0) -> List[TaskEventRecord]:
        return self._all(
            TaskEventRecord, "SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq", (task_id, after_seq)
        )

    # ------------------------------------------------------------------ sessions

    def put_session(self, record: SessionRecord) -> None:
        self._insert("sessions", record, upsert=True)

    def get_session(self, token: str) -> Optional[SessionRecord]:
        return self._one(SessionRecord, "SELECT * FROM sessions WHERE token = ?" + self._locking(), (token,))

    def delete_session(self, token: str) -> None:
        self._execute("DELETE FROM sessions WHERE token = ?", (token,))

    def delete_session_family(self, family_id: str) -> int:
        return self._execute("DELETE FROM sessions WHERE family_id = ?", (family_id,))

    def bind_session_family(self, family_id: str, namespace: str) -> None:
        self._execute("UPDATE sessions SET namespace = ? WHERE family_id = ? AND namespace IS NULL", (namespace, family_id))

    # ------------------------------------------------------------------ idempotency keys

    def get_idempotent(self, key: str) -> Optional[IdempotentRecord]:
        return self._one(IdempotentRecord, "SELECT * FROM idempotency WHERE key = ?", (key,))

    def put_idempotent(self, record: IdempotentRecord) -> None:
        self._insert("idempotency", record, upsert=True)

    def purge_idempotent(self, before: float) -> int:
        return self._execute("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # ------------------------------------------------------------------ schedules

    def put_schedule(self, record: ScheduleRecord) -> None:
        self._insert("schedules", record, upsert=True)

    def get_schedule(self, schedule_id: str) -> Optional[ScheduleRecord]:
        return self._one(ScheduleRecord, "SELECT * FROM schedules WHERE id = ?" + self._locking(), (schedule_id,))

    def list_schedules(self, filters: Dict[str, Any], page: Page) -> List[ScheduleRecord]:
        where, params = self._where(filters)
        return self._all(ScheduleRecord, "SELECT * FROM schedules" + _page(where, params, page, _SCHEDULE_ORDER, "id"), params)

    def due_schedules(self, now: float) -> List[ScheduleRecord]:
        return self._all(
            ScheduleRecord, "SELECT * FROM schedules WHERE state = 'active' AND next_run_at <= ? ORDER BY next_run_at, id", (now,)
        )

    # ------------------------------------------------------------------ maintenance

    def compact(self, cutoff: float) -> Tuple[int, int]:
        self._bulk_deleted()
        runs = [row[0] for row in self._rows("SELECT run_id FROM runs WHERE state != 'running' AND updated_at < ?", (cutoff,))]
        removed_tasks = 0
        for start in range(0, len(runs), _CHUNK):
            chunk = runs[start : start + _CHUNK]
            among = f"IN ({', '.join('?' for _ in chunk)})"
            self._execute(f"DELETE FROM history WHERE run_id {among}", chunk)
            self._execute(f"DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE run_id {among})", chunk)
            removed_tasks += self._execute(f"DELETE FROM tasks WHERE run_id {among}", chunk)
            self._execute(f"DELETE FROM runs WHERE run_id {among}", chunk)
        finished = "run_id IS NULL AND state IN ('succeeded', 'failed') AND updated_at < ?"
        self._execute(f"DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE {finished})", (cutoff,))
        removed_tasks += self._execute(f"DELETE FROM tasks WHERE {finished}", (cutoff,))
        return removed_tasks, len(runs)

    def _where(self, filters: Dict[str, Any]) -> Tuple[str, List[Any]]:
        clauses: List[str] = []
        params: List[Any] = []
        for key, value in filters.items():
            if value is None:
                continue
            if key == "search":
                # each value given must be the attribute's value, or one of its items when it is a list
                for attr, expected in value.items():
                    for one in expected if isinstance(expected, list) else [expected]:
                        clause, more = self.dialect.json_has("search_attributes", attr, one)
                        clauses.append(clause)
                        params += more
            elif key == "state__not":
                clauses.append("state != ?")
                params.append(value)
            elif key in ("created_after", "created_before"):  # [after, before): a time range of starts
                clauses.append("created_at >= ?" if key == "created_after" else "created_at < ?")
                params.append(value)
            elif key == "text":
                like = self.dialect.ilike
                clauses.append(f"(id {like} ? ESCAPE '\\' OR type {like} ? ESCAPE '\\')")
                params += [contains_pattern(value)] * 2
            else:
                clauses.append(f"{key} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _page(where: str, params: List[Any], page: Page, allowed: Set[str], tiebreak: str = "seq") -> str:
    """The WHERE (with the keyset position, adding its parameters), ORDER BY and LIMIT of one page."""
    column = order_column(page, allowed, tiebreak)
    direction, beyond = ("DESC", "<") if page.descending else ("ASC", ">")
    if page.after is not None:
        if column == tiebreak:
            position = f"{tiebreak} {beyond} ?"
            params.append(page.after[1])
        else:
            position = f"({column}, {tiebreak}) {beyond} (?, ?)"
            params += list(page.after)
        where = f"{where} AND {position}" if where else f" WHERE {position}"
    second = "" if column == tiebreak else f", {tiebreak} {direction}"
    return f"{where} ORDER BY {column} {direction}{second} LIMIT {int(page.limit)} OFFSET {int(page.offset)}"


def order_column(page: Page, allowed: Set[str], tiebreak: str = "seq") -> str:
    """The column a page is ordered by (the tiebreak when it names none the table allows)."""
    return page.order_by if page.order_by in allowed else ("seq" if "seq" in allowed else tiebreak)
