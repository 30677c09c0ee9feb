"""The SQLite store: one file (or ``:memory:``), WAL mode, one transaction per change."""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Type, TypeVar


from .migrations import RECORD_TABLES, SQLITE_MIGRATIONS, Migration, columns_of, table_of
from .sqlite_codec import Marks, build_by_name, codec
from .store import (
    HistoryRecord,
    IdempotentRecord,
    NamespaceRecord,
    Page,
    RunRecord,
    ScheduleRecord,
    SessionRecord,
    Store,
    TaskEventRecord,
    TaskRecord,
    contains_pattern,
)

R = TypeVar("R")
log = logging.getLogger("postgrip_agent.server.sqlite")

#: per table and verb, the SQL of inserts and updates; per SELECT statement, whether its columns
#: come in the record's own order (else their names, for a file written by an older version)
_INSERT_SQL: Dict[Tuple[str, bool], str] = {}
_UPDATE_SQL: Dict[str, str] = {}
_READ_PLANS: Dict[str, Optional[Tuple[str, ...]]] = {}

_TABLES = RECORD_TABLES

_AUTO_SEQ = {"history", "task_events"}
_SEQUENCED = {"tasks", "runs"}
#: tables whose rows are kept in memory by primary key, and how many of each at most
_CACHED = ("tasks", "runs")
_CACHE_ROWS = 4096
#: SQLite's words for a database that is unavailable for a while (busy, locked, I/O, full, out of memory)
_TRANSIENT_MESSAGES = ("locked", "busy", "disk i/o error", "disk is full", "unable to open database", "locking protocol",
                       "out of memory")


class SQLiteStore(Store):
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode keeps every committed transaction across a process crash.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._depth = 0
        self._lock = threading.RLock()
        self.schema_version = self._migrate(SQLITE_MIGRATIONS)
        self._seq = {t: self._max_seq(t) for t in _SEQUENCED}
        # Recently written or read rows of the hot tables, by primary key, as stored (JSON as
        # text): a read by key skips SQLite. Written through on every insert and update; dropped
        # on rollback, after bulk deletes, and whenever another connection changed the file.
        self._rows: Dict[str, Dict[Any, Tuple[Tuple[Any, ...], Marks]]] = {table: {} for table in _CACHED}
        self._data_version = self._current_data_version()
        self._by_key_sql = {table: "SELECT {} FROM {} WHERE {} = ?".format(
            ", ".join(codec(_TABLES[table][0]).names), table, _TABLES[table][1]) for table in _CACHED}

    def transient(self, error: BaseException) -> bool:
        if not isinstance(error, sqlite3.OperationalError):
            return False  # IntegrityError, ProgrammingError...: the request or the code is wrong
        text = str(error).lower()
        return any(words in text for words in _TRANSIENT_MESSAGES)

    def _current_data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _drop_rows_if_stale(self) -> None:
        """Forget cached rows when another connection (another process) committed to the file."""
        version = self._current_data_version()
        if version != self._data_version:
            self._data_version = version
            self._forget_rows()

    def _forget_rows(self) -> None:
        for rows in self._rows.values():
            rows.clear()

    def _remember(self, table: str, key: Any, row: Tuple[Any, ...], marks: Marks) -> None:
        rows = self._rows.get(table)
        if rows is not None:
            if len(rows) >= _CACHE_ROWS and key not in rows:
                rows.clear()
            rows[key] = (row, marks)

    def _by_key(self, table: str, key: Any) -> Optional[Any]:
        """The record with this primary key, from memory when it was recently written or read."""
        cls = _TABLES[table][0]
        with self._lock:
            if not self._depth:
                self._drop_rows_if_stale()
            own = codec(cls)
            cached = self._rows[table].get(key)
            if cached is not None:
                return own.build(cached[0])
            found = self._db.execute(self._by_key_sql[table], (key,)).fetchone()
            if found is None:
                return None
            row = tuple(found)
            self._remember(table, key, row, own.unknown)
            return own.build(row)

    def _migrate(self, migrations: Sequence[Migration]) -> int:
        """Apply the migrations the file lacks, in one transaction; return the schema's version."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at)")
            done = {int(row[0]) for row in db.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in migrations:
                if migration.version in done:
                    continue
                log.info("applying SQLite schema migration %d: %s", migration.version, migration.name)
                for statement in migration.statements:
                    db.execute(statement)
                    if statement.startswith("CREATE TABLE"):
                        self._add_missing_columns(statement)
                db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))",
                           (migration.version, migration.name))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        newest = max((m.version for m in migrations), default=0)
        if done and max(done) > newest:
            raise RuntimeError(f"the database's schema is at version {max(done)}, newer than this version of the "
                               f"service knows ({newest}): upgrade postgrip-agent-sync")
        return newest

    def _add_missing_columns(self, statement: str) -> None:
        """A table that existed before (a file written by an older version) gets the columns it lacks."""
        table = table_of(statement)
        present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})").fetchall()}
        for name, declaration in columns_of(statement):
            if name not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}".rstrip())

    def _max_seq(self, table: str) -> int:
        row = self._db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                self._drop_rows_if_stale()
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                self._seq = {t: self._max_seq(t) for t in _SEQUENCED}
                self._forget_rows()
                raise
            else:
                self._db.execute("COMMIT")
                self.commits += 1
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _records(cls: Type[R], sql: str, cursor: sqlite3.Cursor, rows: Sequence[Sequence[Any]]) -> List[R]:
        own = codec(cls)
        if sql not in _READ_PLANS:
            described = tuple(column[0] for column in cursor.description)
            _READ_PLANS[sql] = None if described == own.names else described
        columns = _READ_PLANS[sql]
        if columns is None:
            return [own.build(row) for row in rows]
        return [build_by_name(cls, columns, row) for row in rows]

    def _insert(self, table: str, record: Any, replace: bool = False) -> None:
        own = codec(type(record))
        if table in _SEQUENCED:
            self._seq[table] += 1
            record.seq = self._seq[table]
        cached = table in self._rows
        row, marks = own.row(record, None, None) if cached else (own.values(record), own.unknown)
        names = own.names
        if table in _AUTO_SEQ:  # SQLite numbers these rows itself
            at = names.index("seq")
            row, names = row[:at] + row[at + 1:], names[:at] + names[at + 1:]
        sql = _INSERT_SQL.get((table, replace))
        if sql is None:
            verb = "INSERT OR REPLACE" if replace else "INSERT"
            sql = _INSERT_SQL[(table, replace)] = (f"{verb} INTO {table} ({', '.join(names)}) "
                                                   f"VALUES ({', '.join('?' for _ in names)})")
        cursor = self._db.execute(sql, row)
        if table in _AUTO_SEQ:
            record.seq = int(cursor.lastrowid or 0)
        elif cached:
            self._remember(table, getattr(record, _TABLES[table][1]), row, marks)

    def _update(self, table: str, record: Any) -> None:
        _, key = _TABLES[table]
        own = codec(type(record))
        rows = self._rows.get(table)
        if rows is None:  # not kept in memory: no fingerprints to take
            row = own.values(record)
        else:
            row, marks = own.row(record, *rows.get(getattr(record, key), (None, None)))
            self._remember(table, getattr(record, key), row, marks)
        at = own.names.index(key)
        sql = _UPDATE_SQL.get(table)
        if sql is None:
            assignments = ", ".join(f"{name} = ?" for name in own.names if name != key)
            sql = _UPDATE_SQL[table] = f"UPDATE {table} SET {assignments} WHERE {key} = ?"
        self._db.execute(sql, row[:at] + row[at + 1:] + (row[at],))

    def _one(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> Optional[R]:
        with self._lock:
            cursor = self._db.execute(sql, tuple(params))
            row = cursor.fetchone()
            return None if row is None else self._records(cls, sql, cursor, [row])[0]

    def _all(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> List[R]:
        with self._lock:
            cursor = self._db.execute(sql, tuple(params))
            return self._records(cls, sql, cursor, cursor.fetchall())

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

    def next_available_task(
        self, namespace: str, queue: str, type_prefixes: Sequence[str], now: float
    ) -> Optional[TaskRecord]:
        sql = (
            "SELECT * FROM tasks WHERE namespace = ? AND queue = ? AND state = 'queued' "
            "AND type != 'timer' AND (not_before IS NULL OR not_before <= ?)"
        )
        params: List[Any] = [namespace, queue, now]
        if type_prefixes:
            sql += " AND (" + " OR ".join("substr(type, 1, ?) = ?" for _ in type_prefixes) + ")"
            for prefix in type_prefixes:
                params += [len(prefix), prefix]
        sql += " ORDER BY seq LIMIT 1"
        return self._one(TaskRecord, sql, params)

    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        where, params = _where(filters)
        return self._all(TaskRecord, f"SELECT * FROM tasks{where}{_order(page, {'created_at', 'updated_at', 'seq'})}", params)

    def open_tasks_of_run(self, run_id: str) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE run_id = ? AND state IN ('queued', 'leased', 'blocked') ORDER BY seq",
            (run_id,),
        )

    def due_timers(self, now: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL AND fire_at <= ? ORDER BY fire_at, seq",
            (now,),
        )

    def expired_leases(self, now: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord, "SELECT * FROM tasks WHERE state = 'leased' AND leased_until <= ? ORDER BY seq", (now,)
        )

    def due_activity_timeouts(self, now: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE timeout_at IS NOT NULL AND timeout_at <= ? AND state IN ('queued', 'leased') "
            "ORDER BY timeout_at, seq",
            (now,),
        )

    def released_tasks(self, after: float, upto: float) -> List[TaskRecord]:
        return self._all(
            TaskRecord,
            "SELECT * FROM tasks WHERE state = 'queued' AND not_before > ? AND not_before <= ? ORDER BY seq",
            (after, upto),
        )

    def next_deadline(self, now: float) -> Optional[float]:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(t) FROM ("
                " SELECT MIN(fire_at) AS t FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL"
                " UNION ALL SELECT MIN(leased_until) FROM tasks WHERE state = 'leased'"
                " UNION ALL SELECT MIN(not_before) FROM tasks WHERE state = 'queued' AND not_before > ?"
                " UNION ALL SELECT MIN(deadline) FROM runs WHERE state = 'running' AND deadline IS NOT NULL"
                " UNION ALL SELECT MIN(next_run_at) FROM schedules WHERE state = 'active'"
                " UNION ALL SELECT MIN(timeout_at) FROM tasks WHERE timeout_at IS NOT NULL AND state IN ('queued', 'leased'))",
                (now,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def has_runnable_work(self, now: float) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM tasks WHERE state = 'leased' OR (state = 'queued' AND fire_at IS NULL"
                " AND (not_before IS NULL OR not_before <= ?)) LIMIT 1", (now,)).fetchone()
        return row is not None

    def count_tasks_by_state(self) -> Dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall()
        return {row[0]: int(row[1]) for row in rows}

    # ------------------------------------------------------------------ runs

    def insert_run(self, record: RunRecord) -> None:
        self._insert("runs", record)

    def update_run(self, record: RunRecord) -> None:
        self._update("runs", record)

    def get_run(self, run_id: str) -> Optional[RunRecord]:
        return self._by_key("runs", run_id)

    def latest_run(self, workflow_id: str, namespace: Optional[str] = None) -> Optional[RunRecord]:
        if namespace is None:
            return self._one(RunRecord, "SELECT * FROM runs WHERE id = ? ORDER BY seq DESC LIMIT 1", (workflow_id,))
        return self._one(
            RunRecord,
            "SELECT * FROM runs WHERE id = ? AND namespace = ? ORDER BY seq DESC LIMIT 1",
            (workflow_id, namespace),
        )

    def running_children(self, run_id: str) -> List[RunRecord]:
        return self._all(
            RunRecord, "SELECT * FROM runs WHERE parent_run_id = ? AND state = 'running' ORDER BY seq", (run_id,)
        )

    def timed_out_runs(self, now: float) -> List[RunRecord]:
        return self._all(
            RunRecord,
            "SELECT * FROM runs WHERE state = 'running' AND deadline IS NOT NULL AND deadline <= ? ORDER BY seq",
            (now,),
        )

    def list_runs(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        where, params = _where(filters)
        return self._all(RunRecord, f"SELECT * FROM runs{where}{_order(page, {'created_at', 'updated_at', 'seq', 'id', 'type'})}", params)

    def count_runs(self, filters: Dict[str, Any]) -> int:
        where, params = _where(filters)
        with self._lock:
            row = self._db.execute(f"SELECT COUNT(*) FROM runs{where}", tuple(params)).fetchone()
        return int(row[0])

    def count_runs_by_state(self) -> Dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM runs GROUP BY state").fetchall()
        return {row[0]: int(row[1]) for row in rows}

    # ------------------------------------------------------------------ history and events

    def append_history(self, record: HistoryRecord) -> None:
        self._insert("history", record)

    def history(self, run_id: str, after_seq: int = 0, limit: Optional[int] = None) -> List[HistoryRecord]:
        return self._all(
            HistoryRecord, "SELECT * FROM history WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after_seq, -1 if limit is None else limit),
        )

    def append_task_event(self, record: TaskEventRecord) -> None:
        self._insert("task_events", record)

    def task_events(self, task_id: str, after_seq: int = 0) -> List[TaskEventRecord]:
        return self._all(
            TaskEventRecord,
            "SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq",
            (task_id, after_seq),
        )

    # ------------------------------------------------------------------ sessions

    def put_session(self, record: SessionRecord) -> None:
        self._insert("sessions", record, replace=True)

    def get_session(self, token: str) -> Optional[SessionRecord]:
        return self._one(SessionRecord, "SELECT * FROM sessions WHERE token = ?", (token,))

    def delete_session(self, token: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    def delete_session_family(self, family_id: str) -> int:
        return int(self._db.execute("DELETE FROM sessions WHERE family_id = ?", (family_id,)).rowcount)

    def bind_session_family(self, family_id: str, namespace: str) -> None:
        self._db.execute("UPDATE sessions SET namespace = ? WHERE family_id = ? AND namespace IS NULL", (namespace, family_id))

    # ------------------------------------------------------------------ idempotency keys

    def get_idempotent(self, key: str) -> Optional[IdempotentRecord]:
        return self._one(IdempotentRecord, "SELECT * FROM idempotency WHERE key = ?", (key,))

    def put_idempotent(self, record: IdempotentRecord) -> None:
        self._insert("idempotency", record, replace=True)

    def purge_idempotent(self, before: float) -> int:
        return int(self._db.execute("DELETE FROM idempotency WHERE created_at < ?", (before,)).rowcount)

    # ------------------------------------------------------------------ schedules

    def put_schedule(self, record: ScheduleRecord) -> None:
        self._insert("schedules", record, replace=True)

    def get_schedule(self, schedule_id: str) -> Optional[ScheduleRecord]:
        return self._one(ScheduleRecord, "SELECT * FROM schedules WHERE id = ?", (schedule_id,))

    def list_schedules(self, filters: Dict[str, Any], page: Page) -> List[ScheduleRecord]:
        where, params = _where(filters)
        return self._all(ScheduleRecord, f"SELECT * FROM schedules{where}{_order(page, {'created_at', 'updated_at', 'next_run_at', 'id'})}", params)

    def due_schedules(self, now: float) -> List[ScheduleRecord]:
        return self._all(
            ScheduleRecord,
            "SELECT * FROM schedules WHERE state = 'active' AND next_run_at <= ? ORDER BY next_run_at, id",
            (now,),
        )

    # ------------------------------------------------------------------ maintenance

    def compact(self, cutoff: float) -> Tuple[int, int]:
        db = self._db
        self._forget_rows()  # rows are deleted in bulk here
        runs = [
            row[0]
            for row in db.execute(
                "SELECT run_id FROM runs WHERE state != 'running' AND updated_at < ?", (cutoff,)
            ).fetchall()
        ]
        removed_tasks = 0
        for run_id in runs:
            db.execute("DELETE FROM history WHERE run_id = ?", (run_id,))
            db.execute(
                "DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ?)", (run_id,)
            )
            removed_tasks += db.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,)).rowcount
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        db.execute(
            "DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE run_id IS NULL "
            "AND state IN ('succeeded', 'failed') AND updated_at < ?)",
            (cutoff,),
        )
        removed_tasks += db.execute(
            "DELETE FROM tasks WHERE run_id IS NULL AND state IN ('succeeded', 'failed') AND updated_at < ?",
            (cutoff,),
        ).rowcount
        return removed_tasks, len(runs)


def _where(filters: Dict[str, Any]) -> Tuple[str, List[Any]]:
    clauses: List[str] = []
    params: List[Any] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "search":
            # each value given must be the attribute's value, or one of its values when it is a list
            # (json_each yields a scalar itself, and a list's items)
            for attr, expected in value.items():
                for one in expected if isinstance(expected, list) else [expected]:
                    clauses.append("EXISTS (SELECT 1 FROM json_each(search_attributes, ?) WHERE json_each.value = ?)")
                    params += [f'$."{attr}"', one]
        elif key == "text":
            clauses.append("(id LIKE ? ESCAPE '\\' OR type LIKE ? ESCAPE '\\')")  # ASCII case-insensitive
            params += [contains_pattern(value)] * 2
        else:
            clauses.append(f"{key} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order(page: Page, allowed: Set[str]) -> str:
    column = page.order_by if page.order_by in allowed else "seq"
    direction = "DESC" if page.descending else "ASC"
    tiebreak = "" if column == "seq" else f", {'seq' if 'seq' in allowed else 'rowid'} {direction}"
    return f" ORDER BY {column} {direction}{tiebreak} LIMIT {int(page.limit)} OFFSET {int(page.offset)}"
