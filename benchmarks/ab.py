"""One benchmark, on the code of two commits, interleaved in one run: did a change make anything slower?

    python benchmarks/ab.py --before REV [--reps 3] -- compare_dbos.py --worker sdk-http --quick
    python benchmarks/ab.py --before REV -- replicas.py --reps 1 --workflows 300 --json

The benchmark script is this checkout's; the package it measures is put first on ``PYTHONPATH``
(``REV`` from a temporary ``git worktree``, then this checkout), and processes the script starts
inherit it. Each repetition runs before, then after; the script's last stdout line that starts with
``{`` must be a JSON object of figures. Prints the medians and after/before ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _run(tree: Path, script: List[str]) -> Dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(HERE / script[0]), *script[1:]], cwd=tree, env=env, capture_output=True, text=True, timeout=7200
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script[0]} on {tree} failed:\n{done.stderr[-3000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]  # the script's JSON line
    return json.loads(last)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS...] (a script in benchmarks/)")
    options = parser.parse_args()
    script = [s for s in options.script if s != "--"]
    with tempfile.TemporaryDirectory(prefix="postgrip-ab-") as scratch:
        before = Path(scratch) / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), options.before], check=True, capture_output=True
        )
        try:
            runs: Dict[str, List[Dict[str, Any]]] = {"before": [], "after": []}
            for rep in range(options.reps):
                for name, tree in (("before", before), ("after", ROOT)):
                    runs[name].append(_run(tree, script))
                    print(f"rep {rep + 1}: {name} {runs[name][-1]}", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], capture_output=True)
    print(f"{' '.join(script)}: medians of {options.reps} interleaved runs, before = {options.before}")
    print(f"{'figure':<28}{'before':>12}{'after':>12}{'after/before':>14}")
    for key in runs["before"][0]:
        old = statistics.median(r[key] for r in runs["before"])
        new = statistics.median(r[key] for r in runs["after"])
        print(f"{key:<28}{old:>12.2f}{new:>12.2f}{new / old if old else float('nan'):>14.2f}")


if __name__ == "__main__":
    main()
