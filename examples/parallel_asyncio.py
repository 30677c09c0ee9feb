"""asyncio in a workflow: five activities at once with asyncio.gather, a deadline with
asyncio.wait_for, and a durable asyncio.sleep, on the embedded local service.

    python examples/parallel_asyncio.py
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import List

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer


@activity.defn
def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class Greetings:
    @workflow.run
    async def run(self, names: List[str]) -> List[str]:
        greetings = await asyncio.gather(
            *(workflow.execute_activity(say_hello, name, start_to_close_timeout=timedelta(seconds=5)) for name in names)
        )
        await asyncio.sleep(0.1)  # a durable timer: it survives a restart of the agent or the service
        last = await asyncio.wait_for(
            workflow.execute_activity(say_hello, "everyone", start_to_close_timeout=timedelta(seconds=5)), timeout=30
        )
        return sorted(greetings) + [last]


def main() -> None:
    with LocalServer(db=":memory:", port=0) as server:
        client = Client.connect(server)
        with Agent(client, task_queue="greetings", workflows=[Greetings], activities=[say_hello]):
            for line in client.execute_workflow(Greetings, ["Ada", "Grace", "Edsger"], task_queue="greetings"):
                print(line)


if __name__ == "__main__":
    main()
