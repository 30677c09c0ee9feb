"""A replica frozen in the middle of a write (SIGSTOP: a paused VM, a hung host) holds up the other
replicas' writes for a few seconds, not for as long as it stays frozen: its session, idle inside its
transaction, is ended by PostgreSQL (``idle_in_transaction_session_timeout``) and its locks with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest

from postgrip_agent import Client
from postgrip_agent.server import LocalServer

from .conftest import postgres_db

#: a replica's store, stopped inside a write transaction (holding what every write of its schema takes)
HOLDER = """
import sys, time
from postgrip_agent.server.store import PostgresStore
store = PostgresStore(sys.argv[1])
with store.transaction():
    store.get_namespace("default")
    print("holding", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    yield from postgres_db()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_frozen_replica_delays_the_others_writes_by_seconds(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres, port=0) as replica, Client.connect(replica.address) as client:
        client.task.enqueue("job", queue="q")  # the replica is up and writing
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, shared_postgres], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            os.kill(holder.pid, signal.SIGSTOP)
            started = time.monotonic()
            task = client.task.enqueue("job", queue="q")  # a write on the replica that is not frozen
            waited = time.monotonic() - started
        finally:
            holder.kill()
            holder.wait(timeout=30)
    assert task.state == "queued"
    assert 2.0 < waited < 6.0, f"the write waited {waited:.1f} s"  # it did wait for the frozen one, and not long
