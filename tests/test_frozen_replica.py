"""A replica frozen in the middle of a write (SIGSTOP: a paused VM, a hung host) holds up the other
replicas' writes of what it holds (one run) for a few seconds, not for as long as it stays frozen: its
session, idle inside its transaction, is ended by PostgreSQL (``idle_in_transaction_session_timeout``)
and its locks with it. Writes of anything else do not wait for it at all."""

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

#: a replica's store, stopped inside a write transaction that holds one run (as a write of that run does)
HOLDER = """
import sys, time
from postgrip_agent.server.store import PostgresStore
store = PostgresStore(sys.argv[1])
with store.transaction():
    assert store.get_run(sys.argv[2]) is not None
    print("holding", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    yield from postgres_db()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_frozen_replica_delays_writes_of_the_run_it_holds_by_seconds_and_no_other(shared_postgres: str) -> None:
    with LocalServer(db=shared_postgres, port=0) as replica, Client.connect(replica.address) as client:
        held = client.workflow.start("W", id="held", task_queue="q")
        other = client.workflow.start("W", id="other", task_queue="q")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, shared_postgres, held.describe().run_id], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            os.kill(holder.pid, signal.SIGSTOP)
            started = time.monotonic()
            task = client.task.enqueue("job", queue="q")  # writes that touch nothing the frozen one holds
            other.signal("poke")
            unrelated = time.monotonic() - started
            started = time.monotonic()
            held.signal("poke")  # a write of the run it holds
            waited = time.monotonic() - started
        finally:
            holder.kill()
            holder.wait(timeout=30)
        assert task.state == "queued"
        assert held.history()[-1]["type"] == "WorkflowSignaled"
    assert unrelated < 1.0, f"writes of other runs waited {unrelated:.1f} s for the frozen replica"
    assert 2.0 < waited < 6.0, f"the write of the held run waited {waited:.1f} s"  # it did wait, and not long
