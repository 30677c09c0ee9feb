"""Start the local service in its own process for a benchmark (as `postgrip-agent server` runs it)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from typing import Tuple


def start_service_process(prefix: str = "postgrip-bench-") -> Tuple["subprocess.Popen[str]", str]:
    """The process and its address; the caller terminates it."""
    db = tempfile.mkdtemp(prefix=prefix) + "/bench.db"
    proc = subprocess.Popen([sys.executable, "-m", "postgrip_agent.server", "--db", db, "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    address = next(m.group(1) for line in proc.stderr if (m := re.search(r"listening on (http://\S+)", line)))
    return proc, address
