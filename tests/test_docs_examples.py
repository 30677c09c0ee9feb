"""The side-by-side examples of the porting guides run as written, against a LocalServer."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from postgrip_agent import Agent, Client, workflow
from postgrip_agent.server import LocalServer

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _our_example(page: str) -> str:
    """The python block that follows the page's "This SDK" paragraph."""
    text = (DOCS / page).read_text()
    after = text[text.index("\nThis SDK") :]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match is not None, f"{page}: no example after 'This SDK'"
    return match.group(1)


@pytest.mark.parametrize(
    "page,expected", [("coming-from-async-sdk.md", "receipt-order-7"), ("coming-from-temporal.md", "['Hello, Ada!']")]
)
def test_the_porting_guides_example_runs(page: str, expected: str, tmp_path: Path, capsys: Any) -> None:
    source = _our_example(page)
    assert 'Client.connect("http://127.0.0.1:4100")' in source
    with LocalServer(port=0) as server:
        script = tmp_path / "example.py"
        script.write_text(source.replace('"http://127.0.0.1:4100"', repr(server.address)))
        globals_: Dict[str, Any] = runpy.run_path(str(script), run_name="example")
        globals_["client"].close()
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == expected, printed


@workflow.defn(name="Reconcile")
class _Reconcile:
    @workflow.run
    def run(self) -> str:
        return "reconciled"


def test_the_cron_recipe_runs_night_after_night(tmp_path: Path) -> None:
    """docs/cron.md's 'wait for a result' program, run twice the same night (a retried cron job):
    both exit 0 with the night's result, and the night has one run."""
    text = (DOCS / "cron.md").read_text()
    after = text[text.index("## Wait for a result") :]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match is not None
    (tmp_path / "reconcile.py").write_text(match.group(1))
    with LocalServer(port=0) as server:
        client = Client.connect(server.address)
        with Agent(client, task_queue="finance", workflows=[_Reconcile]):
            for _ in range(2):
                done = subprocess.run(
                    [sys.executable, str(tmp_path / "reconcile.py")],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env={**os.environ, "POSTGRIP_AGENTORCHESTRATOR_URL": server.address, "PYTHONPATH": str(DOCS.parent)},
                )
                assert done.returncode == 0 and done.stdout.strip() == "reconciled", done.stderr[-2000:]
        assert len([r for r in client.workflow.list(workflow_type="Reconcile")]) == 1
