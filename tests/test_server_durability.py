"""A file-backed service keeps every acknowledged change across stops and crashes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest

from postgrip_agent.server import LocalServer

from .conftest import Wire, wait_for


def test_restart_on_same_file_continues_the_run(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    with LocalServer(db=db) as first:
        wire = Wire(first.address)
        wire.start("Order", "durable", args=[7])
        wf_task = wire.poll(types="workflow:")
        act = wire.activity(wf_task, "charge", 7)
        wire.block(wf_task)
    with LocalServer(db=db) as second:
        wire = Wire(second.address)
        assert wire.workflow("durable")["state"] == "running"
        act_task = wire.poll(types="activity:")
        assert act_task["id"] == act["id"]
        wire.complete(act_task, 14)
        wf_again = wire.poll(types="workflow:")
        assert wf_again["id"] == wf_task["id"]
        wire.complete(wf_again, "done")
        assert wire.history_types("durable") == [
            "WorkflowExecutionStarted",
            "ActivityTaskScheduled",
            "ActivityTaskCompleted",
            "WorkflowExecutionCompleted",
        ]


def _spawn(db: str, *extra: str) -> Tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgrip_agent.server", "--db", db, "--port", "0", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise AssertionError("service did not report its address")


def test_sigkill_loses_no_acknowledged_request(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    proc, address = _spawn(db)
    try:
        wire = Wire(address)
        ids = [wire.enqueue("shell.exec", {"i": i}, queue="q")["id"] for i in range(50)]
        wire.start("Order", "crashy")
        wf_task = wire.poll(types="workflow:")
        wire.post("/api/v1/workflows/crashy/signal", {"name": "go", "args": [1]}, expect=202)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc, address = _spawn(db)
    try:
        wire = Wire(address)
        stored = {t["id"] for t in wire.get("/api/v1/tasks", params={"type": "shell.exec", "limit": 1000})}
        assert stored == set(ids)
        assert wire.history_types("crashy") == ["WorkflowExecutionStarted", "WorkflowSignaled"]
        assert wire.task(wf_task["id"])["state"] == "leased"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    proc, address = _spawn(str(tmp_path / "t.db"))
    assert Wire(address).get("/healthz") == {"status": "ok"}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    wait_for(lambda: proc.poll() is not None)


def _synchronous(address: str) -> int:
    """PRAGMA synchronous as the service's own connection reads it back (/readyz): 2 FULL, 1 NORMAL."""
    return int(Wire(address).get("/readyz")["stats"]["store_sqlite_synchronous"])


def test_the_sqlite_store_syncs_every_commit_by_default_and_normal_is_reported(tmp_path: Path) -> None:
    with LocalServer(db=str(tmp_path / "default.db")) as default:
        assert _synchronous(default.address) == 2
    with LocalServer(db=str(tmp_path / "normal.db"), sqlite_synchronous="normal") as normal:
        assert _synchronous(normal.address) == 1
        Wire(normal.address).start("Order", "kept")
    with LocalServer(db=str(tmp_path / "normal.db"), sqlite_synchronous="FULL") as reopened:
        assert _synchronous(reopened.address) == 2  # a setting of the connection, not of the file
        assert Wire(reopened.address).workflow("kept")["state"] == "running"


def test_the_server_command_takes_sqlite_synchronous(tmp_path: Path) -> None:
    proc, address = _spawn(str(tmp_path / "cli.db"), "--sqlite-synchronous", "normal")
    try:
        assert _synchronous(address) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "postgrip_agent.server", "--db", str(tmp_path / "x.db"), "--sqlite-synchronous", "off"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "invalid choice: 'off'" in refused.stderr, refused.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("value", ["off", "extra", "", None])
def test_a_bad_synchronous_setting_is_refused_with_the_choices(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValueError, match="'full' .*or 'normal'"):
        LocalServer(db=str(tmp_path / "bad.db"), sqlite_synchronous=value)  # type: ignore[arg-type]
    assert not (tmp_path / "bad.db").exists()
