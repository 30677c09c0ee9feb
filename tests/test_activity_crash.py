"""An agent killed with SIGKILL mid-activity: its lease lapses, the attempt counts as failed,
and another agent finishes the activity as attempt 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

from postgrip_agent import Agent, activity

from .conftest import Wire, wait_for
from .crash_workflow import Killable

DOOMED_AGENT = textwrap.dedent("""
    import pathlib, sys, time
    sys.path.insert(0, sys.argv[4])
    from crash_workflow import Killable
    from postgrip_agent import Agent, Client, activity

    @activity.defn(name="killable_work")
    def killable_work(value):
        pathlib.Path(sys.argv[3]).write_text(str(activity.info().attempt))
        time.sleep(60)  # killed long before this returns
        return -1

    client = Client.connect(sys.argv[1])
    Agent(client, task_queue=sys.argv[2], workflows=[Killable], activities=[killable_work], activity_lease=1).run()
""")
_attempts: List[int] = []


@activity.defn(name="killable_work")
def killable_work(value: int) -> int:
    _attempts.append(activity.info().attempt)
    return value * 10


def test_a_sigkilled_agents_activity_is_finished_by_another_agent_as_attempt_two(env: Any, queue: str, tmp_path: Path) -> None:
    _attempts.clear()  # the test runs once per store
    script, marker = tmp_path / "doomed_agent.py", tmp_path / "started"
    script.write_text(DOOMED_AGENT)
    here = str(Path(__file__).parent)
    doomed = subprocess.Popen([sys.executable, str(script), env.server.address, queue, str(marker), here], cwd=tmp_path)
    try:
        handle = env.client.start_workflow("Killable", 7, task_queue=queue)
        # the file appears before its text: wait for the text (the write is not atomic)
        wait_for(lambda: marker.exists() and marker.read_text(), timeout=20)
        assert marker.read_text() == "1"
        leased = [t for t in env.client.task.list(queue=queue) if t.type == "activity:killable_work"][0]
        # killed once its agent has renewed the lease (to activity_lease=1 s), as an agent mid-run would be
        wait_for(lambda: any(e.stage == "lease" for e in env.client.task.events(leased.id)), timeout=10)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        with Agent(env.client, task_queue=queue, workflows=[Killable], activities=[killable_work]):
            assert handle.result(timeout=20) == 70
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert _attempts == [2]
    retried = [e for e in handle.fetch_history().events if e.type == "ActivityTaskRetryScheduled"]
    assert len(retried) == 1 and retried[0].attributes["failure"]["type"] == "LeaseExpired"
    assert retried[0].attributes["attempt"] == 2


def test_a_lapsed_activity_lease_is_a_failed_attempt_retried_as_a_new_task(mwire: Wire, manual_server: Any) -> None:
    workflow_task = mwire.start("W", "lapse-activity")
    mwire.poll()
    scheduled = mwire.activity(workflow_task, "work", 1, retry={"initialIntervalMs": 1000})
    mwire.block(workflow_task)
    leased = mwire.poll(types="activity:")
    assert leased["id"] == scheduled["id"] and leased["attempt"] == 1
    manual_server.advance(31)  # the lease (30 s) lapses: the agent is gone
    lost = mwire.task(scheduled["id"])
    assert lost["state"] == "failed" and "lease lapsed" in lost["error"]
    manual_server.advance(1)  # the retry's backoff
    retry = mwire.poll(types="activity:", agent="agent-2")
    assert retry["id"] != scheduled["id"] and retry["attempt"] == 2 and retry["payload"]["attempt"] == 2
    types = mwire.history_types("lapse-activity")
    assert types[-2:] == ["ActivityTaskRetryScheduled", "ActivityTaskScheduled"]
