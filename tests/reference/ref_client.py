"""The async reference SDK's client (postgrip-agent 0.12.3) starting a workflow that our Agent
runs, and printing its result: ``python ref_client.py ADDRESS WORKFLOW QUEUE ARG``."""

import asyncio
import json
import sys

from postgrip_agent import Client


async def main(address: str, workflow: str, queue: str, arg: str) -> None:
    client = await Client.connect(address)
    handle = await client.start_workflow(workflow, json.loads(arg), id=f"ref-client-{workflow}", task_queue=queue)
    print(json.dumps(await handle.result(timeout=30, poll_interval=0.05)))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
