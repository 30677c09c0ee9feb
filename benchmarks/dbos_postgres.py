"""DBOS Transact on PostgreSQL, the peer of ``benchmarks/replicas.py``: run in DBOS's own venv.

    benchmarks/.dbos-venv/bin/python benchmarks/dbos_postgres.py URL --workflows 500 --latency 100

``URL`` names a database this creates and drops (DBOS keeps its tables in it). DBOS is configured
with only its database URL, its documented production set-up; the workflow is one step echoing
its argument, as ours is one activity, and is called directly (its fastest way; ``--handle``
starts it and waits on its handle instead, the shape of our client's calls). Prints one JSON line: workflows/s (``--workflows`` started
at once from 16 threads, from the first start to the last result), latency p50/p95 of one
workflow at a time (start to result, in ms), statements and commits per workflow (counted on
SQLAlchemy's engine events: every statement DBOS sends, every commit), and ``synchronous_commit``,
``fsync`` and the isolation levels as read back from DBOS's own connections.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Set
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dbos import DBOS

from _dbos_peer import one_step
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

COUNTS = {"statements": 0, "commits": 0}
ISOLATION: Set[str] = set()
SETTINGS: Dict[str, str] = {}
_lock = threading.Lock()


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
    with _lock:
        COUNTS["statements"] += 1


@event.listens_for(Engine, "commit")
def _commit(conn: Connection) -> None:
    with _lock:
        COUNTS["commits"] += 1


_BEGINS = [0]


@event.listens_for(Engine, "begin")
def _begin(conn: Connection) -> None:
    _BEGINS[0] += 1
    if _BEGINS[0] > 20:  # read back from DBOS's first connections only (each read is a round trip)
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    for name in ("synchronous_commit", "fsync"):
        cursor.execute(f"SHOW {name}")
        SETTINGS[name] = cursor.fetchone()[0]
    ISOLATION.add(str(conn.get_isolation_level()))


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--latency", type=int, default=100)
    parser.add_argument(
        "--handle", action="store_true", help="start each workflow and wait on its handle (default: call it, DBOS's fastest way)"
    )
    args = parser.parse_args()
    database = urlsplit(args.url).path.lstrip("/")

    DBOS(config={"name": "bench", "system_database_url": args.url, "log_level": "ERROR"})

    _, one = one_step(DBOS)
    DBOS.launch()
    try:
        one(-1)  # warm up
        latencies: List[float] = []
        for i in range(args.latency):
            started = time.perf_counter()
            assert (DBOS.start_workflow(one, i).get_result() if args.handle else one(i)) == i
            latencies.append((time.perf_counter() - started) * 1000)
        before = dict(COUNTS)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            if not args.handle:
                results = list(pool.map(one, range(args.workflows)))
            else:
                handles = list(pool.map(lambda i: DBOS.start_workflow(one, i), range(args.workflows)))
                results = list(pool.map(lambda h: h.get_result(), handles))
        elapsed = time.perf_counter() - started
        assert results == list(range(args.workflows))
        after = dict(COUNTS)
    finally:
        DBOS.destroy()
        with psycopg.connect(_admin_url(args.url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    latencies.sort()
    print(
        json.dumps(
            {
                "workflows_s": args.workflows / elapsed,
                "p50_ms": statistics.median(latencies),
                "p95_ms": latencies[int(len(latencies) * 0.95)],
                "statements_per_wf": (after["statements"] - before["statements"]) / args.workflows,
                "commits_per_wf": (after["commits"] - before["commits"]) / args.workflows,
                "settings": {**SETTINGS, "isolation": sorted(ISOLATION)},
            }
        )
    )


if __name__ == "__main__":
    main()
