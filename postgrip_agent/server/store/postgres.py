"""The PostgreSQL store: the same records as the SQLite store, for several service replicas
over one database.

- Connections come from a psycopg 3 pool; a transaction holds one connection until it ends.
- Transactions run at once, in this process and across replicas: there is no lock of the whole
  service. What must be serial is serial per run: a transaction locks each run it reads by key
  or by workflow id, and each task it reads, the task's run first (one statement takes both), so
  two writes of one run take turns and writes of different runs do not wait for each other. What
  must happen once takes a lock on its name (a workflow id's start, an idempotency key, a
  schedule id). Rarely two transactions still lock the same rows in opposite orders (a parent
  and its child closing together): PostgreSQL ends one with a deadlock error, and the service
  runs that request again (``retryable``). Time-driven work re-reads its item inside its own
  transaction (locking it), so a timer, lease expiry or run timeout is handled once however many
  replicas see it due. The schema is created and migrated under an advisory lock of its own, so
  replicas may start together.
- What a transaction changed that waiters elsewhere must hear of is sent with ``NOTIFY`` on
  commit, one notification per transaction (a line per change), on a channel of the schema; a
  listener thread per replica hands each change to the engine (``subscribe``). A replica that
  has heard of no other sends none (see ``_listen``).

Install the driver with ``pip install 'postgrip-agent-sync[postgres]'``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from .base import IdempotentRecord, NamespaceRecord, RunRecord, TaskRecord
from .dialect import POSTGRES, JsonValue
from .migrations import JSON_FIELDS, POSTGRES_MIGRATIONS, RECORD_TABLES, SERIAL_TABLES, Migration, newest_known, pending
from .sql import WRITES, SQLStore

log = logging.getLogger("postgrip_agent.server.postgres")

R = TypeVar("R")


def lock_key(purpose: str, schema: Optional[str]) -> int:
    """A transaction-scoped advisory lock key of one schema's service (a signed 64-bit integer):
    services on different schemas of one database never wait for each other's locks."""
    digest = hashlib.sha256(f"postgrip-agent:{purpose}:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


CHANNEL = "postgrip_agent"
#: URL parameters the store reads itself (libpq never sees them)
_OUR_PARAMETERS = ("schema", "pool_size")
#: SQLSTATE classes of a database unavailable for a while: 08 connection exception, 40 transaction
#: rollback (serialization failure, deadlock), 53 insufficient resources, 55P03 lock not available,
#: 57 operator intervention (terminated, shutting down, query canceled by a timeout), 25006 read-only
#: transaction (a fail-over in progress), 58 system error (I/O)
_TRANSIENT_STATES = ("08", "40", "53", "55P03", "57", "25006", "58")
TABLES = RECORD_TABLES
#: the tables whose rows a transaction reads by key again and again (from memory after the first)
_READ_AGAIN = frozenset({"tasks", "runs"})
#: seconds a replica publishes its changes after it starts, before it has heard of other replicas
ALONE_GRACE = 3.0
#: how many bytes one notification's payload grows to (PostgreSQL refuses 8000 and more)
_PAYLOAD_LIMIT = 7000
#: SQLSTATEs of a transaction that lost a race and rolled back: serialization failure, deadlock
_RACES = ("40001", "40P01")
_SERIAL = SERIAL_TABLES


#: what bounds a replica's waits, set on each of its sessions unless the URL sets it (libpq's
#: ``options=-c lock_timeout=10s``): a statement waits for a lock at most ``lock_timeout`` and runs at
#: most ``statement_timeout``; a session idle inside a transaction (its replica frozen, partitioned or
#: gone) is ended after ``idle_in_transaction_session_timeout``, and every lock it held with it; the
#: server probes a silent client's socket (``tcp_keepalives_*``)
SESSION_BOUNDS = {
    "lock_timeout": "5s",
    "statement_timeout": "30s",
    "idle_in_transaction_session_timeout": "4s",
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
#: libpq's keepalive probes of the server's socket, unless the URL sets them
CLIENT_KEEPALIVES = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5", "keepalives_count": "3"}


def session_bounds(url: str) -> Tuple[str, Dict[str, Any]]:
    """The ``SET`` statements of the bounds the URL leaves to us, and the libpq keepalive
    parameters it does not name."""
    query = [piece.partition("=") for piece in urlsplit(url).query.split("&") if piece]
    named = {unquote(key) for key, _, _ in query}
    options = " ".join(unquote(value.replace("+", " ")) for key, _, value in query if unquote(key) == "options")
    sets = "; ".join(f"SET {name} = '{value}'" for name, value in SESSION_BOUNDS.items() if f"{name}=" not in options)
    return sets, {name: value for name, value in CLIENT_KEEPALIVES.items() if name not in named}


def missing_driver() -> ImportError:
    """The ImportError to raise when psycopg is not installed, naming the extra that installs it."""
    return ImportError("the PostgreSQL store needs psycopg 3 and its pool: pip install 'postgrip-agent-sync[postgres]'")


def is_postgres_url(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return db.startswith(("postgresql://", "postgres://"))


def _split_ours(url: str) -> Tuple[str, Dict[str, str]]:
    """The URL without the parameters that are the store's, not libpq's (``schema``,
    ``pool_size``), and those parameters."""
    parts = urlsplit(url)
    # The other parameters go to libpq exactly as written (re-encoding them would turn an
    # ``options=-c%20x%3Dy`` into ``-c+x=y``, which libpq does not read as a space).
    pieces = [piece for piece in parts.query.split("&") if piece]
    ours: Dict[str, str] = {}
    for piece in pieces:
        name, _, value = piece.partition("=")
        if name in _OUR_PARAMETERS:
            ours.setdefault(name, unquote(value))
    rest = "&".join(piece for piece in pieces if piece.partition("=")[0] not in _OUR_PARAMETERS)
    return urlunsplit(parts._replace(query=rest)), ours


@functools.lru_cache(maxsize=None)
def _insert_sql(table: str, upsert: bool) -> Tuple[Tuple[str, ...], str]:
    """The columns and statement of an insert into ``table``, built once per table."""
    cls, key = TABLES[table]
    names = tuple(f.name for f in attrs.fields(cls) if not (f.name == "seq" and table in _SERIAL))
    sql = POSTGRES.upsert(table, names, key) if upsert else POSTGRES.insert(table, names)
    if table in _SERIAL:
        sql += " RETURNING seq"
    return names, POSTGRES.sql(sql)


@functools.lru_cache(maxsize=None)
def _task_and_run_sql() -> Tuple[int, str]:
    """(how many task columns, the statement) that locks a task's run, then the task, and reads
    both: the order every transaction locks them in."""
    task_columns = [f.name for f in attrs.fields(TaskRecord)]
    run_columns = [f.name for f in attrs.fields(RunRecord)]
    return len(task_columns), (
        f"WITH r AS MATERIALIZED (SELECT {', '.join(run_columns)} FROM runs "
        "WHERE run_id = (SELECT run_id FROM tasks WHERE id = %s) FOR UPDATE) "
        f"SELECT {', '.join('t.' + c for c in task_columns)}, {', '.join('r.' + c for c in run_columns)} "
        "FROM tasks t LEFT JOIN r ON r.run_id = t.run_id WHERE t.id = %s FOR UPDATE OF t"
    )


@functools.lru_cache(maxsize=None)
def _update_sql(table: str) -> Tuple[Tuple[str, ...], str]:
    """The columns and statement of an update of one row of ``table`` by its key, built once."""
    cls, key = TABLES[table]
    names = tuple(f.name for f in attrs.fields(cls) if f.name not in (key, "seq"))
    return names, f"UPDATE {table} SET {', '.join(f'{n} = %s' for n in names)} WHERE {key} = %s"


class PostgresStore(SQLStore):
    """Records in PostgreSQL. ``url`` is a libpq URL; ``?schema=NAME`` keeps the tables in that
    schema (created when missing), so several services or test runs can share one database;
    ``?pool_size=N`` sets how many connections the replica keeps at most (``pool_size``, 8 by
    default: concurrent transactions beyond it wait for one)."""

    dialect = POSTGRES
    concurrent_writers = True

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0, alone_grace: float = ALONE_GRACE) -> None:
        try:
            import psycopg
            from psycopg.sql import Literal
            from psycopg.types.json import Json, Jsonb
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise missing_driver() from None
        self._psycopg, self._literal = psycopg, Literal
        self._json, self._jsonb = Json, Jsonb
        self.url, ours = _split_ours(url)
        self.schema = ours.get("schema")
        if "pool_size" in ours:
            if not ours["pool_size"].isdigit() or int(ours["pool_size"]) < 1:
                raise ValueError(
                    f"pool_size={ours['pool_size']!r} in the PostgreSQL URL: give a whole number of "
                    "connections, at least 1 (e.g. ?pool_size=16)"
                )
            pool_size = int(ours["pool_size"])
        if self.schema is not None and not self.schema.replace("_", "").isalnum():
            raise ValueError(f"schema name {self.schema!r}: use letters, digits and underscores")
        self.replica_id = uuid.uuid4().hex
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self._listeners: List[Callable[[str, str], None]] = []
        self._closing = threading.Event()
        self._listen_thread: Optional[threading.Thread] = None
        #: what its migrations take
        self._migration_lock = lock_key("migrate", self.schema)
        #: where the replicas of this schema's service tell each other of changes
        self._channel = CHANNEL if not self.schema else f"{CHANNEL}_{hashlib.sha256(self.schema.encode()).hexdigest()[:16]}"
        #: another replica has been heard of (so changes are published); before ``_alone_after``
        #: they are published regardless
        self._others = False
        self._alone_after = time.monotonic() + alone_grace
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=int(connect_timeout)):
                pass  # reachable, and lets us in: the schema is created under the migration lock
        except psycopg.OperationalError as err:
            reason = " ".join(str(err).split())  # libpq's message spans lines
            raise ConnectionError(f"cannot connect to PostgreSQL at {safe_url(self.url)}: {reason}") from None
        self._bounds, self._keepalives = session_bounds(self.url)
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=pool_size,
            open=True,
            timeout=connect_timeout,
            configure=self._configure,
            kwargs={"autocommit": True, **self._keepalives},
        )
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

    def settings(self) -> Dict[str, str]:
        """What its sessions run with, read back from one of them: ``synchronous_commit``,
        ``fsync``, ``transaction_isolation`` and the bounds on waits."""
        names = ("synchronous_commit", "fsync", "transaction_isolation", *SESSION_BOUNDS)
        with self._pool.connection() as conn:
            return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, self._psycopg.Error) and getattr(error, "sqlstate", None) in _RACES

    def commit_lazily(self) -> None:
        if getattr(self._local, "conn", None) is not None:
            self._local.lazy = True

    def lock_name(self, kind: str, key: str) -> None:
        if getattr(self._local, "conn", None) is not None:
            self._execute("SELECT pg_advisory_xact_lock(?)", (lock_key(f"{kind}:{key}", self.schema),))

    def _locking(self) -> str:
        return " FOR UPDATE" if getattr(self._local, "conn", None) is not None else ""

    def add_idempotent(self, record: IdempotentRecord) -> bool:
        names, sql = _insert_sql("idempotency", False)
        with self._conn() as conn:
            cursor = self._send(conn, sql + " ON CONFLICT (key) DO NOTHING", self._values(record, names))
        return bool(cursor.rowcount)

    def insert_namespace(self, record: NamespaceRecord) -> None:
        # two transactions may create one namespace at once (a first start in it on two replicas):
        # the second finds it made
        self._execute(
            "INSERT INTO namespaces (name, created_at, updated_at, tenant_id) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (record.name, record.created_at, record.updated_at, record.tenant_id),
        )

    def _configure(self, conn: Any) -> None:
        """Each pooled session: the store's schema, and the bounds on its waits (one round trip)."""
        statements = ([f'SET search_path TO "{self.schema}"'] if self.schema else []) + ([self._bounds] if self._bounds else [])
        if statements:
            conn.execute("; ".join(statements))

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
            self._local.conn, self._local.depth, self._local.notes, self._local.pending = conn, 1, set(), {}
            self._local.lazy = self._local.wrote = False
            #: the tasks and runs this transaction read or wrote, by key: read again, they come from
            #: here (every write of them goes through ``_insert``/``_update``, and the transaction
            #: holds a lock on each row it read, so no one else changes them meanwhile)
            self._local.rows = {}
            try:
                # One round trip opens the transaction; one sends the notifications and commits
                # (statements without parameters may share a call).
                self._send(conn, "BEGIN")
                try:
                    yield
                except BaseException:
                    self._rollback(conn)
                    raise
                notify = "".join(
                    f"SELECT pg_notify('{self._channel}', {self._literal(payload).as_string(conn)}); "
                    for payload in self._payloads(sorted(self._local.notes))
                )
                if self._local.lazy:  # this transaction's loss in a crash is harmless: do not wait for the WAL flush
                    notify = "SET LOCAL synchronous_commit TO OFF; " + notify
                began = time.perf_counter()
                try:
                    self._send(conn, notify + "COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
                with self._count_lock:
                    self.commits += 1 if self._local.wrote else 0
                    self.commit_took(time.perf_counter() - began)
            finally:
                self._local.conn = None
                self._local.notes = set()
                self._local.rows = None
                self._local.pending = None

    @staticmethod
    def _rollback(conn: Any) -> None:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # a broken connection: the pool discards it, and the server rolled back
            log.debug("rollback failed", exc_info=True)

    def publish(self, kind: str, key: str) -> None:
        """Tell the other replicas, when this transaction commits, that ``kind``/``key`` changed
        (nothing while no other replica has been heard of: see ``_listen``)."""
        if not self._others and time.monotonic() >= self._alone_after:
            return
        notes = getattr(self._local, "notes", None)
        if getattr(self._local, "conn", None) is not None and notes is not None:
            notes.add(f"{kind} {key}")
        else:
            self._notify(f"{self.replica_id} {kind} {key}")

    def _notify(self, payload: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(kind, key)`` for what other replicas publish (on a thread of the store's)."""
        self._listeners.append(listener)
        if self._listen_thread is None:
            self._listen_thread = threading.Thread(target=self._listen, name="postgrip-pg-listen", daemon=True)
            self._listen_thread.start()

    def _listen(self) -> None:
        """Hand what other replicas publish to the listeners. A replica publishes nothing while it
        has heard of no other (one replica alone spends nothing on notifications): each replica
        says ``hello`` when it starts listening, a replica that hears it answers ``here``, and a
        replica that hears anything from another publishes from then on. Until its first
        ``ALONE_GRACE`` seconds have passed a replica publishes regardless, while it may not
        have heard the others' answers yet."""
        while not self._closing.is_set():
            try:
                with self._psycopg.connect(self.url, autocommit=True, **self._keepalives) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self._notify(f"{self.replica_id} hello -")
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

    def _payloads(self, notes: Sequence[str]) -> Iterator[str]:
        """The notifications of one transaction, as few as fit: ``<replica> <note>``, then one more
        ``<note>`` per line (a payload stays under PostgreSQL's limit of 8000 bytes)."""
        payload, size = "", 0
        for note in notes:
            grows = len(note.encode()) + 1
            if payload and size + grows > _PAYLOAD_LIMIT:
                yield payload
                payload = ""
            if payload:
                payload, size = f"{payload}\n{note}", size + grows
            else:
                payload = f"{self.replica_id} {note}"
                size = len(payload.encode())
        if payload:
            yield payload

    def _deliver(self, payload: str) -> None:
        sender, _, rest = payload.partition(" ")
        if sender == self.replica_id:
            return
        self._others = True
        for note in rest.split("\n"):
            kind, _, key = note.partition(" ")
            if kind in ("hello", "here", "closing"):
                if kind == "hello":
                    self._notify(f"{self.replica_id} here -")
                continue
            for listener in self._listeners:
                try:
                    listener(kind, key)
                except Exception:
                    log.exception("a listener failed on %r", note)

    def close(self) -> None:
        self._closing.set()
        if self._listen_thread is not None:
            try:
                with self._pool.connection() as conn:
                    conn.execute("SELECT pg_notify(%s, %s)", (self._channel, f"{self.replica_id} closing -"))
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
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in pending(migrations, done):
                log.info("applying PostgreSQL schema migration %d: %s", migration.version, migration.name)
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name))
        return newest_known(migrations, done)

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
            cursor = self._send(conn, sql, self._values(record, names))
            if table in _SERIAL:
                record.seq = int(cursor.fetchone()[0])
        self._remember(table, record)

    def _remember(self, table: str, record: Any) -> None:
        rows = getattr(self._local, "rows", None)
        if rows is not None and table in _READ_AGAIN:
            rows[(table, getattr(record, TABLES[table][1]))] = copy.deepcopy(record)

    def _by_key(self, table: str, key: Any) -> Optional[Any]:
        rows = getattr(self._local, "rows", None)
        if rows is None or table not in _READ_AGAIN:
            return super()._by_key(table, key)
        if (table, key) not in rows:
            if table == "tasks":
                self._lock_task_and_run(key, rows)
            else:
                rows[(table, key)] = self._one(RunRecord, "SELECT * FROM runs WHERE run_id = ? FOR UPDATE", (key,))
        return copy.deepcopy(rows[(table, key)])

    def find_run(self, run_or_workflow_id: str) -> Optional[RunRecord]:
        rows = getattr(self._local, "rows", None)
        if rows is not None and rows.get(("runs", run_or_workflow_id)) is not None:
            return copy.deepcopy(rows[("runs", run_or_workflow_id)])  # type: ignore[no-any-return]
        found = super().find_run(run_or_workflow_id)
        if found is not None and rows is not None and ("runs", found.run_id) not in rows:
            self._remember("runs", found)  # locked by the query: read again, it comes from memory
        return found

    def _lock_task_and_run(self, task_id: str, rows: Dict[Any, Any]) -> None:
        """Lock and read a task and its run, the run first (as every transaction locks them)."""
        split, sql = _task_and_run_sql()
        with self._conn() as conn:
            found = self._send(conn, sql, (task_id, task_id)).fetchone()
        if found is None:
            rows[("tasks", task_id)] = None
            return
        task = TaskRecord(*found[:split])
        rows[("tasks", task_id)] = task
        if task.run_id and found[split] is not None and ("runs", task.run_id) not in rows:
            rows[("runs", task.run_id)] = RunRecord(*found[split:])  # the caller may change its copy, and not save it

    def _bulk_deleted(self) -> None:
        rows = getattr(self._local, "rows", None)
        if rows is not None:
            if self._local.pending:
                self._write_pending(self._local.conn)
            rows.clear()

    def _update(self, table: str, record: Any) -> None:
        key = getattr(record, TABLES[table][1])
        if getattr(self._local, "rows", None) is not None and table in _READ_AGAIN:
            # written before the transaction next reads or commits (an INSERT reads nothing, so
            # goes first): a row saved several times in one transaction is one UPDATE
            self._remember(table, record)
            self._local.pending[(table, key)] = None
            return
        names, sql = _update_sql(table)
        with self._conn() as conn:
            self._send(conn, sql, self._values(record, names) + [key])
        self._remember(table, record)

    def _write_pending(self, conn: Any) -> None:
        """Write the rows whose updates are held back (as they are now in ``rows``), in order."""
        pending, self._local.pending = self._local.pending, {}
        for table, key in pending:
            names, sql = _update_sql(table)
            self._send(conn, sql, self._values(self._local.rows[(table, key)], names) + [key])

    def _send(self, conn: Any, sql: str, params: Optional[Sequence[Any]] = None) -> Any:
        """One round trip to the database (counted in ``round_trips``); anything but an INSERT goes
        after the updates held back."""
        if getattr(self._local, "pending", None) and conn is self._local.conn and not sql.startswith("INSERT"):
            self._write_pending(conn)
        if sql.startswith(WRITES) and conn is getattr(self._local, "conn", None):
            self._local.wrote = True
        with self._count_lock:
            self.round_trips += 1
            self.statements += sql.count("; ") + 1 if params is None else 1
        return conn.execute(sql) if params is None else conn.execute(sql, params)

    def _params(self, params: Sequence[Any]) -> List[Any]:
        return [self._jsonb(p.value) if isinstance(p, JsonValue) else p for p in params]

    def _all(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> List[R]:
        names = [f.name for f in attrs.fields(cls)]  # type: ignore[arg-type]
        sql = POSTGRES.sql(sql).replace("SELECT *", "SELECT " + ", ".join(names), 1)
        with self._conn() as conn:
            rows = self._send(conn, sql, self._params(params)).fetchall()
        return [cls(*row) for row in rows]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        with self._conn() as conn:
            return [tuple(row) for row in self._send(conn, POSTGRES.sql(sql), self._params(params)).fetchall()]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._conn() as conn:
            return int(self._send(conn, POSTGRES.sql(sql), self._params(params)).rowcount or 0)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
