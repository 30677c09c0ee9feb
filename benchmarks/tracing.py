"""What tracing costs: a one-activity workflow with no interceptor (tracing off) and with the
OpenTelemetry TracingInterceptor (tracing on, spans made but not exported), interleaved in one run.

    python benchmarks/tracing.py [--rounds 7] [--samples 100] [--json]

The service runs in its own process; each mode has its own client and agent over loopback HTTP
on its own queue, and the modes take turns, ``--samples`` workflows a round. "Tracing off" is the
code path of every client and agent without interceptors: to see that it costs nothing against
the code before interceptors existed, run it under ``benchmarks/ab.py --before REV -- tracing.py
--json``. Prints p50/p95 per mode and on/off; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _service import start_service_process  # noqa: E402

from postgrip_agent import Agent, Client, activity, workflow  # noqa: E402


@activity.defn(name="traced_echo")
def echo(value: int) -> int:
    return value


@workflow.defn(name="TracedOne")
class One:
    @workflow.run
    def run(self, value: int):  # type: ignore[no-untyped-def]
        return (yield workflow.execute_activity(echo, value, start_to_close_timeout=30))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures (for ab.py)")
    options = parser.parse_args()
    modes: Dict[str, List[Any]] = {}
    proc, address = start_service_process("bench-tracing-")
    try:
        modes["tracing off"] = [Client.connect(address)]
        try:
            from opentelemetry.sdk.trace import TracerProvider

            from postgrip_agent.contrib.opentelemetry import TracingInterceptor

            tracer = TracerProvider().get_tracer("bench")  # spans made, none exported
            modes["tracing on"] = [Client.connect(address, interceptors=[TracingInterceptor(tracer)])]
        except ImportError:
            print("(opentelemetry-sdk is not installed: only tracing off is measured)")
        agents = [Agent(entry[0], task_queue=name, workflows=[One], activities=[echo]).start() for name, entry in modes.items()]
        times: Dict[str, List[float]] = {name: [] for name in modes}
        for name, (client,) in modes.items():
            client.execute_workflow(One, 0, task_queue=name, timeout=30)  # warm up
        for _ in range(options.rounds):
            for name, (client,) in modes.items():
                for i in range(options.samples):
                    started = time.perf_counter()
                    client.execute_workflow(One, i, task_queue=name, timeout=30)
                    times[name].append(time.perf_counter() - started)
        for agent in agents:
            agent.shutdown()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    figures = {}
    print(f"one-activity workflow; {options.rounds} interleaved rounds of {options.samples}")
    for name, samples in times.items():
        samples.sort()
        p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95)]
        figures[name.replace(" ", "_") + "_p50_ms"] = p50 * 1000
        print(f"  {name:<12} p50 {p50 * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms")
    if "tracing on" in times:
        print(f"  on/off p50: {figures['tracing_on_p50_ms'] / figures['tracing_off_p50_ms']:.2f}x")
    if options.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
