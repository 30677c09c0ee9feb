"""The service on SQLite, on PostgreSQL with one replica and with two, measured in one run.

    POSTGRIP_BENCH_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python benchmarks/replicas.py [--workflows 500] [--reps 3]

Each replica is its own process (``python -m postgrip_agent.server``); two agents in this
process poll them (each given every address, in a different order), and a client starts
``--workflows`` one-activity workflows at once through them. Printed per store, medians of
``--reps`` interleaved runs:

- workflows/s from the first start to the last result;
- write transactions committed per workflow (the replicas' ``store_commits`` from ``/readyz``), and
  calls into the database per workflow (``store_round_trips``);
- wake latency: a long-poll waiting on one replica, from another's enqueue request being sent
  to the poll's answer (and, as the peer, the same with poll and enqueue on one replica).

Each PostgreSQL run uses a schema of its own, dropped afterwards. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
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
from typing import Dict, Iterator, List, Tuple

import requests

from postgrip_agent import Agent, Client, activity, workflow

PG = os.environ.get("POSTGRIP_BENCH_POSTGRES") or os.environ.get("POSTGRIP_TEST_POSTGRES") or \
    "postgresql://postgres@127.0.0.1:5432/test"


@activity.defn(name="bench_echo")
def echo(value: int) -> int:
    return value


@workflow.defn(name="BenchOne")
class One:
    @workflow.run
    def run(self, value: int):
        return (yield workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30)))


def _replica(db: str) -> Tuple["subprocess.Popen[str]", str]:
    proc = subprocess.Popen([sys.executable, "-m", "postgrip_agent.server", "--db", db, "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
        dbs = [f"{PG}{'&' if '?' in PG else '?'}schema={schema}"] * (2 if store == "postgres-2" else 1)
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


def _stats(addresses: List[str]) -> Tuple[int, int]:
    """Write transactions committed and round trips to the database, over the replicas."""
    stats = [requests.get(a + "/readyz", timeout=30).json()["stats"] for a in addresses]
    return sum(int(s["store_commits"]) for s in stats), sum(int(s.get("store_round_trips", 0)) for s in stats)


def _throughput(addresses: List[str], total: int) -> Dict[str, float]:
    order = [addresses, addresses[::-1]]
    clients = [Client.connect(list(o)) for o in order]
    agents = [Agent(c, task_queue="bench", workflows=[One], activities=[echo]).start() for c in clients]
    try:
        clients[0].execute_workflow(One, -1, task_queue="bench")  # warm up
        before = _stats(addresses)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            handles = list(pool.map(lambda i: clients[i % 2].start_workflow(One, i, task_queue="bench"), range(total)))
            results = list(pool.map(lambda h: h.result(timeout=600), handles))
        elapsed = time.perf_counter() - started
        assert results == list(range(total))
        after = _stats(addresses)
        return {"workflows_s": total / elapsed, "commits_per_wf": (after[0] - before[0]) / total,
                "round_trips_per_wf": (after[1] - before[1]) / total}
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
            poller.get(poll_at + "/api/v1/agent/poll", params={"queue": queue, "agent_id": "bench", "wait_seconds": 10},
                       timeout=30).raise_for_status()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--wake-samples", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="also print the medians as one JSON line (for benchmarks/ab.py)")
    args = parser.parse_args()
    stores = ["sqlite", "postgres-1", "postgres-2"]
    runs: Dict[str, List[Dict[str, float]]] = {s: [] for s in stores}
    wake: Dict[str, List[float]] = {"same replica": [], "across replicas": []}
    for rep in range(args.reps):
        for store in stores:
            with _replicas(store) as addresses:
                runs[store].append(_throughput(addresses, args.workflows))
                if store == "postgres-2":
                    wake["same replica"] += _wake(addresses[0], addresses[0], args.wake_samples)
                    wake["across replicas"] += _wake(addresses[0], addresses[1], args.wake_samples)
            print(f"rep {rep + 1} {store}: {runs[store][-1]}", file=sys.stderr)
    print(f"{args.workflows} one-activity workflows started at once; medians of {args.reps} runs")
    print(f"{'store':<12} {'workflows/s':>12} {'vs sqlite':>10} {'commits/wf':>11} {'round trips/wf':>15}")
    base = statistics.median(r["workflows_s"] for r in runs["sqlite"])
    for store in stores:
        wfs = statistics.median(r["workflows_s"] for r in runs[store])
        commits = statistics.median(r["commits_per_wf"] for r in runs[store])
        trips = statistics.median(r["round_trips_per_wf"] for r in runs[store])
        print(f"{store:<12} {wfs:>12.1f} {wfs / base:>9.2f}x {commits:>11.1f} {trips:>15.1f}")
    if args.json:
        import json

        print(json.dumps({f"{store} {figure}": statistics.median(r[key] for r in runs[store]) for store in stores
                          for figure, key in (("workflows/s", "workflows_s"), ("round trips/wf", "round_trips_per_wf"))}))
    print("long-poll wake latency (ms, enqueue sent -> poll answered)")
    for name, samples in wake.items():
        samples.sort()
        print(f"  {name:<16} p50 {samples[len(samples) // 2]:6.1f}  p95 {samples[int(len(samples) * 0.95)]:6.1f}  "
              f"max {samples[-1]:6.1f}  (n={len(samples)})")


if __name__ == "__main__":
    main()
