"""workflow.logger writes each line once per run: with the cache off, after eviction, and after
an agent restart (lines the replay re-runs are not written again)."""

from __future__ import annotations

import logging
import threading
from typing import Any, List

import pytest

from postgrip_agent import Agent, activity, workflow

from .conftest import wait_for


@workflow.defn(name="Poked")
class Poked:
    def __init__(self) -> None:
        self.pokes = 0

    @workflow.run
    def run(self, tag: str):  # type: ignore[no-untyped-def]
        workflow.logger.info("%s started", tag)
        yield workflow.wait_condition(lambda: self.pokes >= 3)
        workflow.logger.info("%s done", tag)
        return self.pokes

    @workflow.signal
    def poke(self) -> None:
        self.pokes += 1
        workflow.logger.info("poked %d", self.pokes)


def _lines(caplog: pytest.LogCaptureFixture) -> List[str]:
    """What workflow code logged, without the "(Type run-id)" suffix the logger adds."""
    return [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "postgrip_agent.workflow"]


def _poke_until_done(handle: Any, signals: int = 3) -> None:
    for n in range(signals):
        handle.signal("poke")
        wait_for(lambda n=n: sum(e.type == "WorkflowSignaled" for e in handle.fetch_history().events) > n)


@pytest.mark.parametrize("cache", [0, 1])
def test_each_line_is_logged_once_with_the_cache_off_and_under_eviction(
    env: Any, queue: str, cache: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postgrip_agent.workflow")
    with Agent(env.client, task_queue=queue, workflows=[Poked], max_cached_workflows=cache):
        # two runs side by side: with one cache slot, each activation evicts the other run
        first = env.client.start_workflow(Poked, "first", task_queue=queue)
        second = env.client.start_workflow(Poked, "second", task_queue=queue)
        for _ in range(3):
            first.signal("poke")
            second.signal("poke")
        assert (first.result(timeout=20), second.result(timeout=20)) == (3, 3)
    lines = _lines(caplog)
    for tag in ("first", "second"):
        assert [line for line in lines if line.startswith(tag)] == [f"{tag} started", f"{tag} done"], lines
    assert sorted(line for line in lines if line.startswith("poked")) == sorted(["poked 1", "poked 2", "poked 3"] * 2), lines


def test_lines_written_before_an_agent_restart_are_not_written_again(
    env: Any, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postgrip_agent.workflow")
    with Agent(env.client, task_queue=queue, workflows=[Poked]):
        handle = env.client.start_workflow(Poked, "restart", task_queue=queue)
        _poke_until_done(handle, signals=2)
        wait_for(lambda: "poked 2" in _lines(caplog))
    with Agent(env.client, task_queue=queue, workflows=[Poked]):  # a new agent: nothing cached
        handle.signal("poke")
        assert handle.result(timeout=20) == 3
    assert _lines(caplog) == ["restart started", "poked 1", "poked 2", "poked 3", "restart done"], _lines(caplog)


_ENTERED, _RELEASE = threading.Event(), threading.Event()


@activity.defn
def noted(tag: str) -> str:
    return tag


@workflow.defn(name="Gated", sandboxed=False)
class Gated:
    """Its first activation waits (a test's gate) so a signal lands while it runs."""

    def __init__(self) -> None:
        self.pinged = False

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        if not workflow.unsafe.is_replaying():
            _ENTERED.set()
            _RELEASE.wait(10)
        yield workflow.execute_activity(noted, "x", start_to_close_timeout=10)
        yield workflow.wait_condition(lambda: self.pinged)
        return "done"

    @workflow.signal
    def ping(self) -> None:
        self.pinged = True
        workflow.logger.info("pinged")


def test_a_signal_that_lands_while_an_activation_runs_is_new_to_the_next_one(env: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The signal is recorded before the running activation's commands; with the cache off the next
    activation replays from history, and the signal's handler runs there for the first time: it is
    not replaying, so its line is written (once)."""
    _ENTERED.clear()
    _RELEASE.clear()
    caplog.set_level(logging.INFO, logger="postgrip_agent.workflow")
    with Agent(env.client, task_queue="gated", workflows=[Gated], activities=[noted], max_cached_workflows=0):
        handle = env.client.start_workflow("Gated", id="gated", task_queue="gated")
        assert _ENTERED.wait(10)
        handle.signal("ping")  # recorded while the first activation still runs
        _RELEASE.set()
        assert handle.result(timeout=30) == "done"
    types = [e.type for e in handle.fetch_history().events]
    assert types.index("WorkflowSignaled") < types.index("ActivityTaskScheduled")  # the interleaving under test
    assert _lines(caplog) == ["pinged"]
