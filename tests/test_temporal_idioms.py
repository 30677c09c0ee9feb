"""Temporal's idioms and the async SDK's call shapes, end to end on a LocalServer with an Agent.

Decorated handlers (@workflow.signal/query/update with a validator) and typed references to
them, ``wait_condition``, ``execute_activity_method``, the async SDK's handle spellings
(``signal(name, a, b)``, ``terminate("why")``, ``*_sync``, ``history()``, ``events()``),
``CancellationScope.non_cancellable`` with an ``async def``, and ``continue_as_new`` given
the workflow first.
"""

from __future__ import annotations

import asyncio
import enum
import json
from datetime import timedelta
from typing import Any, Iterator, List, Optional

import attrs
import pytest

from postgrip_agent import (
    Agent,
    CancellationScope,
    RetryPolicy,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    activity,
    workflow,
)
from postgrip_agent.testing import WorkflowEnvironment

from .conftest import wait_for

T10 = timedelta(seconds=10)


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment.start_local() as environment:
        yield environment


@attrs.define
class Order:
    sku: str
    quantity: int


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: List[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> List[str]:
        await workflow.wait_condition(lambda: self.closed)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal(name="close-cart")
    def close(self) -> None:
        self.closed = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.query(name="last-order")
    def last_order(self) -> Order:
        return Order(self.items[-1] if self.items else "", len(self.items))

    @workflow.update
    def add_many(self, first: str, second: str) -> int:
        self.items += [first, second]
        return len(self.items)

    @add_many.validator
    def check_many(self, first: str, second: str) -> None:
        if first == second:
            raise ValueError("the two items must differ")


def test_decorated_handlers_by_name_and_by_reference(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Cart]):
        handle = env.client.start_workflow(Cart, id="cart-1", task_queue=queue)
        handle.signal(Cart.add, "apple")  # a typed reference, Temporal's way
        handle.signal("add", "pear")  # by name
        assert handle.query(Cart.count) == 2
        assert handle.query(Cart.last_order) == Order("pear", 2)  # decoded into the method's return type
        assert handle.execute_update(Cart.add_many, "fig", "kiwi") == 4
        with pytest.raises(WorkflowUpdateFailedError, match="must differ"):
            handle.execute_update("add_many", "plum", "plum")
        handle.signal(Cart.close)  # registered as "close-cart"
        assert handle.result(timeout=10) == ["apple", "pear", "fig", "kiwi"]
        assert handle.query(Cart.count) == 4  # a finished run answers by replaying its history
        with pytest.raises(Exception, match="not running"):
            handle.execute_update(Cart.add_many, "x", "y")  # updates need a running run
    signals = [e.attributes["signal_name"] for e in handle.fetch_history().events if e.type == "WorkflowSignaled"]
    assert signals == ["add", "add", "close-cart"]


@workflow.defn
class Approvals:
    def __init__(self) -> None:
        self.votes: List[Any] = []
        workflow.set_handler("vote", lambda *args: self.votes.append(list(args)))

    @workflow.run
    def run(self, timeout_s: float):  # type: ignore[no-untyped-def]
        try:
            yield workflow.wait_condition(lambda: len(self.votes) >= 2, timeout=timeout_s)
        except asyncio.TimeoutError:
            return {"timed_out": True, "votes": self.votes}
        return {"timed_out": False, "votes": self.votes}


def test_signal_arguments_follow_the_name_as_in_the_async_sdk(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Approvals]):
        handle = env.client.start_workflow(Approvals, 30, id="votes", task_queue=queue)
        handle.signal("vote", "ann", 3)  # name, then the arguments
        handle.signal_sync("vote", args=["bob", 1])  # the async SDK's blocking spelling; Temporal's args=
        with pytest.raises(TypeError, match="not both"):
            handle.signal("vote", "eve", args=["eve"])
        assert handle.result_sync(timeout=10, poll_interval=0.5) == {"timed_out": False, "votes": [["ann", 3], ["bob", 1]]}


def test_wait_condition_times_out_with_asyncio_timeout_error(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Approvals]):
        assert env.client.execute_workflow(Approvals, 0.05, task_queue=queue, timeout=10) == {"timed_out": True, "votes": []}


def test_terminate_takes_the_reason_positionally(env: WorkflowEnvironment, queue: str) -> None:
    handle = env.client.start_workflow("NobodyRuns", id="term", task_queue=queue)
    with pytest.raises(TypeError, match="reason"):
        handle.terminate(42)
    handle.terminate("operator said so")
    with pytest.raises(WorkflowFailureError) as ended:
        handle.result(timeout=10)
    assert ended.value.status == "terminated" and "operator said so" in str(ended.value)


class Billing:
    def __init__(self, rate: int) -> None:
        self.rate = rate

    @activity.defn(name="bill")
    def bill(self, units: int) -> int:
        return units * self.rate


@workflow.defn
class Invoice:
    @workflow.run
    def run(self, units: int):  # type: ignore[no-untyped-def]
        first = yield workflow.execute_activity_method(Billing.bill, units, start_to_close_timeout=T10)
        second = yield workflow.execute_activity(
            "bill", units + 1, start_to_close_timeout_ms=10_000, retry=RetryPolicy(maximum_attempts=2), cancellationType="abandon"
        )
        return [first, second]


def test_activity_methods_and_the_async_sdks_activity_keywords(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Invoice], activities=[Billing(7).bill]):
        handle = env.client.start_workflow(Invoice, 2, id="invoice", task_queue=queue)
        assert handle.result(timeout=10) == [14, 21]
    scheduled = [e.attributes for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled"]
    assert len(scheduled) == 2
    history = handle.history()  # the async SDK's shape: JSON objects
    assert isinstance(history[0], dict) and history[0]["type"] == "WorkflowExecutionStarted"
    assert handle.history_sync() == history
    assert handle.describe_sync().state == "succeeded"
    assert all(isinstance(event, dict) for event in handle.events())


_cleanup: List[str] = []


@activity.defn(name="note_cleanup")
def note_cleanup(what: str) -> str:
    _cleanup.append(what)
    return what


@workflow.defn
class Shielded:
    @workflow.run
    async def run(self) -> List[Optional[str]]:
        async def tidy() -> str:
            assert CancellationScope.current() == "non_cancellable"
            return await workflow.execute_activity(note_cleanup, "tidied", start_to_close_timeout=T10)

        outside = CancellationScope.current()
        inside = await CancellationScope.non_cancellable(tidy)
        plain = await CancellationScope.cancellable(lambda: "plain value")
        return [outside, inside, plain]


def test_scope_helpers_run_async_functions_and_say_where_they_are(env: WorkflowEnvironment, queue: str) -> None:
    _cleanup.clear()
    with Agent(env.client, task_queue=queue, workflows=[Shielded], activities=[note_cleanup]):
        assert env.client.execute_workflow(Shielded, task_queue=queue, timeout=10) == ["cancellable", "tidied", "plain value"]
    assert _cleanup == ["tidied"]


@workflow.defn(name="Relay")
class Relay:
    @workflow.run
    def run(self, n: int, hops: List[int]):  # type: ignore[no-untyped-def]
        if n == 0:
            return hops
        if n % 2:
            workflow.continue_as_new("Relay", n - 1, hops + [n])  # the async SDK: the workflow first
        workflow.continue_as_new(args=[n - 1, hops + [n]])  # or args=
        yield  # pragma: no cover - continue_as_new does not return


def test_continue_as_new_given_the_workflow_first_or_args(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Relay]):
        assert env.client.execute_workflow(Relay, 3, [], task_queue=queue, timeout=10) == [3, 2, 1]


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Channel(str, enum.Enum):
    EMAIL = "email"
    SMS = "sms"


@activity.defn(name="route_message")
def route_message(priority: Priority, channel: Channel, fallbacks: List[Channel]) -> str:
    # the members arrive, not the plain int and str they travel as
    assert isinstance(priority, Priority) and isinstance(channel, Channel)
    assert all(isinstance(f, Channel) for f in fallbacks)
    return f"{priority.name}/{channel.name}/{'+'.join(f.name for f in fallbacks)}"


@workflow.defn
class Notify:
    @workflow.run
    def run(self, priority: Priority, channel: Channel):  # type: ignore[no-untyped-def]
        assert isinstance(priority, Priority) and isinstance(channel, Channel)
        return (yield workflow.execute_activity(route_message, priority, channel, [Channel.SMS], start_to_close_timeout=T10))


def test_int_and_str_enum_arguments_arrive_as_members(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Notify], activities=[route_message]):
        assert env.client.execute_workflow(Notify, Priority.HIGH, Channel.EMAIL, task_queue=queue, timeout=10) == "HIGH/EMAIL/SMS"


@activity.defn(name="chatty")
def chatty() -> str:
    activity.stdout("plain\n")
    activity.stderr("with a message\n", message="disk nearly full")
    activity.stdout("staged\n", stage="upload")
    return "ok"


@workflow.defn
class Chatty:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        return (yield workflow.execute_activity(chatty, start_to_close_timeout=T10))


def test_output_events_carry_the_stage_and_message_as_the_reference_records_them(env: WorkflowEnvironment, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[Chatty], activities=[chatty]):
        handle = env.client.start_workflow(Chatty, id="chatty", task_queue=queue)
        assert handle.result(timeout=10) == "ok"
    task_id = next(e.task_id for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled")
    output = [(e.kind, e.stage, e.message, e.data) for e in env.client.task.events(task_id) if e.kind in ("stdout", "stderr")]
    assert output == [
        ("stdout", "activity", None, "plain\n"),
        ("stderr", "activity", "disk nearly full", "with a message\n"),
        ("stdout", "upload", None, "staged\n"),
    ]


def test_a_list_valued_search_attribute_filter_matches_lists_holding_every_value(env: WorkflowEnvironment, queue: str) -> None:
    for workflow_id, tags in (("both", ["a", "b"]), ("only-b", "b"), ("b-and-c", ["b", "c"]), ("none", None)):
        attributes = {"tags": tags, "env": "prod"} if tags is not None else {"env": "prod"}
        env.client.start_workflow("Tagged", id=workflow_id, task_queue=queue, search_attributes=attributes)

    def matching(**search: Any) -> List[str]:
        return sorted(w.id for w in env.client.list_workflows(search_attributes=search))

    assert matching(tags=["a", "b"]) == ["both"]
    assert matching(tags="b") == ["b-and-c", "both", "only-b"]
    assert matching(tags=["c"]) == ["b-and-c"]
    assert matching(tags="b", env="prod") == ["b-and-c", "both", "only-b"]
    assert matching(env="prod") == ["b-and-c", "both", "none", "only-b"]
    assert env.client.count_workflows(search_attributes={"tags": ["a", "b"]}) == 1


def test_the_agent_takes_the_async_sdks_one_concurrency_limit(env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(TypeError, match="not both"):
        Agent(env.client, task_queue=queue, max_concurrent_tasks=2, max_concurrent_activities=3)
    with Agent(env.client, task_queue=queue, workflows=[Chatty], activities=[chatty], max_concurrent_tasks=1, poll_interval=0.5):
        assert env.client.execute_workflow(Chatty, task_queue=queue, timeout=10) == "ok"


with workflow.unsafe.imports_passed_through():  # as Temporal-ported modules write their imports
    import decimal  # noqa: F401


@workflow.defn(name="MemoAndSignals")
class MemoAndSignals:
    def __init__(self) -> None:
        self.approvals: List[str] = []

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        yield workflow.wait_condition(lambda: bool(self.approvals))
        try:
            workflow.memo_value("missing")
            missing = "no error"
        except KeyError as err:
            missing = "KeyError" if "missing" in str(err) else str(err)
        return {
            "customer": workflow.memo_value("customer"),
            "fallback": workflow.memo_value("tier", "basic"),
            "memo": workflow.memo(),
            "missing": missing,
            "approvals": self.approvals,
            "same_info": workflow.workflow_info().run_id == workflow.info().run_id,
            "replaying_history": workflow.unsafe.is_replaying_history_events(),
        }

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approvals.append(who)


def test_memo_start_signal_and_temporal_names(env: Any, queue: str) -> None:
    with Agent(env.client, task_queue=queue, workflows=[MemoAndSignals]):
        handle = env.client.start_workflow(
            MemoAndSignals,
            id=f"{queue}-memo",
            task_queue=queue,
            memo={"customer": "acme"},
            start_signal="approve",
            start_signal_args=["ada"],
        )
        outcome = handle.result(timeout=10)
    assert outcome == {
        "customer": "acme",
        "fallback": "basic",
        "memo": {"customer": "acme"},
        "missing": "KeyError",
        "approvals": ["ada"],
        "same_info": True,
        "replaying_history": False,
    }
    events = [e.type for e in handle.fetch_history().events]
    assert events.index("WorkflowSignaled") == 1  # the signal came with the start, before any activation
    with pytest.raises(TypeError, match="start_signal_args= goes with start_signal="):
        env.client.start_workflow(MemoAndSignals, task_queue=queue, start_signal_args=["x"])


def test_a_history_loads_in_temporals_argument_order(env: Any, queue: str) -> None:
    from postgrip_agent.history import WorkflowHistory
    from postgrip_agent.replayer import Replayer

    with Agent(env.client, task_queue=queue, workflows=[MemoAndSignals]):
        handle = env.client.start_workflow(
            MemoAndSignals,
            id=f"{queue}-order",
            task_queue=queue,
            start_signal="approve",
            start_signal_args=["bo"],
            memo={"customer": "bolt"},
        )
        handle.result(timeout=10)
    text = json.dumps(handle.fetch_history().to_json())
    for loaded in (
        WorkflowHistory.from_json(handle.id, text),
        WorkflowHistory.from_json(handle.id, history=text),
        WorkflowHistory.from_json(text),
    ):
        assert loaded.workflow_id == handle.id and loaded.events[0].type == "WorkflowExecutionStarted"
        assert Replayer(workflows=[MemoAndSignals]).replay_workflow(loaded).error is None


@workflow.defn(name="Staged")
class Staged:
    def __init__(self) -> None:
        self.go = 0

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        workflow.upsert_search_attributes({"stage": "paid", "region": "eu"})
        yield workflow.wait_condition(lambda: self.go >= 1)
        workflow.upsert_search_attributes({"stage": "shipped", "region": None})
        yield workflow.wait_condition(lambda: self.go >= 2)
        return "delivered"

    @workflow.signal
    def advance(self) -> None:
        self.go += 1


def test_upsert_search_attributes_changes_what_listings_find(env: Any, queue: str) -> None:
    def found(stage: str) -> List[str]:
        return [r.id for r in env.client.workflow.list(task_queue=queue, search_attributes={"stage": stage})]

    # no cache: each activation replays the earlier upserts, which must match history, not repeat
    with Agent(env.client, task_queue=queue, workflows=[Staged], max_cached_workflows=0):
        handle = env.client.start_workflow(Staged, id=f"{queue}-staged", task_queue=queue)
        wait_for(lambda: found("paid") == [handle.id])
        handle.signal("advance")
        wait_for(lambda: found("shipped") == [handle.id])
        assert found("paid") == []
        assert handle.describe().search_attributes == {"stage": "shipped"}
        handle.signal("advance")
        assert handle.result(timeout=10) == "delivered"
    markers = [e for e in handle.fetch_history().events if e.type == "MarkerRecorded"]
    assert len(markers) == 2
