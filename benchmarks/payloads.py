"""What typed payloads cost: a one-activity workflow whose argument and result are a small
record, as plain dicts, as a typed dataclass, and typed and encrypted, interleaved in one run.

    python benchmarks/payloads.py [--rounds 7] [--samples 100]

The service runs in its own process (SQLite, its default FULL durability); each mode has its
own client and agent (over loopback HTTP) on its own queue, and the modes take turns, a round
of ``--samples`` workflows each, ``--rounds`` times. Prints p50/p95 per mode, the ratios to
plain dicts (the target: typed at most 1.10x plain), and the converter's own cost per value.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
import timeit
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Generator, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _service import start_service_process  # noqa: E402

from postgrip_agent import Agent, Client, activity, workflow  # noqa: E402
from postgrip_agent.converter import DataConverter, EncryptionCodec, ZlibCodec  # noqa: E402


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    price: Decimal
    ship_on: date


@activity.defn(name="price_plain")
def price_plain(line: Dict[str, Any]) -> Dict[str, Any]:
    return {**line, "quantity": line["quantity"] + 1}


@activity.defn(name="price_typed")
def price_typed(line: Line) -> Line:
    return dataclasses.replace(line, quantity=line.quantity + 1)


@workflow.defn(name="PlainOrder")
class PlainOrder:
    @workflow.run
    def run(self, line: Dict[str, Any]) -> Generator[Any, Any, Dict[str, Any]]:
        return (yield workflow.execute_activity(price_plain, line, start_to_close_timeout=30))


@workflow.defn(name="TypedOrder")
class TypedOrder:
    @workflow.run
    def run(self, line: Line) -> Generator[Any, Any, Line]:
        return (yield workflow.execute_activity(price_typed, line, start_to_close_timeout=30))


LINE = Line("sku-123", 2, Decimal("19.99"), date(2026, 12, 24))
PLAIN = {"sku": "sku-123", "quantity": 2, "price": "19.99", "ship_on": "2026-12-24"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--samples", type=int, default=100)
    options = parser.parse_args()
    encrypted = DataConverter(codecs=[ZlibCodec(), EncryptionCodec({"k1": os.urandom(32)}, "k1")])
    proc, address = start_service_process("bench-payloads-")
    modes = {
        "plain dicts": (Client.connect(address), PlainOrder, price_plain, PLAIN),
        "typed dataclass": (Client.connect(address), TypedOrder, price_typed, LINE),
        "typed + encrypted": (Client.connect(address, data_converter=encrypted), TypedOrder, price_typed, LINE),
    }
    agents = [
        Agent(client, task_queue=name, workflows=[flow], activities=[act]).start()
        for name, (client, flow, act, _) in modes.items()
    ]
    times: Dict[str, List[float]] = {name: [] for name in modes}
    try:
        for name, (client, flow, _, value) in modes.items():  # warm up
            client.execute_workflow(flow, value, task_queue=name, timeout=30)
        for _ in range(options.rounds):
            for name, (client, flow, _, value) in modes.items():
                for _ in range(options.samples):
                    started = time.perf_counter()
                    client.execute_workflow(flow, value, task_queue=name, timeout=30)
                    times[name].append(time.perf_counter() - started)
    finally:
        for agent in agents:
            agent.shutdown()
        proc.terminate()
        proc.wait(timeout=10)
    print(f"one-activity workflow, small record in and out; {options.rounds} interleaved rounds of {options.samples}")
    plain_p50 = statistics.median(times["plain dicts"])
    for name, samples in times.items():
        samples.sort()
        p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95)]
        print(f"  {name:<20} p50 {p50 * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms   {p50 / plain_p50:5.2f}x plain")
    typed = DataConverter()
    per = {
        "encode plain dict": lambda: typed.encode(PLAIN),
        "encode typed": lambda: typed.encode(LINE),
        "decode typed": lambda: typed.decode(PLAIN, Line),
        "encode encrypted": lambda: encrypted.encode(LINE),
    }
    for label, call in per.items():
        seconds = min(timeit.repeat(call, number=2000, repeat=3)) / 2000
        print(f"  converter: {label:<18} {seconds * 1e6:6.1f} us per value")


if __name__ == "__main__":
    main()
