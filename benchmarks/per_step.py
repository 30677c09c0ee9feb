"""Cost per step of a workflow of N sequential activities, with runs kept live (the default)
and with every activation replayed from history (``max_cached_workflows=0``), and the memory
a cache of 10,000 live runs takes.

    python benchmarks/per_step.py [--quick]

The service runs in its own process, so this process's CPU time is the agent's (and the
client's, which is two requests per run). Prints figures and the N=1,000 / N=10 ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent._runtime.history import History
from postgrip_agent._runtime.instance import WorkflowInfo, WorkflowInstance
from postgrip_agent.agent.run_cache import LiveRunCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import start_service_process  # noqa: E402


@activity.defn
def inc(value: int) -> int:
    return value + 1


@workflow.defn
class Steps:
    @workflow.run
    def run(self, n: int):
        value = 0
        for _ in range(n):
            value = yield workflow.execute_activity(inc, value, start_to_close_timeout=30)
        return value


@workflow.defn
class Waits:
    def __init__(self) -> None:
        self.items: List[Any] = []
        workflow.set_handler(workflow.define_signal("add"), self.items.append)

    @workflow.run
    def run(self):
        yield workflow.condition(lambda: len(self.items) > 0)
        return self.items


def per_step(client: Client, sizes: List[int], cached: int) -> Dict[int, float]:
    label = "live runs (cache)" if cached else "replay every activation (max_cached_workflows=0)"
    print(f"== {label}")
    out: Dict[int, float] = {}
    with Agent(client, task_queue=f"steps-{cached}", workflows=[Steps], activities=[inc], max_cached_workflows=cached):
        client.execute_workflow(Steps, 3, task_queue=f"steps-{cached}", timeout=60)  # warm up
        for n in sizes:
            cpu, wall = time.process_time(), time.perf_counter()
            assert client.execute_workflow(Steps, n, task_queue=f"steps-{cached}", timeout=600) == n
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            out[n] = cpu / n
            print(f"N={n:>5}: agent CPU {cpu / n * 1000:6.2f} ms/step, wall {wall / n * 1000:6.2f} ms/step")
    if len(sizes) > 1:
        print(f"CPU per step N={sizes[-1]} / N={sizes[0]}: {out[sizes[-1]] / out[sizes[0]]:.2f}x (target <= 1.2x with the cache)")
    return out


def cache_memory(runs: int) -> None:
    """Live instances of a run waiting on a signal, held in the agent's cache: bytes per run."""
    started = {
        "id": "1",
        "type": "WorkflowExecutionStarted",
        "task_id": "t",
        "attributes": {"workflow_type": "Waits", "args": []},
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rss_before = _rss()
    cache = LiveRunCache(runs)
    for i in range(runs):
        info = WorkflowInfo(
            workflow_id=f"w{i}", run_id=f"r{i}", workflow_type="Waits", task_queue="q", namespace="default", task_id="t"
        )
        instance = WorkflowInstance(Waits, info, History([started]))
        instance.activate()
        cache.entry(f"r{i}").instance = instance
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(
        f"== cache of {len(cache)} live runs (each waiting on a signal): {used / runs / 1024:.1f} KiB per run "
        f"(tracemalloc), {used / 2**20:.0f} MiB in all; RSS grew {(_rss() - rss_before) / 1024:.0f} MiB"
    )


def _rss() -> int:
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmRSS:")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    quick = parser.parse_args().quick
    sizes = [10, 100] if quick else [10, 100, 1000]
    proc, address = start_service_process("postgrip-steps-")
    try:
        client = Client.connect(address)
        per_step(client, sizes, 1000)
        per_step(client, sizes, 0)
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    cache_memory(1000 if quick else 10_000)


if __name__ == "__main__":
    main()
