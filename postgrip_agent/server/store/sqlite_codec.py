"""How store records become SQLite rows and back: one compiled codec per record class.

A record's row holds its fields in declaration order; JSON-valued fields are stored as text,
flags as 0/1, everything else as it is. The conversions run on every read and write of the
service, so each class's are generated once as straight-line code (no per-field loop).

Unchanged JSON columns are not serialized again: a row written or read through a codec comes
with *marks*, one per JSON column, each an exact fingerprint of the value (``marshal`` format
2: several times cheaper than JSON encoding, and unlike ``==`` it tells 1, 1.0 and True apart).
Writing the record again, a column whose value has the same mark keeps its stored text.
"""

from __future__ import annotations

import json
import marshal
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attrs

#: fields stored as JSON text; as 0/1
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
BOOL_FIELDS = frozenset({"wake_pending", "cancel_requested"})

dumps = json.JSONEncoder(separators=(",", ":")).encode
#: a stored row, and the marks of its JSON columns (None where not known)
Marks = Tuple[Optional[bytes], ...]


@attrs.frozen
class Codec:
    """A record class's column names, and its conversions to and from a row in that order."""

    names: Tuple[str, ...]
    #: a row (in ``names`` order) as a new record
    build: Callable[[Sequence[Any]], Any]
    #: a record as a row (in ``names`` order), for rows that are not kept in memory
    values: Callable[[Any], Tuple[Any, ...]]
    #: a record as a row (in ``names`` order) and its marks; given the row and marks it had, the
    #: JSON columns whose values are unchanged keep their text
    row: Callable[[Any, Optional[Tuple[Any, ...]], Optional[Marks]], Tuple[Tuple[Any, ...], Marks]]
    #: marks that say nothing is known (a row read from the file)
    unknown: Marks


_CODECS: Dict[type, Codec] = {}


def codec(cls: type) -> Codec:
    """The codec of a record class (an attrs class), compiled on first use."""
    found = _CODECS.get(cls)
    if found is None:
        found = _CODECS[cls] = _compile(cls)
    return found


def _compile(cls: type) -> Codec:
    names = tuple(field.name for field in attrs.fields(cls))
    if not all(name.isidentifier() and not name.startswith("_") for name in names):
        raise TypeError(f"{cls.__name__}: store records need public field names")
    reads: List[str] = []
    plain: List[str] = []
    columns: List[str] = []
    lines: List[str] = []
    marks: List[str] = []
    for i, name in enumerate(names):
        if name in JSON_FIELDS:
            m = len(marks)
            reads.append(f"{name}=None if row[{i}] is None else loads(row[{i}])")
            plain.append(f"None if record.{name} is None else dumps(record.{name})")
            lines += [
                f"    v = record.{name}",
                f"    if v is None: c{i} = m{m} = None",
                "    else:",
                f"        m{m} = fingerprint(v, 2)",
                f"        c{i} = old[{i}] if old is not None and marks[{m}] == m{m} else dumps(v)",
            ]
            columns.append(f"c{i}")
            marks.append(f"m{m}")
        elif name in BOOL_FIELDS:
            reads.append(f"{name}=bool(row[{i}])")
            columns.append(f"1 if record.{name} else 0")
            plain.append(columns[-1])
        else:
            reads.append(f"{name}=row[{i}]")
            columns.append(f"record.{name}")
            plain.append(columns[-1])
    source = (
        f"def build(row):\n    return cls({', '.join(reads)})\n"
        f"def values(record):\n    return ({', '.join(plain)},)\n"
        "def row(record, old, marks):\n"
        + "".join(line + "\n" for line in lines)
        + f"    return ({', '.join(columns)},), ({''.join(mark + ', ' for mark in marks)})\n"
    )
    scope: Dict[str, Any] = {"cls": cls, "loads": json.loads, "dumps": dumps, "fingerprint": marshal.dumps}
    exec(compile(source, f"<store codec {cls.__name__}>", "exec"), scope)  # noqa: S102 - names checked above
    return Codec(names, scope["build"], scope["values"], scope["row"], (None,) * len(marks))


def build_by_name(cls: type, columns: Sequence[str], row: Sequence[Any]) -> Any:
    """A record from a row whose columns come in another order (a file written by an older version)."""
    kwargs: Dict[str, Any] = {}
    for name, value in zip(columns, row):
        if name in JSON_FIELDS:
            value = None if value is None else json.loads(value)
        elif name in BOOL_FIELDS:
            value = bool(value)
        kwargs[name] = value
    return cls(**kwargs)
