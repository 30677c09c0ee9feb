"""The linter's rules and the formatter's style (ruff.toml) hold on the package, tests, examples and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]' brings it)")
    return subprocess.run([ruff, *args, *PATHS], cwd=ROOT, capture_output=True, text=True, timeout=120)


PATHS = ("postgrip_agent", "tests", "examples", "benchmarks")


def test_ruff_is_clean() -> None:
    done = _ruff("check")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_ruff_format_leaves_everything_as_it_is() -> None:
    done = _ruff("format", "--check")
    assert done.returncode == 0, "run `ruff format`:\n" + done.stdout[-3000:] + done.stderr[-1000:]
