"""More open sockets than ``select.select`` can watch (1,024) must not starve anyone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_workflow_runs_while_1100_idle_connections_are_open() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.many_connections", "1100"], cwd=ROOT, capture_output=True, text=True, timeout=45
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [one for one in proc.stdout.splitlines() if one.startswith("RESULT ")]
    assert line, proc.stdout + proc.stderr[-3000:]
    _, value, seconds = line[0].split()
    assert int(value) == 20
    assert float(seconds) < 15.0, f"the workflow took {seconds}s"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
