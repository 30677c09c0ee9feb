"""Context switches per 1-activity workflow (agent, client and service in this one process),
summed over all of the process's threads from /proc, through the in-process transport and over
loopback HTTP. Prints the figures.

    python benchmarks/context_switches.py
"""

from __future__ import annotations

import glob
from datetime import timedelta

from postgrip_agent import Agent, activity, workflow
from postgrip_agent.testing import WorkflowEnvironment

RUNS = 300


@activity.defn(name="ctx_echo")
def echo(value: int) -> int:
    return value


@workflow.defn(name="CtxOne")
class One:
    @workflow.run
    def run(self, value: int):  # type: ignore[no-untyped-def]
        return (yield workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30)))


def switches() -> int:
    total = 0
    for path in glob.glob("/proc/self/task/*/status"):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:  # a thread that ended meanwhile
            pass
    return total


def measure(transport: str) -> float:
    with WorkflowEnvironment.start_local(transport=transport) as env:
        with Agent(env.client, task_queue="ctx", workflows=[One], activities=[echo]):
            for i in range(20):
                env.client.execute_workflow(One, i, task_queue="ctx", timeout=30)
            before = switches()
            for i in range(RUNS):
                env.client.execute_workflow(One, i, task_queue="ctx", timeout=30)
            after = switches()
    return (after - before) / RUNS


def main() -> None:
    for transport in ("in-process", "http"):
        print(f"context switches per 1-activity workflow (one at a time, all threads), {transport}: {measure(transport):.0f}")


if __name__ == "__main__":
    main()
