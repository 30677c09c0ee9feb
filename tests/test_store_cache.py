"""The SQLite store keeps recently used task and run rows in memory: reads must stay exact.

A read by key must see every committed change: this store's own writes, a rolled-back
transaction's absence, bulk deletes, and commits made by another connection to the same file
(another process serving it, a repair script).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from postgrip_agent.server import SQLiteStore
from postgrip_agent.server.store import TaskRecord


def _task(task_id: str, **fields: object) -> TaskRecord:
    base = dict(
        id=task_id,
        namespace="default",
        queue="q",
        type="activity:x",
        state="queued",
        attempt=1,
        lease_timeout_seconds=30,
        created_at=1.0,
        updated_at=1.0,
        payload={"n": 1},
    )
    base.update(fields)
    return TaskRecord(**base)  # type: ignore[arg-type]


def test_a_read_returns_a_fresh_record_each_time(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "a.db"))
    with store.transaction():
        store.insert_task(_task("t1"))
    first = store.get_task("t1")
    assert first is not None
    first.payload["n"] = 99  # a caller mutating what it read changes nothing stored
    first.state = "leased"
    again = store.get_task("t1")
    assert again is not None and again.payload == {"n": 1} and again.state == "queued"
    store.close()


def test_a_rolled_back_update_is_not_seen(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "b.db"))
    with store.transaction():
        store.insert_task(_task("t1"))
    with pytest.raises(RuntimeError):
        with store.transaction():
            task = store.get_task("t1")
            assert task is not None
            store.update_task(attrs.evolve(task, state="leased", payload={"n": 2}))
            assert store.get_task("t1").state == "leased"  # type: ignore[union-attr]
            raise RuntimeError("the change fails half way")
    after = store.get_task("t1")
    assert after is not None and after.state == "queued" and after.payload == {"n": 1}
    store.close()


def test_a_commit_by_another_connection_is_seen(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    ours, theirs = SQLiteStore(path), SQLiteStore(path)
    with ours.transaction():
        ours.insert_task(_task("t1"))
    assert ours.get_task("t1").state == "queued"  # type: ignore[union-attr]
    with theirs.transaction():
        task = theirs.get_task("t1")
        assert task is not None
        theirs.update_task(attrs.evolve(task, state="succeeded", result={"ok": True}))
    seen = ours.get_task("t1")  # outside a transaction
    assert seen is not None and seen.state == "succeeded" and seen.result == {"ok": True}
    with theirs.transaction():
        theirs.update_task(attrs.evolve(seen, state="failed"))
    with ours.transaction():  # inside one
        assert ours.get_task("t1").state == "failed"  # type: ignore[union-attr]
    ours.close()
    theirs.close()


def test_compaction_forgets_the_rows_it_deleted(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "d.db"))
    with store.transaction():
        store.insert_task(_task("t1", state="succeeded", updated_at=1.0))
    assert store.get_task("t1") is not None
    with store.transaction():
        removed, _ = store.compact(cutoff=10.0)
    assert removed == 1
    assert store.get_task("t1") is None
    store.close()


def test_many_rows_stay_exact_past_the_cache_size(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "e.db"))
    with store.transaction():
        for i in range(5000):
            store.insert_task(_task(f"t{i}", payload={"i": i}))
    assert all(store.get_task(f"t{i}").payload == {"i": i} for i in range(0, 5000, 7))  # type: ignore[union-attr]
    assert store.get_task("missing") is None
    store.close()


@pytest.mark.parametrize(
    "before,after",
    [
        ({"n": 1}, {"n": True}),  # equal to Python, not to JSON
        ({"n": 1}, {"n": 1.0}),
        ({"n": [1, 2]}, {"n": [1, 2, 3]}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # the same object in another key order
        ({"n": 1}, None),
    ],
)
def test_an_update_stores_exactly_the_new_json(tmp_path: Path, before: object, after: object) -> None:
    """Unchanged JSON columns keep their stored text; a changed one is written, however slight the change."""
    path = str(tmp_path / "f.db")
    store, reader = SQLiteStore(path), SQLiteStore(path)
    with store.transaction():
        store.insert_task(_task("t1", payload=before))
    with store.transaction():
        task = store.get_task("t1")
        assert task is not None
        store.update_task(attrs.evolve(task, payload=after, state="leased"))
    read = reader.get_task("t1")  # another connection: what the file holds
    assert read is not None and read.state == "leased"
    assert json.dumps(read.payload) == json.dumps(after)
    store.close()
    reader.close()


def test_an_in_place_change_to_a_json_value_is_stored(tmp_path: Path) -> None:
    path = str(tmp_path / "g.db")
    store, reader = SQLiteStore(path), SQLiteStore(path)
    with store.transaction():
        store.insert_task(_task("t1", payload={"items": [1]}))
    for expected in ([1], [1, 2], [1, 2, 3]):
        task = store.get_task("t1")
        assert task is not None and task.payload == {"items": expected}
        task.payload["items"].append(len(expected) + 1)
        with store.transaction():
            store.update_task(task)
        unchanged = store.get_task("t1")
        assert unchanged is not None
        with store.transaction():
            store.update_task(unchanged)  # written again unchanged: the text is kept
    final = reader.get_task("t1")
    assert final is not None and final.payload == {"items": [1, 2, 3, 4]}
    store.close()
    reader.close()
