"""The PostgreSQL store: the same records as the SQLite store, for several service replicas
over one database.

- Connections come from a psycopg 3 pool; a transaction holds one connection until it ends.
- Every write transaction first takes one transaction-scoped advisory lock of its schema, so the
  engine's read-modify-write operations stay serial across replicas exactly as they are within
  one (services on other schemas of the database take other keys); the schema is created and
  migrated under a lock of its own, so replicas may start together;
  polls lease with ``FOR UPDATE SKIP LOCKED``; time-driven work re-reads its item inside its
  own transaction, so a timer, lease expiry or run timeout is handled once however many
  replicas see it due.
- What a transaction changed that waiters elsewhere must hear of is sent with ``NOTIFY`` on
  commit; a listener thread per replica hands it to the engine (``subscribe``).

Install the driver with ``pip install 'postgrip-agent-sync[postgres]'``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from .migrations import JSON_FIELDS, POSTGRES_MIGRATIONS, RECORD_TABLES, SERIAL_TABLES, Migration
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

log = logging.getLogger("postgrip_agent.server.postgres")

R = TypeVar("R")

def lock_key(purpose: str, schema: Optional[str]) -> int:
    """A transaction-scoped advisory lock key of one schema's service (a signed 64-bit integer):
    services on different schemas of one database never wait for each other's locks."""
    digest = hashlib.sha256(f"postgrip-agent:{purpose}:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)

CHANNEL = "postgrip_agent"
#: SQLSTATE classes of a database unavailable for a while: 08 connection exception, 40 transaction
#: rollback (serialization failure, deadlock), 53 insufficient resources, 55P03 lock not available,
#: 57 operator intervention (terminated, shutting down, query canceled by a timeout), 25006 read-only
#: transaction (a fail-over in progress), 58 system error (I/O)
_TRANSIENT_STATES = ("08", "40", "53", "55P03", "57", "25006", "58")
TABLES = RECORD_TABLES
_SERIAL = SERIAL_TABLES


def missing_driver() -> ImportError:
    return ImportError("the PostgreSQL store needs psycopg 3 and its pool: pip install 'postgrip-agent-sync[postgres]'")


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def split_schema(url: str) -> Tuple[str, Optional[str]]:
    """``postgresql://...?schema=name`` -> (the url without it, name): the schema the store's tables live in."""
    parts = urlsplit(url)
    # The other parameters go to libpq exactly as written (re-encoding them would turn an
    # ``options=-c%20x%3Dy`` into ``-c+x=y``, which libpq does not read as a space).
    pieces = [piece for piece in parts.query.split("&") if piece]
    schemas = [unquote(piece.partition("=")[2]) for piece in pieces if piece.partition("=")[0] == "schema"]
    rest = "&".join(piece for piece in pieces if piece.partition("=")[0] != "schema")
    return urlunsplit(parts._replace(query=rest)), (schemas[0] if schemas else None)


@functools.lru_cache(maxsize=None)
def _insert_sql(table: str, upsert: bool) -> Tuple[Tuple[str, ...], str]:
    """The columns and statement of an insert into ``table``, built once per table."""
    cls, key = TABLES[table]
    names = tuple(f.name for f in attrs.fields(cls) if not (f.name == "seq" and table in _SERIAL))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('%s' for _ in names)})"
    if upsert:
        sql += f" ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != key)
    if table in _SERIAL:
        sql += " RETURNING seq"
    return names, sql


@functools.lru_cache(maxsize=None)
def _update_sql(table: str) -> Tuple[Tuple[str, ...], str]:
    """The columns and statement of an update of one row of ``table`` by its key, built once."""
    cls, key = TABLES[table]
    names = tuple(f.name for f in attrs.fields(cls) if f.name not in (key, "seq"))
    return names, f"UPDATE {table} SET {', '.join(f'{n} = %s' for n in names)} WHERE {key} = %s"


class PostgresStore(Store):
    """Records in PostgreSQL. ``url`` is a libpq URL; ``?schema=NAME`` keeps the tables in that
    schema (created when missing), so several services or test runs can share one database."""

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0) -> None:
        try:
            import psycopg
            from psycopg.sql import Literal
            from psycopg.types.json import Json, Jsonb
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise missing_driver() from None
        self._psycopg, self._literal = psycopg, Literal
        self._json, self._jsonb = Json, Jsonb
        self.url, self.schema = split_schema(url)
        if self.schema is not None and not self.schema.replace("_", "").isalnum():
            raise ValueError(f"schema name {self.schema!r}: use letters, digits and underscores")
        self.replica_id = uuid.uuid4().hex
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self._listeners: List[Callable[[str, str], None]] = []
        self._closing = threading.Event()
        self._listen_thread: Optional[threading.Thread] = None
        #: what every write transaction of this schema's service takes; what its migrations take
        self._write_lock, self._migration_lock = lock_key("write", self.schema), lock_key("migrate", self.schema)
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=int(connect_timeout)):
                pass  # reachable, and lets us in: the schema is created under the migration lock
        except psycopg.OperationalError as err:
            reason = " ".join(str(err).split())  # libpq's message spans lines
            raise ConnectionError(f"cannot connect to PostgreSQL at {safe_url(self.url)}: {reason}") from None
        self._pool = ConnectionPool(self.url, min_size=1, max_size=pool_size, open=True, timeout=connect_timeout,
                                    configure=self._configure, kwargs={"autocommit": True})
        self.schema_version = self._migrate(POSTGRES_MIGRATIONS)

    def transient(self, error: BaseException) -> bool:
        psycopg = self._psycopg
        if isinstance(error, psycopg.Error):
            state = getattr(error, "sqlstate", None)
            if state:
                return str(state).startswith(_TRANSIENT_STATES)
            # no SQLSTATE: the connection broke or the pool had none to give (PoolTimeout)
            return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
        return False

    def _configure(self, conn: Any) -> None:
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}"')

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._pool.connection() as conn:
            self._local.conn, self._local.depth, self._local.notes = conn, 1, set()
            try:
                # One round trip opens the transaction and takes the write lock; one sends the
                # notifications and commits (statements without parameters may share a call).
                conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({self._write_lock})")
                try:
                    yield
                except BaseException:
                    self._rollback(conn)
                    raise
                notify = "".join(
                    f"SELECT pg_notify('{CHANNEL}', {self._literal(f'{self.replica_id} {note}').as_string(conn)}); "
                    for note in sorted(self._local.notes))
                try:
                    conn.execute(notify + "COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
                with self._count_lock:
                    self.commits += 1
            finally:
                self._local.conn = None
                self._local.notes = set()

    @staticmethod
    def _rollback(conn: Any) -> None:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # a broken connection: the pool discards it, and the server rolled back
            log.debug("rollback failed", exc_info=True)

    def publish(self, kind: str, key: str) -> None:
        """Tell the other replicas, when this transaction commits, that ``kind``/``key`` changed."""
        notes = getattr(self._local, "notes", None)
        if getattr(self._local, "conn", None) is not None and notes is not None:
            notes.add(f"{kind} {key}")
        else:
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.replica_id} {kind} {key}"))

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(kind, key)`` for what other replicas publish (on a thread of the store's)."""
        self._listeners.append(listener)
        if self._listen_thread is None:
            self._listen_thread = threading.Thread(target=self._listen, name="postgrip-pg-listen", daemon=True)
            self._listen_thread.start()

    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                with self._psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=5.0):
                            if self._closing.is_set():  # close() sends one note to end the wait at once
                                return
                            self._deliver(note.payload)
            except Exception:  # the database went away: listen again; waiters still wake on their timeouts
                if self._closing.is_set():
                    return
                log.warning("listening for other replicas failed; retrying in 1 s", exc_info=True)
                self._closing.wait(1.0)

    def _deliver(self, payload: str) -> None:
        sender, _, rest = payload.partition(" ")
        if sender == self.replica_id:
            return
        kind, _, key = rest.partition(" ")
        for listener in self._listeners:
            try:
                listener(kind, key)
            except Exception:
                log.exception("a listener failed on %r", payload)

    def close(self) -> None:
        self._closing.set()
        if self._listen_thread is not None:
            try:
                with self._pool.connection() as conn:
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.replica_id} closing -"))
            except Exception:  # the database is gone: the listener ends on its own timeout
                log.debug("could not wake the listener", exc_info=True)
            self._listen_thread.join(timeout=10)
        self._pool.close()

    def _migrate(self, migrations: Sequence[Migration]) -> int:
        with self._pool.connection() as conn, conn.transaction():
            # one replica creates the schema and migrates it at a time; the others then find it done
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._migration_lock,))
            if self.schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                         "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in migrations:
                if migration.version in done:
                    continue
                log.info("applying PostgreSQL schema migration %d: %s", migration.version, migration.name)
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (migration.version, migration.name))
            newest = max((m.version for m in migrations), default=0)
            known = max(done | {newest})
        if known > newest:
            raise RuntimeError(f"the database's schema is at version {known}, newer than this version of the "
                               f"service knows ({newest}): upgrade postgrip-agent-sync")
        return newest

    def _values(self, record: Any, names: Sequence[str]) -> List[Any]:
        out = []
        for name in names:
            value = getattr(record, name)
            if name in JSON_FIELDS and value is not None:  # json keeps the text as sent; jsonb is searched
                value = self._jsonb(value) if name == "search_attributes" else self._json(value)
            out.append(value)
        return out

    def _insert(self, table: str, record: Any, upsert: bool = False) -> None:
        names, sql = _insert_sql(table, upsert)
        with self._conn() as conn:
            cursor = conn.execute(sql, self._values(record, names))
            if table in _SERIAL:
                record.seq = int(cursor.fetchone()[0])

    def _update(self, table: str, record: Any) -> None:
        names, sql = _update_sql(table)
        with self._conn() as conn:
            conn.execute(sql, self._values(record, names) + [getattr(record, TABLES[table][1])])

    def _all(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> List[R]:
        names = [f.name for f in attrs.fields(cls)]  # type: ignore[arg-type]
        with self._conn() as conn:
            rows = conn.execute(sql.replace("SELECT *", "SELECT " + ", ".join(names), 1), list(params)).fetchall()
        return [cls(*row) for row in rows]

    def _one(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> Optional[R]:
        found = self._all(cls, sql, params)
        return found[0] if found else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._conn() as conn:
            row = conn.execute(sql, list(params)).fetchone()
        return None if row is None else row[0]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        with self._conn() as conn:
            return list(conn.execute(sql, list(params)).fetchall())

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._conn() as conn:
            return int(conn.execute(sql, list(params)).rowcount or 0)

    # ------------------------------------------------------------------ namespaces

    def get_namespace(self, name: str) -> Optional[NamespaceRecord]:
        return self._one(NamespaceRecord, "SELECT * FROM namespaces WHERE name = %s", (name,))

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
        return self._one(TaskRecord, "SELECT * FROM tasks WHERE id = %s", (task_id,))

    def next_available_task(
        self, namespace: str, queue: str, type_prefixes: Sequence[str], now: float
    ) -> Optional[TaskRecord]:
        sql = ("SELECT * FROM tasks WHERE namespace = %s AND queue = %s AND state = 'queued' "
               "AND type != 'timer' AND (not_before IS NULL OR not_before <= %s)")
        params: List[Any] = [namespace, queue, now]
        if type_prefixes:
            sql += " AND (" + " OR ".join("starts_with(type, %s)" for _ in type_prefixes) + ")"
            params += list(type_prefixes)
        sql += " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED"
        return self._one(TaskRecord, sql, params)

    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        where, params = self._where(filters)
        return self._all(TaskRecord, f"SELECT * FROM tasks{where}{_order(page, {'created_at', 'updated_at', 'seq'})}", params)

    def open_tasks_of_run(self, run_id: str) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE run_id = %s AND state IN ('queued', 'leased', 'blocked') "
                                     "ORDER BY seq", (run_id,))

    def due_timers(self, now: float) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL AND fire_at <= %s "
                                     "ORDER BY fire_at, seq", (now,))

    def expired_leases(self, now: float) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE state = 'leased' AND leased_until <= %s ORDER BY seq", (now,))

    def due_activity_timeouts(self, now: float) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE timeout_at IS NOT NULL AND timeout_at <= %s "
                                     "AND state IN ('queued', 'leased') ORDER BY timeout_at, seq", (now,))

    def released_tasks(self, after: float, upto: float) -> List[TaskRecord]:
        return self._all(TaskRecord, "SELECT * FROM tasks WHERE state = 'queued' AND not_before > %s "
                                     "AND not_before <= %s ORDER BY seq", (after, upto))

    def next_deadline(self, now: float) -> Optional[float]:
        found = self._scalar(
            "SELECT LEAST("
            " (SELECT MIN(fire_at) FROM tasks WHERE state = 'queued' AND fire_at IS NOT NULL),"
            " (SELECT MIN(leased_until) FROM tasks WHERE state = 'leased'),"
            " (SELECT MIN(not_before) FROM tasks WHERE state = 'queued' AND not_before > %s),"
            " (SELECT MIN(deadline) FROM runs WHERE state = 'running' AND deadline IS NOT NULL),"
            " (SELECT MIN(next_run_at) FROM schedules WHERE state = 'active'),"
            " (SELECT MIN(timeout_at) FROM tasks WHERE timeout_at IS NOT NULL AND state IN ('queued', 'leased')))",
            (now,))
        return None if found is None else float(found)

    def has_runnable_work(self, now: float) -> bool:
        return self._scalar("SELECT 1 FROM tasks WHERE state = 'leased' OR (state = 'queued' AND fire_at IS NULL "
                            "AND (not_before IS NULL OR not_before <= %s)) LIMIT 1", (now,)) is not None

    def count_tasks_by_state(self) -> Dict[str, int]:
        return {state: int(count) for state, count in self._rows("SELECT state, COUNT(*) FROM tasks GROUP BY state")}

    # ------------------------------------------------------------------ runs

    def insert_run(self, record: RunRecord) -> None:
        self._insert("runs", record)

    def update_run(self, record: RunRecord) -> None:
        self._update("runs", record)

    def get_run(self, run_id: str) -> Optional[RunRecord]:
        return self._one(RunRecord, "SELECT * FROM runs WHERE run_id = %s", (run_id,))

    def latest_run(self, workflow_id: str, namespace: Optional[str] = None) -> Optional[RunRecord]:
        if namespace is None:
            return self._one(RunRecord, "SELECT * FROM runs WHERE id = %s ORDER BY seq DESC LIMIT 1", (workflow_id,))
        return self._one(RunRecord, "SELECT * FROM runs WHERE id = %s AND namespace = %s ORDER BY seq DESC LIMIT 1",
                         (workflow_id, namespace))

    def running_children(self, run_id: str) -> List[RunRecord]:
        return self._all(RunRecord, "SELECT * FROM runs WHERE parent_run_id = %s AND state = 'running' ORDER BY seq",
                         (run_id,))

    def timed_out_runs(self, now: float) -> List[RunRecord]:
        return self._all(RunRecord, "SELECT * FROM runs WHERE state = 'running' AND deadline IS NOT NULL "
                                    "AND deadline <= %s ORDER BY seq", (now,))

    def list_runs(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        where, params = self._where(filters)
        allowed = {'created_at', 'updated_at', 'seq', 'id', 'type'}
        return self._all(RunRecord, f"SELECT * FROM runs{where}{_order(page, allowed)}", params)

    def count_runs(self, filters: Dict[str, Any]) -> int:
        where, params = self._where(filters)
        return int(self._scalar(f"SELECT COUNT(*) FROM runs{where}", params))

    def count_runs_by_state(self) -> Dict[str, int]:
        return {state: int(count) for state, count in self._rows("SELECT state, COUNT(*) FROM runs GROUP BY state")}

    # ------------------------------------------------------------------ history and events

    def append_history(self, record: HistoryRecord) -> None:
        self._insert("history", record)

    def history(self, run_id: str, after_seq: int = 0, limit: Optional[int] = None) -> List[HistoryRecord]:
        return self._all(HistoryRecord, "SELECT * FROM history WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                         (run_id, after_seq, limit))

    def append_task_event(self, record: TaskEventRecord) -> None:
        self._insert("task_events", record)

    def task_events(self, task_id: str, after_seq: int = 0) -> List[TaskEventRecord]:
        return self._all(TaskEventRecord, "SELECT * FROM task_events WHERE task_id = %s AND seq > %s ORDER BY seq",
                         (task_id, after_seq))

    # ------------------------------------------------------------------ sessions

    def put_session(self, record: SessionRecord) -> None:
        self._insert("sessions", record, upsert=True)

    def get_session(self, token: str) -> Optional[SessionRecord]:
        return self._one(SessionRecord, "SELECT * FROM sessions WHERE token = %s", (token,))

    def delete_session(self, token: str) -> None:
        self._execute("DELETE FROM sessions WHERE token = %s", (token,))

    def delete_session_family(self, family_id: str) -> int:
        return self._execute("DELETE FROM sessions WHERE family_id = %s", (family_id,))

    def bind_session_family(self, family_id: str, namespace: str) -> None:
        self._execute("UPDATE sessions SET namespace = %s WHERE family_id = %s AND namespace IS NULL", (namespace, family_id))

    # ------------------------------------------------------------------ idempotency keys

    def get_idempotent(self, key: str) -> Optional[IdempotentRecord]:
        return self._one(IdempotentRecord, "SELECT * FROM idempotency WHERE key = %s", (key,))

    def put_idempotent(self, record: IdempotentRecord) -> None:
        self._insert("idempotency", record, upsert=True)

    def purge_idempotent(self, before: float) -> int:
        return self._execute("DELETE FROM idempotency WHERE created_at < %s", (before,))

    # ------------------------------------------------------------------ schedules

    def put_schedule(self, record: ScheduleRecord) -> None:
        self._insert("schedules", record, upsert=True)

    def get_schedule(self, schedule_id: str) -> Optional[ScheduleRecord]:
        return self._one(ScheduleRecord, "SELECT * FROM schedules WHERE id = %s", (schedule_id,))

    def list_schedules(self, filters: Dict[str, Any], page: Page) -> List[ScheduleRecord]:
        where, params = self._where(filters)
        allowed = {'created_at', 'updated_at', 'next_run_at', 'id'}
        return self._all(ScheduleRecord, f"SELECT * FROM schedules{where}{_order(page, allowed, tiebreak='id')}", params)

    def due_schedules(self, now: float) -> List[ScheduleRecord]:
        return self._all(ScheduleRecord, "SELECT * FROM schedules WHERE state = 'active' AND next_run_at <= %s "
                                         "ORDER BY next_run_at, id", (now,))

    # ------------------------------------------------------------------ maintenance

    def compact(self, cutoff: float) -> Tuple[int, int]:
        runs = [row[0] for row in self._rows("SELECT run_id FROM runs WHERE state != 'running' AND updated_at < %s",
                                             (cutoff,))]
        removed_tasks = 0
        if runs:
            self._execute("DELETE FROM history WHERE run_id = ANY(%s)", (runs,))
            self._execute("DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ANY(%s))", (runs,))
            removed_tasks += self._execute("DELETE FROM tasks WHERE run_id = ANY(%s)", (runs,))
            self._execute("DELETE FROM runs WHERE run_id = ANY(%s)", (runs,))
        finished = "run_id IS NULL AND state IN ('succeeded', 'failed') AND updated_at < %s"
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
                        clauses.append(
                            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(search_attributes -> %s) "
                            "WHEN 'array' THEN search_attributes -> %s ELSE jsonb_build_array(search_attributes -> %s) "
                            "END) AS item WHERE item = %s)")
                        params += [attr, attr, attr, self._jsonb(one)]
            elif key == "text":
                # ILIKE: case-insensitive, as SQLite's LIKE is
                clauses.append("(id ILIKE %s ESCAPE '\\' OR type ILIKE %s ESCAPE '\\')")
                params += [contains_pattern(value)] * 2
            else:
                clauses.append(f"{key} = %s")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order(page: Page, allowed: set, tiebreak: str = "seq") -> str:  # type: ignore[type-arg]
    column = page.order_by if page.order_by in allowed else ("seq" if "seq" in allowed else tiebreak)
    direction = "DESC" if page.descending else "ASC"
    second = "" if column == tiebreak else f", {tiebreak} {direction}"
    return f" ORDER BY {column} {direction}{second} LIMIT {int(page.limit)} OFFSET {int(page.offset)}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
