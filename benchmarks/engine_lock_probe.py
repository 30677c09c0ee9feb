"""How long can one call be held up by another? The longest wait for the engine lock while
100 workflows with signals run through a fault-injecting proxy and oversized backfills are refused.

    python benchmarks/engine_lock_probe.py

A probe thread takes the engine lock every millisecond and records how long it waited: the
longest wait bounds the longest hold that any other call could have suffered. Prints figures.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postgrip_agent import Agent, Client, InvalidArgumentError  # noqa: E402
from postgrip_agent.testing import WorkflowEnvironment  # noqa: E402
from tests.proxy import FaultyProxy  # noqa: E402
from tests.test_chaos import GO, WORKFLOWS, Chaos, double  # noqa: E402


def main() -> None:
    with WorkflowEnvironment.start_local() as env:
        engine = env.server.engine
        waits: List[float] = []
        refused: List[int] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                with engine.locked():
                    pass
                waits.append(time.perf_counter() - started)
                time.sleep(0.001)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        proxy = FaultyProxy(
            (env.server.host, env.server.port), drop_request=0.01, drop_answer=0.02, half_answer=0.01, stall=0.003, delay=0.03
        )
        client = Client.connect(proxy.address, timeout=2.0)
        env.client.schedule.create_workflow_schedule(workflow="W", schedule_id="minutely", cron="* * * * *")
        started = time.monotonic()
        with Agent(Client.connect(proxy.address, timeout=2.0), task_queue="probe", workflows=[Chaos], activities=[double]):

            def drive(n: int) -> Any:
                handle = client.start_workflow(Chaos, n, id=f"probe-{n}", task_queue="probe", lease_timeout=timedelta(seconds=3))
                handle.signal(GO, f"a-{n}")
                handle.signal(GO, f"b-{n}")
                if n % 25 == 0:  # two years of a per-minute cron: refused before it is enumerated
                    try:
                        env.client.schedule.backfill(
                            "minutely", datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
                        )
                    except InvalidArgumentError:
                        refused.append(n)
                return handle.result(timeout=90)

            with ThreadPoolExecutor(max_workers=16) as pool:
                results = list(pool.map(drive, range(WORKFLOWS)))
        done.set()
        prober.join()
        proxy.close()
        ok = sum(1 for n, r in enumerate(results) if r == {"value": n * 4, "signals": [f"a-{n}", f"b-{n}"]})
        waits.sort()
        print(f"{ok}/{WORKFLOWS} workflows correct in {time.monotonic() - started:.1f}s; faults injected {proxy.injected}")
        print(f"oversized backfills refused: {len(refused)}")
        print(
            f"engine lock waits over {len(waits)} probes: p50 {statistics.median(waits) * 1000:.2f} ms, "
            f"p99 {waits[int(len(waits) * 0.99)] * 1000:.2f} ms, max {waits[-1] * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
