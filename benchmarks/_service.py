"""Start the local service in its own process for a benchmark (as `postgrip-agent server` runs it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from typing import Tuple


def start_service_process(prefix: str = "postgrip-bench-", *extra: str) -> Tuple["subprocess.Popen[str]", str]:
    """The process and its address; the caller terminates it. ``extra``: more server options
    (``--sqlite-synchronous normal``)."""
    db = tempfile.mkdtemp(prefix=prefix) + "/bench.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgrip_agent.server", "--db", db, "--port", "0", *extra], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    address = next(m.group(1) for line in proc.stderr if (m := re.search(r"listening on (http://\S+)", line)))
    return proc, address


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
