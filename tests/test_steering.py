"""Signals, queries, updates and cancellation, end to end."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, List

import pytest

from postgrip_agent import (
    Agent,
    CancelledFailure,
    ConflictError,
    NotFoundError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    activity,
    workflow,
)

T10 = timedelta(seconds=10)
ADD = workflow.define_signal("add")
ITEMS = workflow.define_query("items")
SET_LIMIT = workflow.define_update("set_limit")


@activity.defn
def echo(value: Any) -> Any:
    return value


_slow_release = threading.Event()


@activity.defn
def slow_echo(value: Any) -> Any:
    _slow_release.wait(10)
    return value


@workflow.defn
class Collector:
    def __init__(self) -> None:
        self.items: List[Any] = []
        self.limit = 100
        self.updates = 0
        workflow.set_handler(ADD, self.items.append)
        workflow.set_handler(ITEMS, lambda: list(self.items))
        workflow.set_handler(workflow.define_query("updates"), lambda: self.updates)
        workflow.set_handler(SET_LIMIT, self.set_limit, validator=self.validate_limit)

    def validate_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")

    def set_limit(self, limit: int) -> int:
        self.updates += 1
        self.limit = limit
        return len(self.items)

    @workflow.run
    def run(self, wait_for_activity: bool):
        if wait_for_activity:
            yield workflow.execute_activity(slow_echo, "x", start_to_close_timeout=T10)
        yield workflow.condition(lambda: len(self.items) >= self.limit)
        return self.items


def test_burst_of_signals_from_many_threads_applied_once_in_history_order(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, False, task_queue=queue)

        def send(thread: int) -> None:
            for i in range(10):
                handle.signal(ADD, f"{thread}-{i}")

        threads = [threading.Thread(target=send, args=(t,)) for t in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result = handle.result(timeout=20)
    order = [e.attributes["args"][0] for e in handle.fetch_history().events if e.type == "WorkflowSignaled"]
    assert len(result) == 100 and sorted(result) == sorted(f"{t}-{i}" for t in range(10) for i in range(10))
    assert result == order


@workflow.defn
class LateHandler:
    def __init__(self) -> None:
        self.seen: List[str] = []

    @workflow.run
    def run(self):
        yield workflow.execute_activity(echo, 1, start_to_close_timeout=T10)
        yield workflow.condition(lambda: workflow.info().workflow_id in _late_ready)
        workflow.set_handler("early", self.seen.append)  # signals sent before now are delivered here
        yield workflow.condition(lambda: len(self.seen) >= 2)
        return self.seen


_late_ready: set = set()


def test_signal_sent_before_the_handler_exists_is_delivered_on_registration(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[LateHandler], activities=[echo]):
        handle = env.client.start_workflow(LateHandler, id="late", task_queue=queue)
        handle.signal("early", "first")
        handle.signal("early", "second")
        _late_ready.add("late")
        handle.signal("nudge")  # an unknown name is recorded and buffered, never lost
        assert handle.result(timeout=10) == ["first", "second"]
    names = [e.attributes["signal_name"] for e in handle.fetch_history().events if e.type == "WorkflowSignaled"]
    assert names == ["early", "early", "nudge"]


def test_query_while_waiting_on_a_slow_activity_leaves_history_alone(env: Any, queue: str) -> None:
    _slow_release.clear()
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, True, task_queue=queue)
        handle.signal(ADD, "a")
        deadline = time.monotonic() + 10
        while handle.query(ITEMS) != ["a"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        before = [e.id for e in handle.fetch_history().events]
        for _ in range(5):
            assert handle.query(ITEMS) == ["a"]
        assert [e.id for e in handle.fetch_history().events] == before
        _slow_release.set()
        handle.execute_update(SET_LIMIT, 1)
        assert handle.result(timeout=10) == ["a"]


def test_updates_apply_once_and_rejections_record_nothing(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, False, task_queue=queue)
        handle.signal(ADD, "a")
        assert handle.execute_update(SET_LIMIT, 3) == 1
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            handle.execute_update(SET_LIMIT, 0)
        assert "limit must be positive" in str(rejected.value)
        for item in ("b", "c"):  # each signal is a new workflow task replaying the update
            handle.signal(ADD, item)
        assert handle.result(timeout=10) == ["a", "b", "c"]
    events = handle.fetch_history().events
    assert [e.attributes["args"] for e in events if e.type == "WorkflowUpdateCompleted"] == [[3]]
    assert env.client.get_workflow_handle(handle.id).describe().state == "succeeded"


def test_update_applied_once_across_many_replays(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, False, task_queue=queue)
        handle.execute_update(SET_LIMIT, 6)
        for i in range(5):
            handle.signal(ADD, i)
            assert handle.query("updates") == 1
        handle.signal(ADD, 5)
        assert handle.result(timeout=10) == [0, 1, 2, 3, 4, 5]


@workflow.defn
class Waits:
    def __init__(self) -> None:
        self.go = False
        workflow.set_handler("go", lambda: setattr(self, "go", True))

    @workflow.run
    def run(self, timeout_ms: int):
        if timeout_ms:
            met = yield workflow.condition(lambda: self.go, timeout=timedelta(milliseconds=timeout_ms))
        else:
            met = yield workflow.condition(lambda: self.go)
        return met


def test_condition_with_and_without_timeout(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Waits]):
        timed_out = env.client.start_workflow(Waits, 100, task_queue=queue)
        assert timed_out.result(timeout=10) is False
        signalled = env.client.start_workflow(Waits, 0, task_queue=queue)
        signalled.signal("go")
        assert signalled.result(timeout=10) is True
        in_time = env.client.start_workflow(Waits, 30_000, task_queue=queue)
        in_time.signal("go")
        assert in_time.result(timeout=10) is True


_cleanups: List[str] = []


@activity.defn
def cleanup(what: str) -> str:
    _cleanups.append(what)
    return what


@workflow.defn
class SleepsThenCleansUp:
    @workflow.run
    def run(self):
        try:
            yield workflow.sleep(timedelta(seconds=60))
        except CancelledFailure:
            with workflow.CancellationScope(cancellable=False):
                yield workflow.execute_activity(cleanup, "released the hold", start_to_close_timeout=T10)
            raise
        return "slept"


def test_cancel_during_sleep_runs_shielded_cleanup_then_ends_cancelled(env: Any, queue: str) -> None:
    _cleanups.clear()
    with Agent(env.client, task_queue=queue, workflows=[SleepsThenCleansUp], activities=[cleanup]):
        handle = env.client.start_workflow(SleepsThenCleansUp, task_queue=queue)
        deadline = time.monotonic() + 5
        while not any(e.type == "TimerStarted" for e in handle.fetch_history().events):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        handle.cancel("customer left")
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
    assert caught.value.status == "cancelled"
    assert _cleanups == ["released the hold"]


_heartbeat_log: List[str] = []
_heartbeat_started = threading.Event()


@activity.defn
def heartbeater(kind: str) -> str:
    _heartbeat_started.set()
    for _ in range(200):
        try:
            activity.heartbeat()
        except CancelledFailure:
            _heartbeat_log.append(f"{kind}: cancelled")
            raise
        time.sleep(0.02)
    return "finished"


@workflow.defn
class CancelsActivity:
    @workflow.run
    def run(self, kind: str):
        try:
            yield workflow.execute_activity(heartbeater, kind, start_to_close_timeout=T10, cancellation_type=kind)
        except CancelledFailure:
            _heartbeat_log.append(f"{kind}: workflow saw cancel")
            raise
        return "done"


@pytest.mark.parametrize("kind", ["try_cancel", "wait_cancellation_completed", "abandon"])
def test_cancelling_a_heartbeating_activity(env: Any, queue: str, kind: str) -> None:
    _heartbeat_log.clear()
    _heartbeat_started.clear()
    with Agent(env.client, task_queue=queue, workflows=[CancelsActivity], activities=[heartbeater]):
        handle = env.client.start_workflow(CancelsActivity, kind, task_queue=queue)
        assert _heartbeat_started.wait(10)
        handle.cancel()
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=10)
        assert caught.value.status == "cancelled"
        deadline = time.monotonic() + 5
        while f"{kind}: cancelled" not in _heartbeat_log:
            assert time.monotonic() < deadline, _heartbeat_log
            time.sleep(0.02)
    if kind == "wait_cancellation_completed":  # the workflow waited for the activity to acknowledge
        assert _heartbeat_log.index(f"{kind}: cancelled") < _heartbeat_log.index(f"{kind}: workflow saw cancel")
    else:
        assert f"{kind}: workflow saw cancel" in _heartbeat_log


_race_release = threading.Event()


@activity.defn
def slowpoke() -> str:
    _race_release.wait(5)
    return "slow"


@workflow.defn
class RacesTimer:
    @workflow.run
    def run(self):
        with workflow.CancellationScope() as scope:
            slow = workflow.execute_activity(slowpoke, start_to_close_timeout=T10)
        timer = workflow.sleep(timedelta(milliseconds=50))
        winner = yield workflow.wait_any(slow, timer)
        if winner is timer:
            scope.cancel("timer won")
        try:
            result = yield slow
        except CancelledFailure as cancelled:
            return f"cancelled: {cancelled}"
        return result


def test_race_activity_against_timer_and_cancel_the_loser(env: Any, queue: str) -> None:
    _race_release.clear()
    with Agent(env.client, task_queue=queue, workflows=[RacesTimer], activities=[slowpoke]):
        try:
            assert env.client.execute_workflow(RacesTimer, task_queue=queue, timeout=10) == "cancelled: timer won"
        finally:
            _race_release.set()


def test_signal_with_start_creates_then_only_signals(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        first = env.client.workflow.signal_with_start(
            Collector, False, signal=ADD, signal_args=["one"], id="sws", task_queue=queue
        )
        second = env.client.workflow.signal_with_start(
            Collector, False, signal=ADD, signal_args=["two"], id="sws", task_queue=queue
        )
        assert first.result_run_id == second.result_run_id
        assert env.client.count_workflows(workflow_id="sws") == 1
        deadline = time.monotonic() + 10
        while first.query(ITEMS) != ["one", "two"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first.terminate(reason="test over")


def test_terminate_a_run_blocked_on_an_activity(env: Any, queue: str) -> None:
    _slow_release.clear()
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, True, task_queue=queue)
        deadline = time.monotonic() + 10
        while not any(e.type == "ActivityTaskScheduled" for e in handle.fetch_history().events):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        handle.terminate(reason="stuck order")
        with pytest.raises(WorkflowFailureError) as caught:
            handle.result(timeout=5)
        assert caught.value.status == "terminated"
        _slow_release.set()
    assert handle.fetch_history().events[-1].type == "WorkflowExecutionTerminated"


def test_bad_steering_names_the_workflow_and_the_name(env: Any, queue: str) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        env.client.get_workflow_handle("ghost").signal("poke")
    with pytest.raises(NotFoundError, match="ghost"):
        env.client.get_workflow_handle("ghost").query("items")
    with Agent(env.client, task_queue=queue, workflows=[Collector], activities=[echo, slow_echo]):
        handle = env.client.start_workflow(Collector, False, id="steer", task_queue=queue)
        with pytest.raises(WorkflowQueryFailedError, match="no query handler 'nope'.*known: items, updates"):
            handle.query("nope")
        with pytest.raises(WorkflowUpdateFailedError, match="no update handler 'nope'"):
            handle.execute_update("nope", 1)
        with pytest.raises(WorkflowUpdateFailedError, match="cannot take arguments"):
            handle.execute_update(SET_LIMIT, args=[1, 2, 3])
        with pytest.raises(WorkflowQueryFailedError, match="cannot take arguments"):
            handle.query(ITEMS, "unexpected")
        handle.signal(ADD, args=["too", "many"])  # the handler cannot take these: dropped, run unharmed
        handle.execute_update(SET_LIMIT, 1)
        handle.signal(ADD, "fine")
        assert handle.result(timeout=10) == ["fine"]
        with pytest.raises(ConflictError, match="steer.*not running"):
            handle.signal(ADD, "late")
        assert handle.query(ITEMS) == ["fine"]  # a finished run answers queries by replaying its history
        with pytest.raises(ConflictError, match="not running"):
            handle.execute_update(SET_LIMIT, 2)


@workflow.defn
class WaitingUpdate:
    def __init__(self) -> None:
        self.log: List[str] = []
        workflow.set_handler(workflow.define_update("reserve"), self.reserve)
        workflow.set_handler("finish", lambda: self.log.append("finish"))

    def reserve(self, item: str):
        confirmed = yield workflow.execute_activity(echo, f"reserved {item}", start_to_close_timeout=T10)
        self.log.append(confirmed)
        return confirmed

    @workflow.run
    async def run(self) -> List[str]:
        await workflow.condition(lambda: "finish" in self.log)
        return self.log


def test_update_handler_that_waits_on_an_activity(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[WaitingUpdate], activities=[echo]):
        handle = env.client.start_workflow(WaitingUpdate, task_queue=queue)
        assert handle.execute_update("reserve", "seat 4", timeout=10) == "reserved seat 4"
        assert handle.execute_update("reserve", "seat 5", timeout=10) == "reserved seat 5"
        handle.signal("finish")
        assert handle.result(timeout=10) == ["reserved seat 4", "reserved seat 5", "finish"]


@workflow.defn
class SleepyChild:
    @workflow.run
    def run(self):
        yield workflow.sleep(timedelta(seconds=60))
        return "woke"


@workflow.defn
class ParentOfSleepy:
    @workflow.run
    def run(self, abandon: bool):
        result = yield workflow.execute_child(
            SleepyChild, id=f"{workflow.info().workflow_id}-kid", cancellation_type="abandon" if abandon else None
        )
        return result


@pytest.mark.parametrize("abandon", [False, True])
def test_children_are_cancelled_with_their_parent_unless_abandoned(env: Any, queue: str, abandon: bool) -> None:
    with Agent(env.client, task_queue=queue, workflows=[ParentOfSleepy, SleepyChild]):
        parent = env.client.start_workflow(ParentOfSleepy, abandon, id=f"parent-{abandon}", task_queue=queue)
        child = env.client.get_workflow_handle(f"parent-{abandon}-kid")
        deadline = time.monotonic() + 10
        while True:
            try:
                if any(e.type == "TimerStarted" for e in child.fetch_history().events):
                    break
            except NotFoundError:
                pass
            assert time.monotonic() < deadline, "the child never started its timer"
            time.sleep(0.01)
        parent.cancel("order withdrawn")
        with pytest.raises(WorkflowFailureError) as caught:
            parent.result(timeout=10)
        assert caught.value.status == "cancelled"
        if abandon:
            assert child.describe().state == "running"
            child.terminate(reason="test over")
        else:
            with pytest.raises(WorkflowFailureError) as child_failure:
                child.result(timeout=10)
            # the parent waited for it (the default cancellation type): cancelled, not terminated
            assert child_failure.value.status == "cancelled"


@workflow.defn
class EnrichesSignals:
    def __init__(self) -> None:
        self.enriched: List[str] = []
        workflow.set_handler("item", self.on_item)

    def on_item(self, name: str):  # a generator handler: waits on an activity, in the workflow's scheduler
        enriched = yield workflow.execute_activity(echo, f"{name}!", start_to_close_timeout=T10)
        self.enriched.append(enriched)

    @workflow.run
    async def run(self, expected: int) -> List[str]:
        await workflow.condition(lambda: len(self.enriched) >= expected)
        return self.enriched


def test_signal_handlers_may_wait_on_workflow_futures(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[EnrichesSignals], activities=[echo]):
        handle = env.client.start_workflow(EnrichesSignals, 2, task_queue=queue)
        handle.signal("item", "a")
        handle.signal("item", "b")
        assert sorted(handle.result(timeout=10)) == ["a!", "b!"]
