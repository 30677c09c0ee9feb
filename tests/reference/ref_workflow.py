"""Runs with the async reference SDK (postgrip-agent 0.12.3), not ours: a workflow with an
activity, a timer and a signal, its agent and its client, against the address in argv[1].
Mid-run, a ``MarkerRecorded`` event (what our SDK's ``workflow.patched`` writes) is put into
the run's history: the reference agent must replay past it."""

import asyncio
import json
import os
import sys
import urllib.request
from datetime import timedelta

os.environ["POSTGRIP_AGENT_MANAGED_RUNTIME"] = "true"

from postgrip_agent import Agent, Client, activity, workflow  # noqa: E402

ADD = workflow.define_signal("add")


@activity.defn
async def ref_greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class RefGreeting:
    @workflow.run
    async def run(self, name: str) -> dict:
        self.names = []
        workflow.set_handler(ADD, self.names.append)  # this SDK builds the instance outside its runtime
        greeting = await workflow.execute_activity(ref_greet, name, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(milliseconds=50))
        await workflow.condition(lambda: len(self.names) >= 1)
        return {"greeting": greeting, "names": self.names}


async def main(address: str) -> None:
    client = await Client.connect(address)
    agent = Agent(client, task_queue="reference", workflows=[RefGreeting], activities=[ref_greet])

    async def scenario() -> dict:
        handle = await client.start_workflow(RefGreeting, "reference", id="ref-greeting", task_queue="reference")
        while True:  # until the activity is done: the marker then sits between it and the timer's end
            history = await handle.history()
            if any(event["type"] == "ActivityTaskCompleted" for event in history):
                break
            await asyncio.sleep(0.01)
        marker = {
            "type": "marker",
            "queue": "reference",
            "payload": {"workflowTaskId": history[0]["task_id"], "markerName": "patch:ref-check"},
        }
        request = urllib.request.Request(
            f"{address}/api/v1/tasks",
            data=json.dumps(marker).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['POSTGRIP_TOKEN']}"},
        )
        await asyncio.to_thread(urllib.request.urlopen, request)
        await handle.signal(ADD, "ada")
        return await handle.result(timeout=30)

    print(json.dumps(await asyncio.wait_for(agent.run_until(scenario()), 60)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
