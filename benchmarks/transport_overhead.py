"""Per-call cost of the client transport against the floor: a kept-alive http.client connection
to the same local service, the same request. Prints microseconds per call and the ratio.

    python benchmarks/transport_overhead.py
"""

from __future__ import annotations

import http.client
import time
from typing import Callable

from postgrip_agent import Connection
from postgrip_agent.server import LocalServer

CALLS = 3000


def per_call(fn: Callable[[], object]) -> float:
    for _ in range(200):
        fn()
    started = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - started) / CALLS * 1e6


def main() -> None:
    with LocalServer() as server:
        raw = http.client.HTTPConnection(server.host, server.port)

        def floor() -> object:
            raw.request("GET", "/healthz")
            return raw.getresponse().read()

        conn = Connection(server.address)
        for label, fn in (("GET /healthz", lambda: conn.request("GET", "/healthz")),):
            base, ours = per_call(floor), per_call(fn)
            print(
                f"{label}: http.client {base:.0f} us/call, Connection {ours:.0f} us/call, overhead {ours - base:.0f} us "
                f"({ours / base:.2f}x the floor)"
            )


if __name__ == "__main__":
    main()
