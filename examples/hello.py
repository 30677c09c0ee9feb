"""A real workflow end to end: the local service on SQLite, an Agent, and a Client, in one process.

python examples/hello.py
"""

from __future__ import annotations

import logging
import tempfile
import os
from datetime import timedelta

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer


@activity.defn
def compose_greeting(greeting: str, name: str) -> str:
    return f"{greeting}, {name}!"


@activity.defn
def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    def run(self, name: str):
        greeting = yield workflow.execute_activity(compose_greeting, "Hello", name, start_to_close_timeout=timedelta(seconds=10))
        yield workflow.sleep(timedelta(milliseconds=50))
        loud = yield workflow.execute_activity(shout, greeting, start_to_close_timeout=timedelta(seconds=10))
        return {"greeting": greeting, "shouted": loud, "at": workflow.now().isoformat()}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    db = os.path.join(tempfile.mkdtemp(prefix="postgrip-"), "hello.db")
    with LocalServer(db=db, port=0) as server:
        client = Client.connect(server)  # in this process: calls go straight to the service
        with Agent(client, task_queue="hello", workflows=[GreetingWorkflow], activities=[compose_greeting, shout]):
            handle = client.start_workflow(GreetingWorkflow, "World", id="hello-world", task_queue="hello")
            result = handle.result(timeout=30)
            print(f"workflow {handle.id} finished: {result}")
            print("history:", ", ".join(e.type for e in handle.fetch_history().events))


if __name__ == "__main__":
    main()
