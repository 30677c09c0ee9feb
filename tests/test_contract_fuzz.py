"""Contract fuzzing (``fuzz_contract.py``), in a pytest process of its own: the schemathesis and
hypothesis pytest plugins load only there, not in each worker of the main run (setup.cfg blocks
them), where importing them cost seconds of CPU per worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_generated_requests_get_valid_non_5xx_answers(tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "-rfEs",
            "--basetemp",
            str(tmp_path / "fuzz"),
            str(HERE / "fuzz_contract.py"),
        ],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
