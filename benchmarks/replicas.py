"""The service on SQLite, on PostgreSQL with one replica and with two, and DBOS Transact on the same
PostgreSQL, measured interleaved in one run.

    POSTGRIP_BENCH_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python benchmarks/replicas.py [--workflows 500] [--reps 3]

Each replica is its own process (``python -m postgrip_agent.server``); two agents in this
process poll them (each given every address, in a different order), and a client starts
``--workflows`` one-activity workflows at once through them (16 threads), over HTTP as a
user's process would. DBOS runs in its own venv and process (``benchmarks/dbos_postgres.py``),
configured with only its database URL, on a database of its own on the same server, its workflow
one step. Printed per contender, medians of ``--reps`` interleaved runs:

- p50/p95 of one workflow at a time (start to result; ``--latency`` of them);
- workflows/s from the first start to the last result, and the ratio to DBOS;
- statements, commits and round trips per workflow (ours from the replicas' ``/readyz``
  stats; DBOS's statements and commits counted on SQLAlchemy's engine events);
- ``synchronous_commit``, ``fsync`` and the isolation level, read back from each side's connections;
- wake latency: a long-poll waiting on one replica, from another's enqueue request being sent
  to the poll's answer (and, as the peer, the same with poll and enqueue on one replica).

Each PostgreSQL run uses a schema (DBOS: a database) of its own, dropped afterwards. Prints;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import urlsplit, urlunsplit

import requests

from postgrip_agent import Agent, Client, activity, workflow

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_dbos import dbos_python  # noqa: E402

PG = (
    os.environ.get("POSTGRIP_BENCH_POSTGRES")
    or os.environ.get("POSTGRIP_TEST_POSTGRES")
    or "postgresql://postgres@127.0.0.1:5432/test"
)
#: the URL the contenders use: PG, or PG through the delay proxy (``--delay-ms``)
SERVED = [PG]
#: each replica's pool of connections (``--pool-size``; 0: the store's default)
POOL = [0]


@contextmanager
def _delayed(delay_ms: float) -> Iterator[None]:
    """Put a TCP proxy adding ``delay_ms`` each way between the contenders and PostgreSQL."""
    if delay_ms <= 0:
        yield
        return
    target = urlsplit(PG)
    proxy = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "delay_proxy.py"),
            "--target",
            f"{target.hostname or '127.0.0.1'}:{target.port or 5432}",
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        address = proxy.stdout.readline().split()[-1]
        netloc = target.netloc.rsplit("@", 1)
        SERVED[0] = urlunsplit(target._replace(netloc=(netloc[0] + "@" if len(netloc) == 2 else "") + address))
        yield
    finally:
        SERVED[0] = PG
        proxy.kill()
        proxy.wait()


@activity.defn(name="bench_echo")
def echo(value: int) -> int:
    return value


@workflow.defn(name="BenchOne")
class One:
    @workflow.run
    def run(self, value: int):
        return (yield workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30)))


def _replica(db: str) -> Tuple["subprocess.Popen[str]", str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgrip_agent.server", "--db", db, "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        if m := re.search(r"listening on (http://\S+)", line):
            break
        seen.append(line)
    else:
        raise SystemExit(f"a replica on {db} did not start: {''.join(seen).strip()}")
    address = m.group(1)
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
    return proc, address


@contextmanager
def _replicas(store: str) -> Iterator[List[str]]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    if store == "sqlite":
        dbs = [tempfile.mkdtemp(prefix="postgrip-replicas-") + "/bench.db"]
    else:
        pool = f"&pool_size={POOL[0]}" if POOL[0] else ""
        dbs = [f"{SERVED[0]}{'&' if '?' in SERVED[0] else '?'}schema={schema}{pool}"] * (2 if store == "postgres-2" else 1)
    procs: List["subprocess.Popen[str]"] = []
    try:
        first = _replica(dbs[0])  # the first creates the schema; the second finds it migrated
        procs.append(first[0])
        rest = [_replica(db) for db in dbs[1:]]
        procs += [p for p, _ in rest]
        yield [first[1]] + [a for _, a in rest]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if store != "sqlite":
            import psycopg

            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _stats(addresses: List[str]) -> Tuple[int, int, int]:
    """Write transactions committed, round trips to the database and statements, over the replicas."""
    stats = [requests.get(a + "/readyz", timeout=30).json()["stats"] for a in addresses]
    return (
        sum(int(s["store_commits"]) for s in stats),
        sum(int(s.get("store_round_trips", 0)) for s in stats),
        sum(int(s.get("store_statements", 0)) for s in stats),
    )


def _throughput(addresses: List[str], total: int, latency: int) -> Dict[str, float]:
    order = [addresses, addresses[::-1]]
    clients = [Client.connect(list(o)) for o in order]
    agents = [Agent(c, task_queue="bench", workflows=[One], activities=[echo]).start() for c in clients]
    try:
        clients[0].execute_workflow(One, -1, task_queue="bench")  # warm up
        one_at_a_time = []
        for i in range(latency):
            started = time.perf_counter()
            assert clients[0].execute_workflow(One, i, task_queue="bench") == i
            one_at_a_time.append((time.perf_counter() - started) * 1000)
        one_at_a_time.sort()
        before = _stats(addresses)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            handles = list(pool.map(lambda i: clients[i % 2].start_workflow(One, i, task_queue="bench"), range(total)))
            results = list(pool.map(lambda h: h.result(timeout=600), handles))
        elapsed = time.perf_counter() - started
        assert results == list(range(total))
        after = _stats(addresses)
        return {
            "workflows_s": total / elapsed,
            "commits_per_wf": (after[0] - before[0]) / total,
            "round_trips_per_wf": (after[1] - before[1]) / total,
            "statements_per_wf": (after[2] - before[2]) / total,
            "p50_ms": statistics.median(one_at_a_time),
            "p95_ms": one_at_a_time[int(len(one_at_a_time) * 0.95)],
        }
    finally:
        for agent in agents:
            agent.shutdown(timeout=30)


def _wake(poll_at: str, enqueue_at: str, samples: int) -> List[float]:
    """ms from sending an enqueue to `enqueue_at` until a poll already waiting on `poll_at` answers."""
    poller, enqueuer = requests.Session(), requests.Session()
    out = []
    for i in range(samples):
        queue = f"wake-{uuid.uuid4().hex[:8]}"
        got: Dict[str, float] = {}

        def poll() -> None:
            poller.get(
                poll_at + "/api/v1/agent/poll", params={"queue": queue, "agent_id": "bench", "wait_seconds": 10}, timeout=30
            ).raise_for_status()
            got["at"] = time.perf_counter()

        thread = threading.Thread(target=poll)
        thread.start()
        _until_waiting(poll_at, queue)
        sent = time.perf_counter()
        enqueuer.post(enqueue_at + "/api/v1/tasks", json={"type": "job", "queue": queue}, timeout=30).raise_for_status()
        thread.join()
        out.append((got["at"] - sent) * 1000)
    return out


def _until_waiting(address: str, queue: str) -> None:
    """Until the replica holds the poll (``agent_polls_waiting`` in its /readyz stats)."""
    deadline = time.monotonic() + 10
    while requests.get(address + "/readyz", timeout=30).json()["stats"]["agent_polls_waiting"] < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the poll never waited")


def _dbos(workflows: int, latency: int) -> Dict[str, Any]:
    """DBOS Transact on the same PostgreSQL server, in its own venv and process (a database of its own)."""
    url = f"{urlunsplit(urlsplit(SERVED[0])._replace(query=''))}_dbos_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [dbos_python(), str(HERE / "dbos_postgres.py"), url, "--workflows", str(workflows), "--latency", str(latency)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"the DBOS run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _our_settings() -> Dict[str, str]:
    """Read back from a connection configured as each replica configures its own."""
    from postgrip_agent.server.store import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(f"{PG}{'&' if '?' in PG else '?'}schema={schema}")
    try:
        return store.settings()
    finally:
        store.close()
        import psycopg

        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency", type=int, default=100, help="workflows run one at a time for p50/p95")
    parser.add_argument("--wake-samples", type=int, default=50)
    parser.add_argument("--no-dbos", action="store_true", help="leave DBOS out")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="add this delay each way between the contenders and PostgreSQL (a TCP proxy), as a "
        "database on another host; SQLite is left out then",
    )
    parser.add_argument("--pool-size", type=int, default=0, help="each replica's connections at most (default: the store's)")
    parser.add_argument("--json", action="store_true", help="also print the medians as one JSON line (for benchmarks/ab.py)")
    args = parser.parse_args()
    POOL[0] = args.pool_size
    stores = ([] if args.delay_ms else ["sqlite"]) + ["postgres-1", "postgres-2"] + ([] if args.no_dbos else ["dbos-postgres"])
    runs: Dict[str, List[Dict[str, Any]]] = {s: [] for s in stores}
    wake: Dict[str, List[float]] = {"same replica": [], "across replicas": []}
    with _delayed(args.delay_ms):
        _measure(args, stores, runs, wake)
    if args.delay_ms:
        print(f"PostgreSQL reached through a proxy adding {args.delay_ms:g} ms each way")
    _report(args, stores, runs, wake)


def _measure(
    args: argparse.Namespace, stores: List[str], runs: Dict[str, List[Dict[str, Any]]], wake: Dict[str, List[float]]
) -> None:
    for rep in range(args.reps):
        for store in stores:
            if store == "dbos-postgres":
                runs[store].append(_dbos(args.workflows, args.latency))
            else:
                with _replicas(store) as addresses:
                    runs[store].append(_throughput(addresses, args.workflows, args.latency))
                    if store == "postgres-2":
                        wake["same replica"] += _wake(addresses[0], addresses[0], args.wake_samples)
                        wake["across replicas"] += _wake(addresses[0], addresses[1], args.wake_samples)
            print(f"rep {rep + 1} {store}: {runs[store][-1]}", file=sys.stderr)


def _report(
    args: argparse.Namespace, stores: List[str], runs: Dict[str, List[Dict[str, Any]]], wake: Dict[str, List[float]]
) -> None:
    print(f"PostgreSQL as read back: ours {_our_settings()}")
    if not args.no_dbos:
        print(f"PostgreSQL as read back: DBOS {runs['dbos-postgres'][0]['settings']}")
    print(
        f"{args.workflows} one-activity workflows started at once (16 threads); latency: {args.latency} run one at "
        f"a time; medians of {args.reps} interleaved runs"
    )
    print(
        f"{'store':<14} {'p50 ms':>7} {'p95 ms':>7} {'workflows/s':>12} {'vs DBOS':>8} {'statements/wf':>14} "
        f"{'commits/wf':>11} {'round trips/wf':>15}"
    )
    peer = statistics.median(r["workflows_s"] for r in runs["dbos-postgres"]) if not args.no_dbos else None

    def median(store: str, key: str) -> float:
        return statistics.median(r.get(key, float("nan")) for r in runs[store])

    for store in stores:
        wfs = median(store, "workflows_s")
        versus = f"{wfs / peer:>7.2f}x" if peer else f"{'-':>8}"
        print(
            f"{store:<14} {median(store, 'p50_ms'):>7.1f} {median(store, 'p95_ms'):>7.1f} {wfs:>12.1f} {versus} "
            f"{median(store, 'statements_per_wf'):>14.1f} {median(store, 'commits_per_wf'):>11.1f} "
            f"{median(store, 'round_trips_per_wf'):>15.1f}"
        )
    if peer:
        p50 = median("dbos-postgres", "p50_ms")
        for store in ("postgres-1", "postgres-2"):
            print(
                f"{store} vs DBOS on PostgreSQL: p50 {median(store, 'p50_ms') / p50:.2f}x, "
                f"throughput {median(store, 'workflows_s') / peer:.2f}x"
            )
    if args.json:
        print(
            json.dumps(
                {
                    f"{store} {figure}": median(store, key)
                    for store in stores
                    for figure, key in (("workflows/s", "workflows_s"), ("round trips/wf", "round_trips_per_wf"))
                }
            )
        )
    print("long-poll wake latency (ms, enqueue sent -> poll answered)")
    for name, samples in wake.items():
        if not samples:
            continue
        samples.sort()
        print(
            f"  {name:<16} p50 {samples[len(samples) // 2]:6.1f}  p95 {samples[int(len(samples) * 0.95)]:6.1f}  "
            f"max {samples[-1]:6.1f}  (n={len(samples)})"
        )


if __name__ == "__main__":
    main()
