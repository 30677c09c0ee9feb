"""Agents and clients through a proxy that drops, cuts, stalls and delays: no run stuck or wrong,
no acknowledged start or signal lost or doubled."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Dict, List

from postgrip_agent import Agent, Client, WorkflowHandle, activity, workflow

from .proxy import FaultyProxy

log = logging.getLogger("tests.chaos")
WORKFLOWS = 100
STEP = timedelta(seconds=3)
GO = workflow.define_signal("go")


@activity.defn(name="chaos_double")
def double(value: int) -> int:
    return value * 2


@workflow.defn(name="Chaos")
class Chaos:
    def __init__(self) -> None:
        self.signals: List[str] = []
        workflow.set_handler(GO, self.signals.append)

    @workflow.run
    def run(self, n: int):
        yield workflow.condition(lambda: len(self.signals) >= 2)
        once = yield workflow.execute_activity(double, n, start_to_close_timeout=STEP)
        twice = yield workflow.execute_activity(double, once, start_to_close_timeout=STEP)
        return {"value": twice, "signals": list(self.signals)}


def test_a_hundred_workflows_with_signals_survive_network_faults(env: Any, queue: str) -> None:
    proxy = FaultyProxy(
        (env.server.host, env.server.port), drop_request=0.01, drop_answer=0.02, half_answer=0.01, stall=0.003, delay=0.03
    )
    client = Client.connect(proxy.address, timeout=2.0)
    agent_client = Client.connect(proxy.address, timeout=2.0)
    started_at = time.monotonic()
    try:
        with Agent(agent_client, task_queue=queue, workflows=[Chaos], activities=[double], poll_wait_seconds=1):

            def drive(n: int) -> Dict[str, Any]:
                handle: WorkflowHandle[Any] = client.start_workflow(
                    Chaos, n, id=f"chaos-{n}", task_queue=queue, lease_timeout=timedelta(seconds=3)
                )
                handle.signal(GO, f"a-{n}")
                handle.signal(GO, f"b-{n}")
                return handle.result(timeout=90)  # type: ignore[no-any-return]

            with ThreadPoolExecutor(max_workers=16) as pool:
                results = list(pool.map(drive, range(WORKFLOWS)))
    finally:
        proxy.enabled = False
        proxy.close()
    took = time.monotonic() - started_at
    log.warning("chaos: %d workflows in %.1fs, faults injected %s", WORKFLOWS, took, proxy.injected)
    print(f"chaos: {WORKFLOWS} workflows in {took:.1f}s, faults injected {proxy.injected}")
    assert results == [{"value": n * 4, "signals": [f"a-{n}", f"b-{n}"]} for n in range(WORKFLOWS)]
    assert sum(proxy.injected.values()) >= 20, proxy.injected  # the run really was faulty
    direct = env.client
    assert direct.count_workflows(workflow_type="Chaos") == WORKFLOWS  # no start doubled
    for n in range(WORKFLOWS):
        types = [e.type for e in direct.get_workflow_handle(f"chaos-{n}").fetch_history().events]
        assert types.count("WorkflowSignaled") == 2 and types.count("WorkflowExecutionCompleted") == 1
