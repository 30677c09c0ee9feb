"""Versioned schema migrations of both stores.

Each store keeps a ``schema_migrations`` table (version, name, when applied) and, at start-up,
applies in order the migrations it lacks, inside one transaction. A migration is never edited
once released: a change to the schema is a new migration at the end of its list.

Migration 1 holds the tables as they were when versioning began, written out. A field added to
a record class of ``store.py`` needs a migration that adds its column (a test compares them).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Set, Tuple, Type

import attrs

from .base import (
    HistoryRecord,
    IdempotentRecord,
    NamespaceRecord,
    RunRecord,
    ScheduleRecord,
    SessionRecord,
    TaskEventRecord,
    TaskRecord,
)


@attrs.frozen
class Migration:
    """One numbered change to the schema, applied once, in order, inside a transaction."""

    version: int
    name: str
    statements: Tuple[str, ...]


#: table -> (record class, primary key)
RECORD_TABLES: Dict[str, Tuple[Type[Any], str]] = {
    "tasks": (TaskRecord, "id"),
    "runs": (RunRecord, "run_id"),
    "history": (HistoryRecord, "seq"),
    "task_events": (TaskEventRecord, "seq"),
    "namespaces": (NamespaceRecord, "name"),
    "sessions": (SessionRecord, "token"),
    "schedules": (ScheduleRecord, "id"),
    "idempotency": (IdempotentRecord, "key"),
}
JSON_FIELDS = frozenset(
    {
        "payload",
        "result",
        "retry",
        "memo",
        "search_attributes",
        "attributes",
        "details",
        "spec",
        "action",
        "body",
        "heartbeat_details",
    }
)
#: tables whose seq PostgreSQL numbers (BIGSERIAL)
SERIAL_TABLES = frozenset({"tasks", "runs", "history", "task_events"})

INDEXES = [
    "CREATE INDEX IF NOT EXISTS tasks_poll ON tasks(namespace, queue, state, seq)",
    "CREATE INDEX IF NOT EXISTS tasks_run ON tasks(run_id, state)",
    "CREATE INDEX IF NOT EXISTS tasks_lease ON tasks(state, leased_until)",
    "CREATE INDEX IF NOT EXISTS tasks_timer ON tasks(state, fire_at)",
    "CREATE INDEX IF NOT EXISTS tasks_not_before ON tasks(state, not_before)",
    "CREATE INDEX IF NOT EXISTS tasks_timeout ON tasks(timeout_at)",
    "CREATE INDEX IF NOT EXISTS runs_id ON runs(id, seq)",
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent_run_id, state)",
    "CREATE INDEX IF NOT EXISTS runs_deadline ON runs(state, deadline)",
    "CREATE INDEX IF NOT EXISTS history_run ON history(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS task_events_task ON task_events(task_id, seq)",
    "CREATE INDEX IF NOT EXISTS schedules_due ON schedules(state, next_run_at)",
    "CREATE INDEX IF NOT EXISTS sessions_family ON sessions(family_id)",
    "CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency(created_at)",
]

#: migration 4: the listings' orders and filters served by an index (keyset pages start at a position)
LISTING_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_ns_created ON runs(namespace, created_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_ns_updated ON runs(namespace, updated_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_ns_state_created ON runs(namespace, state, created_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_ns_type_created ON runs(namespace, type, created_at, seq)",
    "CREATE INDEX IF NOT EXISTS tasks_ns_created ON tasks(namespace, created_at, seq)",
)


#: PostgreSQL's migration 1, as released: never edit it; add a migration instead.
_POSTGRES_1: Tuple[str, ...] = (
    (
        "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, namespace TEXT, queue TEXT, type TEXT, "
        "state TEXT, attempt BIGINT, lease_timeout_seconds BIGINT, created_at DOUBLE PRECISION, "
        "updated_at DOUBLE PRECISION, payload JSON, tenant_id TEXT, agent_id TEXT, "
        "not_before DOUBLE PRECISION, leased_until DOUBLE PRECISION, result JSON, error TEXT, run_id TEXT, "
        "wake_pending BOOLEAN NOT NULL DEFAULT FALSE, fire_at DOUBLE PRECISION, "
        "first_scheduled_at DOUBLE PRECISION, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE, "
        "lease_token TEXT, attempt_started_at DOUBLE PRECISION, last_heartbeat_at DOUBLE PRECISION, "
        "heartbeat_details JSON, timeout_at DOUBLE PRECISION, timeout_kind TEXT, history_cursor BIGINT, "
        "seq BIGSERIAL UNIQUE)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, id TEXT, namespace TEXT, type TEXT, "
        "queue TEXT, task_id TEXT, state TEXT, created_at DOUBLE PRECISION, updated_at DOUBLE PRECISION, "
        "attempt BIGINT, tenant_id TEXT, agent_id TEXT, run_timeout_ms BIGINT, deadline DOUBLE PRECISION, "
        "retry JSON, memo JSON, search_attributes JSONB, result JSON, error TEXT, parent_id TEXT, "
        "parent_run_id TEXT, parent_task_id TEXT, parent_cancellation_type TEXT, "
        "continued_from_run_id TEXT, next_run_id TEXT, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE, "
        "seq BIGSERIAL UNIQUE)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS history (run_id TEXT, workflow_id TEXT, type TEXT, "
        "created_at DOUBLE PRECISION, task_id TEXT, attributes JSON, tenant_id TEXT, "
        "seq BIGSERIAL PRIMARY KEY)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS task_events (task_id TEXT, kind TEXT, created_at DOUBLE PRECISION, "
        "agent_id TEXT, stage TEXT, message TEXT, stream TEXT, data TEXT, details JSON, tenant_id TEXT, "
        "seq BIGSERIAL PRIMARY KEY)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS namespaces (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION, "
        "updated_at DOUBLE PRECISION, tenant_id TEXT)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, kind TEXT, agent_id TEXT, "
        "family_id TEXT, expires_at DOUBLE PRECISION)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, namespace TEXT, state TEXT, spec JSON, "
        "action JSON, next_run_at DOUBLE PRECISION, created_at DOUBLE PRECISION, "
        "updated_at DOUBLE PRECISION, overlap_policy TEXT, tenant_id TEXT, last_run_at DOUBLE PRECISION, "
        "last_run_id TEXT, next_nominal_at DOUBLE PRECISION, note TEXT)"
    ),
    ("CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, created_at DOUBLE PRECISION, status BIGINT, body JSON)"),
)

#: SQLite's migration 1, as released (the tables of files written before versioning began, which
#: it adopts, adding the columns such a file lacks): never edit it; add a migration instead.
_SQLITE_1: Tuple[str, ...] = (
    (
        "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, namespace, queue, type, state, attempt, "
        "lease_timeout_seconds, created_at, updated_at, payload TEXT, tenant_id, agent_id, not_before, "
        "leased_until, result TEXT, error, run_id, wake_pending, fire_at, first_scheduled_at, "
        "cancel_requested, lease_token, attempt_started_at, last_heartbeat_at, heartbeat_details TEXT, "
        "timeout_at, timeout_kind, history_cursor, seq)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, id, namespace, type, queue, task_id, "
        "state, created_at, updated_at, attempt, tenant_id, agent_id, run_timeout_ms, deadline, "
        "retry TEXT, memo TEXT, search_attributes TEXT, result TEXT, error, parent_id, parent_run_id, "
        "parent_task_id, parent_cancellation_type, continued_from_run_id, next_run_id, cancel_requested, "
        "seq)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS history (run_id, workflow_id, type, created_at, task_id, "
        "attributes TEXT, tenant_id, seq INTEGER PRIMARY KEY AUTOINCREMENT)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS task_events (task_id, kind, created_at, agent_id, stage, message, "
        "stream, data, details TEXT, tenant_id, seq INTEGER PRIMARY KEY AUTOINCREMENT)"
    ),
    ("CREATE TABLE IF NOT EXISTS namespaces (name TEXT PRIMARY KEY, created_at, updated_at, tenant_id)"),
    ("CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, kind, agent_id, family_id, expires_at)"),
    (
        "CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, namespace, state, spec TEXT, "
        "action TEXT, next_run_at, created_at, updated_at, overlap_policy, tenant_id, last_run_at, "
        "last_run_id, next_nominal_at, note)"
    ),
    ("CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, created_at, status, body TEXT)"),
)


#: migration 5: counts of runs kept by the database itself, per namespace, queue, type and state
#: (and, on PostgreSQL, per shard of the run id, so concurrent writes seldom share a row): a count
#: by those filters sums a few rows instead of scanning every run
_COUNT_COLUMNS = "namespace TEXT NOT NULL, queue TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL"
_RUN_COUNTS_TABLE = f"CREATE TABLE IF NOT EXISTS run_counts ({_COUNT_COLUMNS}, shard INTEGER NOT NULL, n BIGINT NOT NULL)"
_RUN_COUNTS_KEY = "CREATE UNIQUE INDEX IF NOT EXISTS run_counts_key ON run_counts(namespace, state, type, queue, shard)"
_RUN_COUNTS_FILL = (
    "INSERT INTO run_counts (namespace, queue, type, state, shard, n) SELECT COALESCE(namespace, ''), "
    "COALESCE(queue, ''), COALESCE(type, ''), COALESCE(state, ''), 0, COUNT(*) FROM runs "
    "GROUP BY 1, 2, 3, 4"
)
COUNT_SHARDS = 16


def _count_change(row: str, delta: str, shard: str) -> str:
    """Add ``delta`` to the count of ``row`` (OLD or NEW)'s namespace, queue, type and state."""
    return (
        f"INSERT INTO run_counts (namespace, queue, type, state, shard, n) VALUES (COALESCE({row}.namespace, ''), "
        f"COALESCE({row}.queue, ''), COALESCE({row}.type, ''), COALESCE({row}.state, ''), {shard}, {delta}) "
        f"ON CONFLICT (namespace, state, type, queue, shard) DO UPDATE SET n = run_counts.n + ({delta})"
    )


_PG_SHARD = f"abs(hashtext({{row}}.run_id)) % {COUNT_SHARDS}"
_PG_RUN_COUNTS = (
    _RUN_COUNTS_TABLE,
    _RUN_COUNTS_KEY,
    _RUN_COUNTS_FILL,
    "CREATE OR REPLACE FUNCTION run_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state AND OLD.type IS NOT DISTINCT FROM NEW.type "
    "AND OLD.queue IS NOT DISTINCT FROM NEW.queue AND OLD.namespace IS NOT DISTINCT FROM NEW.namespace THEN RETURN NULL; END IF; "
    f"IF TG_OP <> 'INSERT' THEN {_count_change('OLD', '-1', _PG_SHARD.format(row='OLD'))}; END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_count_change('NEW', '1', _PG_SHARD.format(row='NEW'))}; END IF; "
    "RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS run_counts_follow ON runs",
    "CREATE TRIGGER run_counts_follow AFTER INSERT OR UPDATE OR DELETE ON runs FOR EACH ROW EXECUTE FUNCTION run_counts_follow()",
)
_SQLITE_CHANGED = (
    "OLD.state IS NOT NEW.state OR OLD.type IS NOT NEW.type OR OLD.queue IS NOT NEW.queue OR OLD.namespace IS NOT NEW.namespace"
)
_SQLITE_RUN_COUNTS = (
    _RUN_COUNTS_TABLE,
    _RUN_COUNTS_KEY,
    _RUN_COUNTS_FILL,
    f"CREATE TRIGGER IF NOT EXISTS run_counts_insert AFTER INSERT ON runs BEGIN {_count_change('NEW', '1', '0')}; END",
    f"CREATE TRIGGER IF NOT EXISTS run_counts_update AFTER UPDATE ON runs WHEN {_SQLITE_CHANGED} BEGIN "
    f"{_count_change('OLD', '-1', '0')}; {_count_change('NEW', '1', '0')}; END",
    f"CREATE TRIGGER IF NOT EXISTS run_counts_delete AFTER DELETE ON runs BEGIN {_count_change('OLD', '-1', '0')}; END",
)


def _pollers(seconds_type: str) -> Tuple[str, ...]:
    """Migration 6: what agents' polls told the service (queue, agent, types, last seen)."""
    return (
        f"CREATE TABLE IF NOT EXISTS queue_pollers (namespace TEXT NOT NULL, queue TEXT NOT NULL, "
        f"agent_id TEXT NOT NULL, types TEXT NOT NULL, last_seen {seconds_type} NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS queue_pollers_key ON queue_pollers(namespace, queue, agent_id)",
    )


POSTGRES_MIGRATIONS: List[Migration] = [
    Migration(1, "tables and indexes", _POSTGRES_1 + tuple(INDEXES)),
    Migration(
        2,
        "idempotency keys remember the request they answered",
        ("ALTER TABLE idempotency ADD COLUMN IF NOT EXISTS request_digest TEXT",),
    ),
    Migration(3, "agent sessions are bound to a namespace", ("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS namespace TEXT",)),
    Migration(4, "indexes for the listings' orders and filters", LISTING_INDEXES),
    Migration(5, "counts of runs kept by a trigger", _PG_RUN_COUNTS),
    Migration(6, "agents polling each queue", _pollers("DOUBLE PRECISION")),
]

SQLITE_MIGRATIONS: List[Migration] = [
    Migration(1, "tables and indexes (adopts a file written before versioned migrations)", _SQLITE_1 + tuple(INDEXES)),
    Migration(
        2, "idempotency keys remember the request they answered", ("ALTER TABLE idempotency ADD COLUMN request_digest TEXT",)
    ),
    Migration(3, "agent sessions are bound to a namespace", ("ALTER TABLE sessions ADD COLUMN namespace TEXT",)),
    Migration(4, "indexes for the listings' orders and filters", LISTING_INDEXES),
    Migration(5, "counts of runs kept by a trigger", _SQLITE_RUN_COUNTS),
    Migration(6, "agents polling each queue", _pollers("REAL")),
]


def columns_of(statement: str) -> List[Tuple[str, str]]:
    """(name, declaration) of each column a CREATE TABLE statement declares."""
    inside = statement[statement.index("(") + 1 : statement.rindex(")")]
    out = []
    for column in inside.split(", "):
        name, _, declaration = column.partition(" ")
        out.append((name, declaration))
    return out


def table_of(statement: str) -> str:
    """The table a CREATE TABLE IF NOT EXISTS statement creates."""
    return statement.split()[5]


def pending(migrations: Sequence[Migration], done: Set[int]) -> List[Migration]:
    """The migrations a database that applied ``done`` still lacks, in order."""
    return [m for m in migrations if m.version not in done]


def newest_known(migrations: Sequence[Migration], done: Set[int]) -> int:
    """The schema version this code knows; refuses a database migrated further by a newer version."""
    newest = max((m.version for m in migrations), default=0)
    if done and max(done) > newest:
        raise RuntimeError(
            f"the database's schema is at version {max(done)}, newer than this version of the "
            f"service knows ({newest}): upgrade postgrip-agent-sync"
        )
    return newest
