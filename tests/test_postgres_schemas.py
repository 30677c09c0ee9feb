"""Services on PostgreSQL schemas: replicas that start together on a new schema, and services
on different schemas of one database that write at the same time."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, List

import pytest

from .conftest import POSTGRES_URL, postgres_db


def _url(schema: str) -> str:
    assert POSTGRES_URL
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"


def _drop(schemas: List[str]) -> None:
    import psycopg

    assert POSTGRES_URL
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg() -> Any:
    yield from postgres_db()  # skips (or fails, where required) without PostgreSQL


def test_replicas_starting_together_on_a_new_schema_all_start(pg: str) -> None:
    from postgrip_agent.server.store import PostgresStore

    schemas = [f"start_{uuid.uuid4().hex[:12]}" for _ in range(50)]
    failures: List[BaseException] = []
    try:
        for schema in schemas:
            barrier = threading.Barrier(2)

            def start() -> None:
                barrier.wait()
                try:
                    PostgresStore(_url(schema), pool_size=1).close()
                except BaseException as err:  # noqa: BLE001 - collected and reported below
                    failures.append(err)

            threads = [threading.Thread(target=start) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        assert not failures, f"{len(failures)} of 100 starts failed: {failures[0]!r}"
    finally:
        _drop(schemas)


def test_services_on_two_schemas_do_not_wait_for_each_other(pg: str) -> None:
    from postgrip_agent.server.store import PostgresStore
    from postgrip_agent.server.store import NamespaceRecord

    schemas = [f"pair_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    one, two = PostgresStore(_url(schemas[0]), pool_size=2), PostgresStore(_url(schemas[1]), pool_size=2)
    try:
        done = threading.Event()

        def write_on_two() -> None:
            with two.transaction():
                two.insert_namespace(NamespaceRecord("other", 1.0, 1.0))
            done.set()

        with one.transaction():  # a write transaction on the first schema stays open...
            one.insert_namespace(NamespaceRecord("held", 1.0, 1.0))
            writer = threading.Thread(target=write_on_two)
            started = time.monotonic()
            writer.start()
            finished = done.wait(5.0)  # ...while the second schema's service writes
            waited = time.monotonic() - started
        writer.join(10)
        assert finished, f"the write on another schema waited for this one's transaction ({waited:.1f}s)"
        assert two.get_namespace("other") is not None and one.get_namespace("held") is not None
    finally:
        one.close()
        two.close()
        _drop(schemas)


def test_a_replica_alone_sends_no_notifications_until_another_says_hello(pg: str) -> None:
    from postgrip_agent.server.store import PostgresStore

    alone = PostgresStore(pg, alone_grace=0)
    newcomer = None
    try:
        alone.subscribe(lambda kind, key: None)
        with alone.transaction():
            alone.publish("run", "r-1")
        assert alone.statements == alone.round_trips  # BEGIN, COMMIT: no pg_notify beside it
        heard: List[Any] = []
        newcomer = PostgresStore(pg, alone_grace=0)
        newcomer.subscribe(lambda kind, key: heard.append((kind, key)))  # says hello on listening
        deadline = time.monotonic() + 10
        while ("run", "r-2") not in heard:
            assert time.monotonic() < deadline, "the first replica never published once another said hello"
            with alone.transaction():
                alone.publish("run", "r-2")
            time.sleep(0.02)
    finally:
        alone.close()
        if newcomer is not None:
            newcomer.close()


def test_every_change_of_a_transaction_reaches_the_other_replicas(pg: str) -> None:
    """A transaction's changes travel as few notifications (a line each), split under PostgreSQL's
    payload limit: a replica hears each one, and not its own."""
    from postgrip_agent.server.store import PostgresStore

    sender, listener = PostgresStore(pg), PostgresStore(pg)
    heard: List[Any] = []
    own: List[Any] = []
    try:
        listener.subscribe(lambda kind, key: heard.append((kind, key)))
        sender.subscribe(lambda kind, key: own.append((kind, key)))
        deadline = time.monotonic() + 10
        while not heard:  # until the listener listens (its thread connects on its own)
            assert time.monotonic() < deadline, "the listener never heard a probe"
            sender.publish("probe", "-")
            time.sleep(0.05)
        heard.clear()
        # about 16 kB of short notes, and long ones of two-byte characters (a payload is limited in bytes)
        keys = [f"{uuid.uuid4()}" for _ in range(400)] + [f"{i}" + "é" * 1500 for i in range(6)]
        with sender.transaction():
            for key in keys:
                sender.publish("run", key)
            sender.publish("available", "default\x1fq\x1fjob")
        deadline = time.monotonic() + 10
        changes = heard
        while len(changes) < len(keys) + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
            changes = [change for change in heard if change[0] != "probe"]  # a late probe is no change
        assert sorted(changes) == sorted([("run", key) for key in keys] + [("available", "default\x1fq\x1fjob")])
        assert own == []
        assert sender.statements - sender.round_trips >= 2  # the notifications shared the commit's round trip
    finally:
        sender.close()
        listener.close()


def test_the_pool_size_is_set_in_the_url(pg: str) -> None:
    from postgrip_agent.server.store import PostgresStore

    store = PostgresStore(f"{pg}&pool_size=3")
    try:
        assert store._pool.max_size == 3 and "pool_size" not in store.url
    finally:
        store.close()
    with pytest.raises(ValueError, match=r"pool_size='many' in the PostgreSQL URL: give a whole number"):
        PostgresStore(f"{pg}&pool_size=many")
