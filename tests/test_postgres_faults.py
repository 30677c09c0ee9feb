"""PostgreSQL connections terminated under a running service (``pg_terminate_backend``, as a
fail-over, a restart or an operator does): runs complete once, callers see 503 or nothing,
never 500, and time-driven work (a due timer) is retried, not quarantined."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Iterator, List

import pytest

from postgrip_agent import Agent, Client, RetryOptions, activity, workflow
from postgrip_agent.errors import UnavailableError
from postgrip_agent.server import LocalServer

from .conftest import postgres_db


@activity.defn(name="pgfault_square")
def square(x: int) -> int:
    return x * x


@workflow.defn(name="SquareSleepSquare")
class SquareSleepSquare:
    @workflow.run
    def run(self, x: int):  # type: ignore[no-untyped-def]
        a = yield workflow.execute_activity(square, x, start_to_close_timeout=timedelta(seconds=30))
        yield workflow.sleep(timedelta(milliseconds=400))
        b = yield workflow.execute_activity(square, a, start_to_close_timeout=timedelta(seconds=30))
        return b


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_db()


def _terminator(admin_url: str, app: str, stop: threading.Event, killed: List[int]) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (app,),
            ).fetchall()
            killed.append(sum(1 for row in rows if row[0]))
            stop.wait(0.05)


def test_connections_terminated_mid_run_lose_no_run_and_answer_no_500(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from .conftest import POSTGRES_URL

    assert POSTGRES_URL
    app = f"pgfault-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.WARNING)
    with LocalServer(db=f"{pg_url}&application_name={app}", port=0) as server:
        client = Client.connect(server.address)
        with Agent(client, task_queue="pgf", workflows=[SquareSleepSquare], activities=[square]):
            handles = [client.start_workflow(SquareSleepSquare, n, task_queue="pgf") for n in range(1, 13)]
            stop, killed = threading.Event(), []  # type: ignore[var-annotated]
            killer = threading.Thread(target=_terminator, args=(POSTGRES_URL, app, stop, killed), daemon=True)
            killer.start()
            impatient = Client.connect(server.address, retry=RetryOptions(max_elapsed=0.3))
            deadline, extra = time.monotonic() + 3.0, 0
            while time.monotonic() < deadline:  # keep the service busy while its connections die
                extra += 1
                try:
                    handles.append(impatient.start_workflow(SquareSleepSquare, 2, task_queue="pgf", id=f"extra-{extra}"))
                except UnavailableError as err:  # refused while the database is away: never a 500
                    assert err.status == 503, err
                time.sleep(0.02)
            stop.set()
            killer.join(10)
            assert sum(killed) >= 10, f"only {sum(killed)} connections were terminated"
            results = [h.result(timeout=60) for h in handles]
        expected = [n**4 for n in range(1, 13)] + [16] * (len(handles) - 12)
        assert results == expected
        for handle in handles:
            types = [e.type for e in handle.fetch_history().events]
            assert types.count("WorkflowExecutionCompleted") == 1 and "WorkflowExecutionFailed" not in types, types
            assert types.count("TimerFired") == 1, types
    internal = [r.getMessage() for r in caplog.records if "internal error" in r.getMessage() or "quarantin" in r.getMessage()]
    assert not internal, internal[:3]
