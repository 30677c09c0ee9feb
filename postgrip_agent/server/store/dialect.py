"""What truly differs between the SQL databases the store runs on, and nothing else.

The queries are written once, in ``sql``, with ``?`` placeholders; a ``Dialect`` says how
one database spells the few things SQL does not standardise: its placeholder, a prefix match,
row locks that skip rows other transactions hold, a search in a JSON column, a case-insensitive
LIKE and an insert that replaces a row with the same key.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Sequence, Tuple

import attrs


@attrs.frozen
class Dialect:
    """One database's spelling of what the shared queries need."""

    name: str
    #: the driver's placeholder (``?`` is what the shared queries are written with)
    placeholder: str
    #: appended to a SELECT that leases a row: rows other transactions lock are passed over
    skip_locked: str
    #: a case-insensitive LIKE (SQLite's LIKE is, for ASCII)
    ilike: str
    #: ``prefix(column, prefixes)`` -> a clause true when the column starts with one of them, and its parameters
    prefix_match: Callable[[str, Sequence[str]], Tuple[str, List[Any]]]
    #: ``json_has(column, attribute, value)`` -> a clause true when the JSON object's attribute is the
    #: value, or holds it when a list, and its parameters (values adapted by the store's ``wrap_json``)
    json_has: Callable[[str, str, Any], Tuple[str, List[Any]]]
    #: ``upsert(table, names, key)`` -> an insert that replaces the row with the same key
    upsert: Callable[[str, Sequence[str], str], str]

    def insert(self, table: str, names: Sequence[str]) -> str:
        """A plain insert of ``names`` into ``table`` (shared: both databases spell it alike)."""
        return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({_values(names)})"

    def sql(self, text: str) -> str:
        """A shared query in this database's placeholders."""
        return _translate(text, self.placeholder)


@functools.lru_cache(maxsize=4096)
def _translate(text: str, placeholder: str) -> str:
    return text if placeholder == "?" else text.replace("?", placeholder)


def _values(names: Sequence[str]) -> str:
    return ", ".join("?" for _ in names)


def _sqlite_prefix(column: str, prefixes: Sequence[str]) -> Tuple[str, List[Any]]:
    params: List[Any] = []
    for prefix in prefixes:
        params += [len(prefix), prefix]
    return "(" + " OR ".join(f"substr({column}, 1, ?) = ?" for _ in prefixes) + ")", params


def _sqlite_json_has(column: str, attribute: str, value: Any) -> Tuple[str, List[Any]]:
    # json_each yields a scalar itself, and a list's items
    return (f"EXISTS (SELECT 1 FROM json_each({column}, ?) WHERE json_each.value = ?)", [f'$."{attribute}"', value])


def _sqlite_upsert(table: str, names: Sequence[str], key: str) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({_values(names)})"


def _postgres_prefix(column: str, prefixes: Sequence[str]) -> Tuple[str, List[Any]]:
    return "(" + " OR ".join(f"starts_with({column}, ?)" for _ in prefixes) + ")", list(prefixes)


def _postgres_json_has(column: str, attribute: str, value: Any) -> Tuple[str, List[Any]]:
    return (
        f"EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof({column} -> ?) WHEN 'array' "
        f"THEN {column} -> ? ELSE jsonb_build_array({column} -> ?) END) AS item WHERE item = ?)",
        [attribute, attribute, attribute, JsonValue(value)],
    )


def _postgres_upsert(table: str, names: Sequence[str], key: str) -> str:
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({_values(names)}) ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(
        f"{n} = EXCLUDED.{n}" for n in names if n != key
    )


@attrs.frozen
class JsonValue:
    """A parameter the database compares as JSON (PostgreSQL's jsonb); the store adapts it for its driver."""

    value: Any


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    skip_locked="",
    ilike="LIKE",
    prefix_match=_sqlite_prefix,
    json_has=_sqlite_json_has,
    upsert=_sqlite_upsert,
)
POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    ilike="ILIKE",
    prefix_match=_postgres_prefix,
    json_has=_postgres_json_has,
    upsert=_postgres_upsert,
)
