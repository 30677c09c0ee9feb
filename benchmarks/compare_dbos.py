"""This SDK against DBOS Transact on SQLite, like for like, interleaved in one run on this machine.

    python benchmarks/compare_dbos.py [--reps 3] [--quick] [--sync full,normal] [--rows process,http,inprocess]

For each SQLite durability (``--sync``: FULL, each commit synced to disk; NORMAL, synced at
checkpoints; both sides in WAL mode, each side's setting read back from its own connections and
printed), each contender runs in its own worker process, in turn, ``--reps`` times:

- ``ours-process`` (the headline): the service in its own process (``postgrip-agent server
  --sqlite-synchronous ...``), the client and the agent in the worker, over loopback HTTP, as a
  Flask or Django app talks to the service;
- ``ours-http`` (labelled): the same, with the service in the worker's process, over HTTP;
- ``ours-inproc`` (labelled): the service in the worker's process and calls handed to it without
  HTTP (``Client.connect(server)``), which no deployed app does;
- ``dbos``: DBOS Transact, its system database the same kind of SQLite file, configured with
  only its URL (its queue thread runs at its default 1 s; no queue of ours is registered).

The same work on both sides: a workflow calling one activity (a DBOS step) echoing its
argument; N sequential activities in one workflow (cost per step); N activities gathered in one
workflow (``workflow.wait_all`` / ``asyncio.gather`` of DBOS async steps). Figures: p50/p95 of
one workflow from start to result; throughput of 500 started at once from 16 threads; CPU per
workflow during that phase (the worker's process plus, for ``ours-process``, the service's);
HTTP requests per workflow (ours). DBOS is installed only for this benchmark, into
``benchmarks/.dbos-venv`` (or the Python named by ``DBOS_PYTHON``); it is never a dependency of
the project. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
OURS = ("process", "http", "inproc")
SYNC_LEVELS = {"full": 2, "normal": 1}


def _timings(run_one: Callable[[int], Any], samples: int) -> Dict[str, float]:
    run_one(-1)  # warm up
    times = []
    for i in range(samples):
        started = time.perf_counter()
        run_one(i)
        times.append(time.perf_counter() - started)
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1000, "p95_ms": times[int(len(times) * 0.95)] * 1000}


def _measure(
    one: Callable[[int], Any],
    start: Callable[[int], Any],
    wait: Callable[[Any], Any],
    steps: Callable[[int], Any],
    fanout: Callable[[int], Any],
    cpu: Callable[[], float],
    requests: Callable[[], int],
    quick: bool,
) -> Dict[str, Any]:
    out: Dict[str, Any] = _timings(one, 50 if quick else 150)
    total = 200 if quick else 500
    cpu_before, sent_before, started = cpu(), requests(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        handles = list(pool.map(start, range(total)))
        list(pool.map(wait, handles))
    out["throughput_wfs"] = total / (time.perf_counter() - started)
    out["cpu_ms_per_wf"] = (cpu() - cpu_before) / total * 1000
    out["requests_per_wf"] = (requests() - sent_before) / total
    for n in (10, 100) if quick else (10, 100, 1000):
        begun = time.perf_counter()
        steps(n)
        out[f"step_ms_n{n}"] = (time.perf_counter() - begun) / n * 1000
    begun = time.perf_counter()
    fanout(200 if quick else 1000)
    out["fanout_s"] = time.perf_counter() - begun
    return out


# ---------------------------------------------------------------- this SDK


def ours_worker(mode: str, sync: str, quick: bool) -> Dict[str, Any]:
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    import requests

    from _service import process_cpu_seconds, start_service_process
    from postgrip_agent import Agent, Client, activity, workflow
    from postgrip_agent.server import LocalServer

    @activity.defn(name="bench_echo")
    def echo(value: int) -> int:
        return value

    @workflow.defn(name="BenchOne")
    class One:
        @workflow.run
        def run(self, value: int):  # type: ignore[no-untyped-def]
            return (yield workflow.execute_activity(echo, value, start_to_close_timeout=30))

    @workflow.defn(name="BenchSteps")
    class Steps:
        @workflow.run
        def run(self, n: int):  # type: ignore[no-untyped-def]
            for i in range(n):
                yield workflow.execute_activity(echo, i, start_to_close_timeout=30)
            return n

    @workflow.defn(name="BenchFan")
    class Fan:
        @workflow.run
        def run(self, n: int):  # type: ignore[no-untyped-def]
            values = yield workflow.wait_all(*[workflow.execute_activity(echo, i, start_to_close_timeout=60) for i in range(n)])
            return len(values)

    proc = None
    server = None
    if mode == "process":
        proc, address = start_service_process("bench-ours-", "--sqlite-synchronous", sync)
        service_pid = proc.pid
    else:
        server = LocalServer(db=tempfile.mkdtemp(prefix="bench-ours-") + "/bench.db", sqlite_synchronous=sync).start()
        address, service_pid = server.address, os.getpid()
    stats = requests.get(address + "/readyz", timeout=10).json()["stats"]
    settings = {"synchronous": stats["store_sqlite_synchronous"], "wal": stats["store_sqlite_wal"]}
    client = Client.connect(server if mode == "inproc" else address)

    def cpu() -> float:
        return time.process_time() + (process_cpu_seconds(service_pid) if proc is not None else 0.0)

    try:
        with Agent(
            client,
            task_queue="bench",
            workflows=[One, Steps, Fan],
            activities=[echo],
            max_concurrent_workflow_tasks=16,
            max_concurrent_activities=64,
        ):
            out = _measure(
                one=lambda i: client.execute_workflow(One, i, task_queue="bench", timeout=60),
                start=lambda i: client.start_workflow(One, i, task_queue="bench"),
                wait=lambda handle: handle.result(timeout=300),
                steps=lambda n: client.execute_workflow(Steps, n, task_queue="bench", timeout=600),
                fanout=lambda n: client.execute_workflow(Fan, n, task_queue="bench", timeout=600),
                cpu=cpu,
                requests=lambda: client.connection.requests_sent,
                quick=quick,
            )
        return {"metrics": out, "settings": settings}
    finally:
        client.close()
        if server is not None:
            server.stop()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


# ---------------------------------------------------------------- DBOS


def dbos_worker(sync: str, quick: bool) -> Dict[str, Any]:
    import asyncio
    import sqlite3

    import sqlalchemy
    from dbos import DBOS
    from dbos._dbos import _get_dbos_instance

    from _dbos_peer import one_step

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _durability(dbapi_conn: Any, _record: Any) -> None:  # every connection DBOS opens
        dbapi_conn.execute(f"PRAGMA synchronous={sync.upper()}")

    path = tempfile.mkdtemp(prefix="bench-dbos-") + "/dbos.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")  # a property of the file: DBOS's connections use it too
    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{path}", "log_level": "ERROR"})

    echo, one = one_step(DBOS)

    @DBOS.workflow()
    def steps(n: int) -> int:
        for i in range(n):
            echo(i)
        return n

    @DBOS.step()
    async def echo_async(value: int) -> int:
        return value

    @DBOS.workflow()
    async def fan(n: int) -> int:
        return len(await asyncio.gather(*[echo_async(i) for i in range(n)]))

    async def run_fan(n: int) -> int:
        handle = await DBOS.start_workflow_async(fan, n)
        return await handle.get_result()  # type: ignore[no-any-return]

    DBOS.launch()
    with _get_dbos_instance()._sys_db.engine.connect() as conn:  # read back from DBOS's own pool
        settings = {
            "synchronous": int(conn.exec_driver_sql("PRAGMA synchronous").scalar()),
            "wal": int(str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"),
        }
    try:
        out = _measure(
            one=lambda i: DBOS.start_workflow(one, i).get_result(),
            start=lambda i: DBOS.start_workflow(one, i),
            wait=lambda handle: handle.get_result(),
            steps=lambda n: DBOS.start_workflow(steps, n).get_result(),
            fanout=lambda n: asyncio.run(run_fan(n)),
            cpu=time.process_time,
            requests=lambda: 0,
            quick=quick,
        )
        return {"metrics": out, "settings": settings}
    finally:
        DBOS.destroy()


# ---------------------------------------------------------------- orchestration


def dbos_python() -> str:
    named = os.environ.get("DBOS_PYTHON")
    if named:
        return named
    venv = HERE / ".dbos-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print("installing dbos for the benchmark into benchmarks/.dbos-venv (not a project dependency)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "dbos"], check=True)
    return str(python)


def run_worker(contender: str, quick: bool) -> Dict[str, Any]:
    python = dbos_python() if contender.startswith("dbos") else sys.executable
    args = [python, str(Path(__file__).resolve()), "--worker", contender] + (["--quick"] if quick else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=3600, cwd=str(HERE))
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _report(sync: str, contenders: List[str], runs: Dict[str, List[Dict[str, Any]]], reps: int) -> None:
    print(f"\nSQLite synchronous={sync.upper()}, WAL; read back from each side's own connections:")
    for contender in contenders:
        seen = sorted({(r["settings"]["synchronous"], r["settings"]["wal"]) for r in runs[contender]})
        print(
            f"  {contender:<22} "
            + ", ".join(
                f"synchronous={s} ({'FULL' if s == 2 else 'NORMAL' if s == 1 else s}) wal={'yes' if w else 'NO'}" for s, w in seen
            )
        )
    medians = {c: {k: statistics.median(r["metrics"][k] for r in runs[c]) for k in runs[c][0]["metrics"]} for c in contenders}
    peer = f"dbos-{sync}"
    ours = [c for c in contenders if c != peer]
    print(f"medians of {reps} interleaved repetitions")
    print(f"{'metric':<16}" + "".join(f"{c:>20}" for c in contenders) + "".join(f"{c.split('-')[1] + '/dbos':>15}" for c in ours))
    for metric in medians[peer]:
        row = f"{metric:<16}" + "".join(f"{medians[c][metric]:>20.2f}" for c in contenders)
        row += "".join(
            f"{medians[c][metric] / medians[peer][metric]:>15.2f}" if medians[peer][metric] else f"{'-':>15}" for c in ours
        )
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sync", default="full,normal", help="SQLite synchronous settings to compare at")
    parser.add_argument("--rows", default=",".join(OURS), help=f"which of ours to run: {', '.join(OURS)}")
    parser.add_argument("--worker")
    options = parser.parse_args()
    if options.worker:  # "ours-<mode>-<sync>" or "dbos-<sync>"
        parts = options.worker.split("-")
        result = dbos_worker(parts[1], options.quick) if parts[0] == "dbos" else ours_worker(parts[1], parts[2], options.quick)
        print(json.dumps(result))
        return
    syncs = [s.strip().lower() for s in options.sync.split(",")]
    rows = [r.strip() for r in options.rows.split(",")]
    bad = [s for s in syncs if s not in SYNC_LEVELS] + [r for r in rows if r not in OURS]
    if bad:
        parser.error(f"unknown --sync/--rows value(s) {bad}; --sync takes full,normal and --rows {','.join(OURS)}")
    plan: List[Tuple[str, List[str]]] = [(s, [f"ours-{r}-{s}" for r in rows] + [f"dbos-{s}"]) for s in syncs]
    runs: Dict[str, List[Dict[str, Any]]] = {c: [] for _, cs in plan for c in cs}
    for rep in range(options.reps):
        for _, contenders in plan:  # interleaved: each repetition runs every contender in turn
            for contender in contenders:
                runs[contender].append(run_worker(contender, options.quick))
                print(f"rep {rep + 1}: {contender} done", flush=True)
    for sync, contenders in plan:
        _report(sync, contenders, runs, options.reps)
    print(
        "\n(throughput: higher is better, a ratio >= 1.0 meets the target; the others: lower is better, <= 1.0 meets it."
        " ours-http and ours-inproc run the service inside the benchmark's process: labelled, not the headline)"
    )


if __name__ == "__main__":
    main()
