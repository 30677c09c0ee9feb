"""Run as a child process by test_many_connections: a service, an agent and a client in a
process whose descriptors go past 1,024 (``select.select``'s cap), then one workflow.

Prints ``RESULT <value> <seconds>`` or exits non-zero."""

from __future__ import annotations

import resource
import socket
import sys
import tempfile
import time
from datetime import timedelta
from typing import List

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer


@activity.defn
def double(x: int) -> int:
    return 2 * x


@workflow.defn
class Doubler:
    @workflow.run
    def run(self, x: int):  # type: ignore[no-untyped-def]
        a = yield workflow.execute_activity(double, x, start_to_close_timeout=timedelta(seconds=10))
        yield workflow.sleep(timedelta(milliseconds=10))
        b = yield workflow.execute_activity(double, a, start_to_close_timeout=timedelta(seconds=10))
        return b


def main() -> None:
    idle = int(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * idle + 512
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    with LocalServer(db=tempfile.mkdtemp() + "/many.db", port=0) as server:
        host, port = server.address.split("//")[1].split(":")
        sockets: List[socket.socket] = []
        for _ in range(idle):  # idle keep-alive connections: each costs the service one descriptor
            sockets.append(socket.create_connection((host, int(port))))
        assert max(s.fileno() for s in sockets) >= 1024, "the descriptors did not pass 1,024"
        client = Client.connect(server.address)  # over HTTP: the agent's sockets are past 1,024 too
        with Agent(client, task_queue="many", workflows=[Doubler], activities=[double]):
            started = time.monotonic()
            value = client.execute_workflow(Doubler, 5, task_queue="many", run_timeout=timedelta(seconds=60))
            print(f"RESULT {value} {time.monotonic() - started:.2f}", flush=True)
        for s in sockets:
            s.close()


if __name__ == "__main__":
    main()
