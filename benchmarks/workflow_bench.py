"""Latency, throughput and HTTP requests per workflow, on the embedded local service.

    python benchmarks/workflow_bench.py [--quick]

Prints figures; asserts nothing. Agent, service and client share this one process.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import List

from postgrip_agent import Agent, activity, workflow
from postgrip_agent.testing import WorkflowEnvironment

T = timedelta(seconds=30)


@activity.defn
def echo(value: int) -> int:
    return value


@workflow.defn
class OneActivity:
    @workflow.run
    def run(self, value: int):
        result = yield workflow.execute_activity(echo, value, start_to_close_timeout=T)
        return result


@workflow.defn
class Sequential:
    @workflow.run
    def run(self, n: int):
        total = 0
        for i in range(n):
            total += yield workflow.execute_activity(echo, i, start_to_close_timeout=T)
        return total


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(env: WorkflowEnvironment, runs: int) -> None:
    samples = []
    for i in range(runs + 5):
        begun = time.perf_counter()
        env.client.execute_workflow(OneActivity, i, task_queue="bench")
        if i >= 5:  # warm-up excluded
            samples.append((time.perf_counter() - begun) * 1000)
    print(
        f"1-activity workflow, start to result: p50 {statistics.median(samples):.1f} ms, "
        f"p95 {percentile(samples, 0.95):.1f} ms over {runs} runs"
    )


def throughput(env: WorkflowEnvironment, total: int, clients: int) -> None:
    def one(i: int) -> None:
        env.client.start_workflow(OneActivity, i, task_queue="bench").result(timeout=120)

    begun = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - begun
    print(
        f"throughput: {total} one-activity workflows from {clients} client threads in {elapsed:.2f} s "
        f"= {total / elapsed:.0f} workflows/s"
    )


def requests_per_workflow(env: WorkflowEnvironment, sizes: List[int]) -> None:
    api = env.server.api
    for n in sizes:
        time.sleep(0.3)  # let pollers settle
        before, empty_before = api.requests_served, api.empty_polls
        env.client.execute_workflow(Sequential, n, task_queue="bench", timeout=600)
        used = (api.requests_served - before) - (api.empty_polls - empty_before)
        print(
            f"HTTP requests for {n} sequential activities: {used} (target <= 6N+10 = {6 * n + 10}; "
            f"async reference SDK: {n * (n + 1) // 2 + 9 * n + 5})"
        )


def result_wakeup(env: WorkflowEnvironment, runs: int) -> None:
    """How long after a run finishes handle.result() returns (no agent: the test completes it)."""
    conn = env.client.connection
    delays = []
    for i in range(runs):
        handle = env.client.start_workflow("Manual", i, task_queue="manual")
        task = conn.request("GET", "/api/v1/agent/poll", params={"queue": "manual", "agent_id": "b"}, idempotent=False)["task"]
        returned = {}

        def wait() -> None:
            handle.result(timeout=30)
            returned["at"] = time.perf_counter()

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.02)
        done = time.perf_counter()
        conn.request(
            "POST", f"/api/v1/agent/tasks/{task['id']}/complete", params={"agent_id": "b"}, body={"result": {"value": i}}
        )
        waiter.join()
        delays.append((returned["at"] - done) * 1000)
    print(
        f"handle.result() returns after the run finishes: p50 {statistics.median(delays):.1f} ms, "
        f"max {max(delays):.1f} ms over {runs} runs (no polling sleep)"
    )


def separate_process(quick: bool) -> None:
    """The service in its own process (as `postgrip-agent server` runs it), agent + client here."""
    import sys
    from pathlib import Path

    from postgrip_agent import Client

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _service import start_service_process

    proc, address = start_service_process()
    try:
        client = Client.connect(address)
        env = WorkflowEnvironment.__new__(WorkflowEnvironment)
        env.client = client
        with Agent(
            client,
            task_queue="bench",
            workflows=[OneActivity, Sequential],
            activities=[echo],
            max_concurrent_workflow_tasks=16,
            max_concurrent_activities=64,
        ):
            latency(env, 50 if quick else 200)
            throughput(env, 200 if quick else 1000, 50)
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("== service, agent and client in one process (SQLite in memory)")
    with WorkflowEnvironment.start_local() as env:
        with Agent(
            env.client,
            task_queue="bench",
            workflows=[OneActivity, Sequential],
            activities=[echo],
            max_concurrent_workflow_tasks=16,
            max_concurrent_activities=64,
        ):
            latency(env, 50 if args.quick else 200)
            throughput(env, 200 if args.quick else 1000, 50)
            requests_per_workflow(env, [1, 10, 50] if args.quick else [1, 10, 50, 200])
        result_wakeup(env, 10 if args.quick else 30)
    print("== service in its own process (SQLite file), agent and client in this one")
    separate_process(args.quick)


if __name__ == "__main__":
    main()
