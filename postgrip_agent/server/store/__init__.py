"""The store wing of the service: the interface and records (``base``), the one SQL store that
holds each query once (``sql``), a dialect per database (``dialect``), the two databases'
connections and transactions (``sqlite``, ``postgres``) and the schema (``migrations``).

The engine imports from here only; the HTTP wing never does.
"""

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
from .postgres import PostgresStore, is_postgres_url, safe_url
from .sqlite import SQLiteStore, check_synchronous

__all__ = [
    "HistoryRecord",
    "IdempotentRecord",
    "NamespaceRecord",
    "Page",
    "PollerRecord",
    "RunRecord",
    "ScheduleRecord",
    "SessionRecord",
    "Store",
    "TaskEventRecord",
    "TaskRecord",
    "contains_pattern",
    "PostgresStore",
    "SQLiteStore",
    "check_synchronous",
    "is_postgres_url",
    "safe_url",
]
