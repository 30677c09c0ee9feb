"""A TCP proxy that adds a fixed delay each way, as a database on another host would be.

    python benchmarks/delay_proxy.py --target 127.0.0.1:5432 --delay-ms 1

Prints ``listening on HOST:PORT`` once it accepts connections. Each byte reaches the other side
``--delay-ms`` after it arrived, in order; the delay is latency, not a throttle (bytes in flight
are not held back by earlier ones beyond their own delay). Runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Tuple


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: "asyncio.Queue[Tuple[float, bytes]]" = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                break
    except ConnectionError:
        queue.put_nowait((0.0, b""))
    await sender


async def _serve(target: Tuple[str, int], delay: float) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay), _pipe(server_reader, client_writer, delay), return_exceptions=True
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:5432")
    parser.add_argument("--delay-ms", type=float, default=1.0)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    asyncio.run(_serve((host, int(port)), args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
