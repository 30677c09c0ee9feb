"""The SQLite store: one file (or ``:memory:``), WAL mode, one transaction per change.

The queries are ``SQLStore``'s; this module connects, runs transactions, and keeps
recently used rows of the hot tables in memory."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar


from .dialect import SQLITE
from .migrations import RECORD_TABLES, SQLITE_MIGRATIONS, Migration, columns_of, newest_known, pending, table_of
from .sql import WRITES, SQLStore
from .sqlite_codec import Marks, build_by_name, codec

R = TypeVar("R")
log = logging.getLogger("postgrip_agent.server.sqlite")

#: per table and verb, the SQL of inserts and updates
_INSERT_SQL: Dict[Tuple[str, bool], str] = {}
_UPDATE_SQL: Dict[str, str] = {}

_TABLES = RECORD_TABLES

_AUTO_SEQ = {"history", "task_events"}
_SEQUENCED = {"tasks", "runs"}
#: tables whose rows are kept in memory by primary key, and how many of each at most
_CACHED = ("tasks", "runs")
_CACHE_ROWS = 4096
#: SQLite's words for a database that is unavailable for a while (busy, locked, I/O, full, out of memory)
_TRANSIENT_MESSAGES = (
    "locked",
    "busy",
    "disk i/o error",
    "disk is full",
    "unable to open database",
    "locking protocol",
    "out of memory",
)


#: the ``synchronous`` settings a store may commit with, and PRAGMA synchronous's number for each
SYNCHRONOUS = {"full": 2, "normal": 1}


def check_synchronous(synchronous: str) -> str:
    """``synchronous`` in lower case, or ValueError naming the choices."""
    if not isinstance(synchronous, str) or synchronous.lower() not in SYNCHRONOUS:
        raise ValueError(
            f"sqlite synchronous must be 'full' (the default: every acknowledged commit survives a power "
            f"loss) or 'normal' (faster; a power loss may undo the last commits), not {synchronous!r}"
        )
    return synchronous.lower()


class SQLiteStore(SQLStore):
    """``synchronous="full"`` (the default) syncs the write-ahead log to disk on every commit,
    so a change the service acknowledged survives a power loss or an operating-system crash.
    ``"normal"`` syncs only at checkpoints: every commit still survives the process crashing
    (SIGKILL, an exception), but a power loss may undo the last transactions acknowledged
    before it."""

    dialect = SQLITE

    def __init__(self, path: str = ":memory:", *, synchronous: str = "full") -> None:
        self.path = path
        self.synchronous = check_synchronous(synchronous)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._depth = 0
        self._wrote = False  # the open transaction changed a row
        self._lock = threading.RLock()
        #: per SELECT statement, whether its columns come in the record's own order (else their names:
        #: a file written by an older version orders them its own way), for this file only
        self._read_plans: Dict[str, Optional[Tuple[str, ...]]] = {}
        self.schema_version = self._migrate(SQLITE_MIGRATIONS)
        self._seq = {t: self._max_seq(t) for t in _SEQUENCED}
        # Recently written or read rows of the hot tables, by primary key, as stored (JSON as
        # text): a read by key skips SQLite. Written through on every insert and update; dropped
        # on rollback, after bulk deletes, and whenever another connection changed the file.
        self._cache: Dict[str, Dict[Any, Tuple[Tuple[Any, ...], Marks]]] = {table: {} for table in _CACHED}
        self._data_version = self._current_data_version()
        self._by_key_sql = {
            table: "SELECT {} FROM {} WHERE {} = ?".format(", ".join(codec(_TABLES[table][0]).names), table, _TABLES[table][1])
            for table in _CACHED
        }

    def transient(self, error: BaseException) -> bool:
        if not isinstance(error, sqlite3.OperationalError):
            return False  # IntegrityError, ProgrammingError...: the request or the code is wrong
        text = str(error).lower()
        return any(words in text for words in _TRANSIENT_MESSAGES)

    def _current_data_version(self) -> int:
        return int(self._send("PRAGMA data_version").fetchone()[0])

    def _drop_rows_if_stale(self) -> None:
        """Forget cached rows when another connection (another process) committed to the file."""
        version = self._current_data_version()
        if version != self._data_version:
            self._data_version = version
            self._forget_rows()

    def _forget_rows(self) -> None:
        for rows in self._cache.values():
            rows.clear()

    def _remember(self, table: str, key: Any, row: Tuple[Any, ...], marks: Marks) -> None:
        rows = self._cache.get(table)
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
            cached = self._cache[table].get(key)
            if cached is not None:
                return own.build(cached[0])
            found = self._send(self._by_key_sql[table], (key,)).fetchone()
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
            for migration in pending(migrations, done):
                log.info("applying SQLite schema migration %d: %s", migration.version, migration.name)
                for statement in migration.statements:
                    db.execute(statement)
                    if statement.startswith("CREATE TABLE"):
                        self._add_missing_columns(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))",
                    (migration.version, migration.name),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return newest_known(migrations, done)

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
            self._send("BEGIN IMMEDIATE")
            self._depth, self._wrote = 1, False
            try:
                self._drop_rows_if_stale()
                yield
            except BaseException:
                self._send("ROLLBACK")
                self._seq = {t: self._max_seq(t) for t in _SEQUENCED}
                self._forget_rows()
                raise
            else:
                began = time.perf_counter()
                self._send("COMMIT")
                self.commits += 1 if self._wrote else 0
                self.commit_took(time.perf_counter() - began)
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def durability(self) -> Dict[str, int]:
        with self._lock:
            wal = str(self._send("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
            return {"store_sqlite_synchronous": int(self._send("PRAGMA synchronous").fetchone()[0]), "store_sqlite_wal": int(wal)}

    def _records(self, cls: Type[R], sql: str, cursor: sqlite3.Cursor, rows: Sequence[Sequence[Any]]) -> List[R]:
        own = codec(cls)
        if sql not in self._read_plans:
            described = tuple(column[0] for column in cursor.description)
            self._read_plans[sql] = None if described == own.names else described
        columns = self._read_plans[sql]
        if columns is None:
            return [own.build(row) for row in rows]
        return [build_by_name(cls, columns, row) for row in rows]

    def _insert(self, table: str, record: Any, upsert: bool = False) -> None:
        own = codec(type(record))
        if table in _SEQUENCED:
            self._seq[table] += 1
            record.seq = self._seq[table]
        cached = table in self._cache
        row, marks = own.row(record, None, None) if cached else (own.values(record), own.unknown)
        names = own.names
        if table in _AUTO_SEQ:  # SQLite numbers these rows itself
            at = names.index("seq")
            row, names = row[:at] + row[at + 1 :], names[:at] + names[at + 1 :]
        sql = _INSERT_SQL.get((table, upsert))
        if sql is None:
            sql = _INSERT_SQL[(table, upsert)] = (
                SQLITE.upsert(table, names, _TABLES[table][1]) if upsert else SQLITE.insert(table, names)
            )
        cursor = self._send(sql, row)
        if table in _AUTO_SEQ:
            record.seq = int(cursor.lastrowid or 0)
        elif cached:
            self._remember(table, getattr(record, _TABLES[table][1]), row, marks)

    def _update(self, table: str, record: Any) -> None:
        _, key = _TABLES[table]
        own = codec(type(record))
        rows = self._cache.get(table)
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
        self._send(sql, row[:at] + row[at + 1 :] + (row[at],))

    def _send(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement (counted in ``round_trips``); called with the store's lock held."""
        self.round_trips += 1
        self.statements += 1
        if sql.startswith(WRITES):
            self._wrote = True
        return self._db.execute(sql, params)

    def _all(self, cls: Type[R], sql: str, params: Sequence[Any] = ()) -> List[R]:
        with self._lock:
            cursor = self._send(sql, tuple(params))
            return self._records(cls, sql, cursor, cursor.fetchall())

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        with self._lock:
            return [tuple(row) for row in self._send(sql, tuple(params)).fetchall()]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return int(self._send(sql, tuple(params)).rowcount)

    def _bulk_deleted(self) -> None:
        self._forget_rows()
