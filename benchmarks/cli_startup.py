"""How long the ``postgrip-agent`` command takes to answer, from a cold process.

    python benchmarks/cli_startup.py [--runs 15]

Runs each command ``--runs`` times as a user's shell would (a new interpreter each time) and
prints the median and best wall time: ``--version`` and ``--help`` (target < 0.3 s), and
``workflow list`` / ``workflow describe`` against the service in its own process (target
< 0.6 s, the whole command including its request). Peers measured in the same run: the bare
interpreter (``python -c pass``, the floor), ``python -c 'import requests'``, and DBOS's own
command line (``dbos --help``) when ``benchmarks/.dbos-venv`` holds it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _service import start_service_process  # noqa: E402

CLI = [sys.executable, "-m", "postgrip_agent.cli"]


def timed(command: List[str], runs: int, env: Dict[str, str]) -> List[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    proc, address = start_service_process("postgrip-cli-bench-")
    env = dict(os.environ, POSTGRIP_AGENTORCHESTRATOR_URL=address)
    try:
        subprocess.run([*CLI, "workflow", "list"], env=env, check=True, stdout=subprocess.DEVNULL)  # warm the disk cache
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
            ("python -c 'import requests'", [sys.executable, "-c", "import requests"], None),
            ("postgrip-agent --version", [*CLI, "--version"], 0.3),
            ("postgrip-agent --help", [*CLI, "--help"], 0.3),
            ("postgrip-agent workflow --help", [*CLI, "workflow", "--help"], 0.3),
            ("postgrip-agent workflow list", [*CLI, "workflow", "list"], 0.6),
            ("postgrip-agent task-queue list", [*CLI, "task-queue", "list"], 0.6),
        ]
        dbos = HERE / ".dbos-venv" / "bin" / "dbos"
        if dbos.exists():
            cases.append(("dbos --help (peer)", [str(dbos), "--help"], None))
        bytecode = (
            "not written (PYTHONDONTWRITEBYTECODE): every run compiles from source"
            if env.get("PYTHONDONTWRITEBYTECODE")
            else "written and reused"
        )
        print(f"bytecode: {bytecode}")
        print(f"{'command':36} {'median':>9} {'best':>9}  target")
        for label, command, target in cases:
            times = timed(command, runs, env)
            median = statistics.median(times)
            verdict = "" if target is None else f"< {target:.1f} s: {'met' if median < target else 'MISSED'}"
            print(f"{label:36} {median * 1000:7.0f} ms {min(times) * 1000:6.0f} ms  {verdict}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
