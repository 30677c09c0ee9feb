"""This SDK against DBOS Transact on SQLite, measured interleaved in one run on this machine.

    python benchmarks/compare_dbos.py [--reps 3] [--quick]

Each contender runs as its own worker process, in turn, ``--reps`` times; the table shows
medians and the ratios against DBOS (WAL and default journal). DBOS is installed only for
this benchmark, into ``benchmarks/.dbos-venv`` (or the Python named by ``DBOS_PYTHON``);
it is never a dependency of the project. Figures: p50/p95 of a 1-activity workflow from
start to result, throughput of 500 one-activity workflows started at once, cost per step
of N sequential activities, and one workflow fanning out 1,000 activities. Prints; asserts nothing.
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
from typing import Any, Callable, Dict, List

HERE = Path(__file__).resolve().parent
#: sdk-inprocess: service, agent and client in one process, calls handed over in-process (Client.connect(server));
#: sdk-http: the same, over loopback HTTP (Client.connect(server.address)); sdk-process: the service in its own process
CONTENDERS = ["sdk-inprocess", "sdk-http", "sdk-process", "dbos-wal", "dbos-default"]


def _timings(run_one: Callable[[int], Any], samples: int) -> Dict[str, float]:
    run_one(-1)  # warm up
    times = []
    for i in range(samples):
        started = time.perf_counter()
        run_one(i)
        times.append(time.perf_counter() - started)
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1000, "p95_ms": times[int(len(times) * 0.95)] * 1000}


def _measure(one: Callable[[int], Any], start: Callable[[int], Any], wait: Callable[[Any], Any],
             steps: Callable[[int], Any], fanout: Callable[[int], Any], quick: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = _timings(one, 50 if quick else 150)
    total = 200 if quick else 500
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        handles = list(pool.map(start, range(total)))
        list(pool.map(wait, handles))
    out["throughput_wfs"] = total / (time.perf_counter() - started)
    for n in (10, 100) if quick else (10, 100, 1000):
        begun = time.perf_counter()
        steps(n)
        out[f"step_ms_n{n}"] = (time.perf_counter() - begun) / n * 1000
    begun = time.perf_counter()
    fanout(200 if quick else 1000)
    out["fanout_s"] = time.perf_counter() - begun
    return out


# ---------------------------------------------------------------- this SDK


def sdk_worker(mode: str, quick: bool) -> Dict[str, Any]:
    sys.path.insert(0, str(HERE.parent))
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
    if mode in ("inprocess", "http"):
        server = LocalServer(db=tempfile.mkdtemp(prefix="bench-sdk-") + "/bench.db").start()
        address = server.address
    else:
        sys.path.insert(0, str(HERE))
        from _service import start_service_process

        proc, address = start_service_process("bench-sdk-")
    client = Client.connect(server if mode == "inprocess" else address)
    try:
        with Agent(client, task_queue="bench", workflows=[One, Steps, Fan], activities=[echo],
                   max_concurrent_workflow_tasks=16, max_concurrent_activities=64):
            return _measure(
                one=lambda i: client.execute_workflow(One, i, task_queue="bench", timeout=60),
                start=lambda i: client.start_workflow(One, i, task_queue="bench"),
                wait=lambda handle: handle.result(timeout=300),
                steps=lambda n: client.execute_workflow(Steps, n, task_queue="bench", timeout=600),
                fanout=lambda n: client.execute_workflow(Fan, n, task_queue="bench", timeout=600),
                quick=quick,
            )
    finally:
        client.close()
        if server is not None:
            server.stop()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


# ---------------------------------------------------------------- DBOS


def dbos_worker(wal: bool, quick: bool) -> Dict[str, Any]:
    import sqlite3

    from dbos import DBOS

    from _dbos_peer import one_step

    path = tempfile.mkdtemp(prefix="bench-dbos-") + "/dbos.sqlite"
    if wal:
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{path}", "log_level": "ERROR"})

    echo, one = one_step(DBOS)

    @DBOS.workflow()
    def steps(n: int) -> int:
        for i in range(n):
            echo(i)
        return n

    @DBOS.workflow()
    def fan_child(i: int) -> int:
        return echo(i)

    @DBOS.workflow()
    def fan(n: int) -> int:
        handles = [fan_queue.enqueue(fan_child, i) for i in range(n)]
        return len([h.get_result() for h in handles])

    DBOS.launch()
    # DBOS's best case for the fan-out: its queue polled every 10 ms (its default is 1 s)
    fan_queue = DBOS.register_queue("fan", concurrency=64, polling_interval_sec=0.01)
    try:
        return _measure(
            one=lambda i: DBOS.start_workflow(one, i).get_result(),
            start=lambda i: DBOS.start_workflow(one, i),
            wait=lambda handle: handle.get_result(),
            steps=lambda n: DBOS.start_workflow(steps, n).get_result(),
            fanout=lambda n: DBOS.start_workflow(fan, n).get_result(),
            quick=quick,
        )
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
    done = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=CONTENDERS)
    options = parser.parse_args()
    if options.worker:
        if options.worker.startswith("sdk"):
            result = sdk_worker(options.worker[len("sdk-"):], options.quick)
        else:
            result = dbos_worker(options.worker == "dbos-wal", options.quick)
        print(json.dumps(result))
        return
    runs: Dict[str, List[Dict[str, Any]]] = {c: [] for c in CONTENDERS}
    for rep in range(options.reps):
        for contender in CONTENDERS:  # interleaved: each repetition runs every contender in turn
            runs[contender].append(run_worker(contender, options.quick))
            print(f"rep {rep + 1}: {contender} done", flush=True)
    medians = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}
    metrics = list(medians["sdk-inprocess"])
    print(f"\nmedians of {options.reps} interleaved runs" + (" (quick)" if options.quick else ""))
    ratios = [("sdk-inprocess", "dbos-wal"), ("sdk-inprocess", "dbos-default"), ("sdk-http", "dbos-wal")]
    print(f"{'metric':<16}" + "".join(f"{c:>15}" for c in CONTENDERS)
          + "".join(f"{ours[4:8] + '/' + peer[5:]:>14}" for ours, peer in ratios))
    for metric in metrics:
        row = f"{metric:<16}" + "".join(f"{medians[c][metric]:>15.2f}" for c in CONTENDERS)
        row += "".join(f"{medians[ours][metric] / medians[peer][metric]:>14.2f}" for ours, peer in ratios)
        print(row)
    print("(throughput: higher is better, ratio >= 1.0 meets the target; the others: lower is better, <= 1.0 meets it)")


if __name__ == "__main__":
    main()
