"""Do listings cost more as history grows? The same requests on a small store (``--small`` finished
runs, 2,000 by default: enough that every page asked for is full, so both sides render the same
rows) and on one holding ``--runs`` (100,000 by default), on SQLite and on PostgreSQL, in one run.

    POSTGRIP_BENCH_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python benchmarks/list_growth.py [--runs 100000]

Each request goes over HTTP to a LocalServer in this process (a client as a user's process would
send it); the figure is the median of ``--samples`` requests. After the bulk fill, PostgreSQL's
statistics are refreshed and dead row versions cleared (``VACUUM ANALYZE``), as autovacuum would
within a minute (the counts' rows, updated once per run, are what it clears). Requests: the first page of the
namespace's runs, a later page (the 20th, through page tokens), a page filtered by state and by
type, the count, and the web UI's list page (the newest 50 and four counts by state). Prints;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional

import requests

from postgrip_agent.server import LocalServer
from postgrip_agent.server.store import RunRecord

PG = os.environ.get("POSTGRIP_BENCH_POSTGRES")


def _fill(server: LocalServer, runs: int) -> None:
    with server.engine.operation():
        for i in range(runs):
            at = 1_000.0 + i * 0.01
            server.store.insert_run(
                RunRecord(
                    run_id=f"run-{i}",
                    id=f"wf-{i}",
                    namespace="default",
                    type="Report" if i % 10 else "Other",
                    queue="q",
                    task_id=f"task-{i}",
                    state="succeeded",
                    created_at=at,
                    updated_at=at,
                )
            )


def _median_ms(session: requests.Session, url: str, params: Dict[str, Any], samples: int) -> float:
    times: List[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = session.get(url, params=params, timeout=60)
        times.append(time.perf_counter() - started)
        answer.raise_for_status()
    return statistics.median(times) * 1000


def _ui_page_ms(session: requests.Session, address: str, samples: int) -> float:
    """The web UI's list page: the newest 50 runs and the four counts by state, one after another."""
    times: List[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        session.get(
            f"{address}/api/v1/workflows", params={"namespace": "default", "limit": 50, "order_by": "-created_at"}, timeout=60
        ).raise_for_status()
        for state in ("running", "succeeded", "failed", "continued_as_new"):
            session.get(
                f"{address}/api/v1/workflows/count", params={"namespace": "default", "state": state}, timeout=60
            ).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _deep_token(session: requests.Session, address: str, pages: int) -> Optional[str]:
    token = None
    for _ in range(pages):
        answer = session.get(
            f"{address}/api/v1/workflows",
            params={"namespace": "default", "limit": 100, **({"page_token": token} if token else {})},
        )
        token = answer.headers.get("X-Next-Page-Token")
        if token is None:
            return None
    return token


def _analyze(db: str) -> None:
    """Refresh PostgreSQL's statistics after the bulk fill and clear dead row versions, as autovacuum
    does within a minute of it (without statistics the planner, still counting an empty table, sorts
    instead of using an index; the run counts' few rows were each updated thousands of times)."""
    if not db.startswith("postgres"):
        return
    import psycopg

    schema = db.rsplit("schema=", 1)[1]
    with psycopg.connect(PG or "", autocommit=True) as conn:
        for table in ("runs", "tasks", "run_counts"):
            conn.execute(f'VACUUM ANALYZE "{schema}".{table}')


def measure(db: str, runs: int, samples: int) -> Dict[str, float]:
    with LocalServer(db=db, port=0) as server, requests.Session() as session:
        _fill(server, runs)
        _analyze(db)
        base = f"{server.address}/api/v1/workflows"
        figures = {
            "first page": _median_ms(session, base, {"namespace": "default", "limit": 100}, samples),
            "by state": _median_ms(session, base, {"namespace": "default", "state": "running", "limit": 100}, samples),
            "by type": _median_ms(session, base, {"namespace": "default", "type": "Other", "limit": 100}, samples),
            "count": _median_ms(session, base + "/count", {"namespace": "default"}, samples),
        }
        figures["ui page"] = _ui_page_ms(session, server.address, samples)
        token = _deep_token(session, server.address, 19)
        figures["20th page"] = _median_ms(
            session, base, {"namespace": "default", "limit": 100, **({"page_token": token} if token else {})}, samples
        )
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    stores = {"sqlite": lambda: os.path.join(tempfile.mkdtemp(prefix="postgrip-lists-"), "service.db")}
    if PG:
        stores["postgresql"] = lambda: f"{PG}{'&' if '?' in PG else '?'}schema=bench_{uuid.uuid4().hex[:12]}"
    print(f"medians of {args.samples} requests, ms: {args.small:,} finished runs, then {args.runs:,}")
    print(f"{'store':<12}{'request':<12}{'small':>9}{'large':>9}{'large/small':>13}")
    for name, new_db in stores.items():
        small, large = measure(new_db(), args.small, args.samples), measure(new_db(), args.runs, args.samples)
        for request in small:
            print(f"{name:<12}{request:<12}{small[request]:>9.2f}{large[request]:>9.2f}{large[request] / small[request]:>12.2f}x")
    if not PG:
        print("(set POSTGRIP_BENCH_POSTGRES to measure PostgreSQL too)")


if __name__ == "__main__":
    main()
