"""A long run on PostgreSQL: does throughput hold as finished runs accumulate?

    POSTGRIP_BENCH_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python benchmarks/soak.py [--workflows 10000]

One replica in its own process on a schema of its own (dropped afterwards); an agent and a
client in this process; ``--workflows`` one-activity workflows started by 16 threads, each
starting its next as soon as its last finished (so about 16 are in flight throughout). Prints
workflows/s for each window of ``--window`` seconds, the first and the last full window and
their ratio, and whether every run finished with its own result. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from replicas import One, _replicas, echo  # noqa: E402

from postgrip_agent import Agent, Client  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds per throughput window")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    finished: List[float] = []
    wrong: List[int] = []
    lock = threading.Lock()
    with _replicas("postgres-1") as addresses:
        client = Client.connect(addresses[0])
        with Agent(client, task_queue="bench", workflows=[One], activities=[echo]):
            client.execute_workflow(One, -1, task_queue="bench")  # warm up
            started = time.monotonic()
            counter = iter(range(args.workflows))

            def worker() -> None:
                for i in counter:  # next() of a range iterator is atomic under the GIL
                    result = client.execute_workflow(One, i, task_queue="bench")
                    with lock:
                        finished.append(time.monotonic() - started)
                        if result != i:
                            wrong.append(i)

            with ThreadPoolExecutor(args.threads) as pool:
                for future in [pool.submit(worker) for _ in range(args.threads)]:
                    future.result()
            elapsed = time.monotonic() - started
    windows = int(elapsed // args.window)
    rates = [sum(1 for t in finished if k * args.window <= t < (k + 1) * args.window) / args.window for k in range(windows)]
    print(
        f"{len(finished)} of {args.workflows} workflows finished in {elapsed:.0f} s "
        f"({len(finished) / elapsed:.1f}/s overall); wrong results: {len(wrong)}"
    )
    print("workflows/s per window of %.0f s: %s" % (args.window, " ".join(f"{r:.1f}" for r in rates)))
    if len(rates) >= 2:
        print(f"first window {rates[0]:.1f}/s, last full window {rates[-1]:.1f}/s: last/first {rates[-1] / rates[0]:.2f}")


if __name__ == "__main__":
    main()
