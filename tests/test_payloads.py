"""Typed payloads through a real service: every supported type, every path a value crosses the
wire, with the run cache on and off; pydantic models; what a foreign client sees."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, FrozenSet, Generator, List, Literal, NamedTuple, Optional, Set, Tuple, TypedDict, Union
from uuid import UUID

import attrs
import pytest

from postgrip_agent import Agent, ApplicationFailure, Client, activity, workflow
from postgrip_agent.converter import DataConverter, PayloadConversionError, PayloadConverter
from postgrip_agent.errors import WorkflowFailureError
from postgrip_agent.server import LocalServer

from .conftest import wait_for


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(NamedTuple):
    x: int
    y: int


class Meta(TypedDict):
    tag: str
    count: int


@attrs.define
class Tag:
    name: str
    weight: float


@dataclasses.dataclass
class Bag:
    day: date
    moment: datetime
    at: time
    span: timedelta
    amount: Decimal
    ident: UUID
    blob: bytes
    labels: Set[str]
    frozen: FrozenSet[int]
    pair: Tuple[int, str]
    point: Point
    meta: Meta
    maybe: Optional[int]
    either: Union[int, str]
    mode: Literal["fast", "slow"]
    color: Color
    level: Level
    nested: List[Dict[str, Point]]
    tag: Tag


BAG = Bag(
    day=date(2026, 12, 3),
    moment=datetime(2026, 12, 3, 10, 30, 15, 250000, tzinfo=timezone.utc),
    at=time(8, 15),
    span=timedelta(minutes=90),
    amount=Decimal("1234.50"),
    ident=UUID("12345678-1234-5678-1234-567812345678"),
    blob=b"\x00\xffbinary",
    labels={"b", "a"},
    frozen=frozenset({3, 1}),
    pair=(7, "seven"),
    point=Point(1, 2),
    meta={"tag": "x", "count": 2},
    maybe=None,
    either="text",
    mode="slow",
    color=Color.BLUE,
    level=Level.HIGH,
    nested=[{"origin": Point(0, 0)}],
    tag=Tag("heavy", 2.5),
)

_attempts: List[Dict[str, Any]] = []


@activity.defn
def bag_echo(bag: Bag) -> Bag:
    assert isinstance(bag, Bag) and bag == BAG, bag
    info = activity.info()
    _attempts.append({"attempt": info.attempt, "details": info.heartbeat_details})
    if info.attempt == 1:
        activity.heartbeat(bag)  # details: the dataclass, as its plain JSON object
        raise RuntimeError("first attempt fails after a heartbeat")
    return bag


@workflow.defn
class BagChild:
    @workflow.run
    def run(self, bag: Bag) -> Bag:
        assert isinstance(bag, Bag)
        return bag


@workflow.defn
class BagFlow:
    def __init__(self) -> None:
        self.given: Optional[Bag] = None

    @workflow.run
    def run(self, bag: Bag) -> Generator[Any, Any, Bag]:
        from postgrip_agent import RetryPolicy

        echoed = yield workflow.execute_activity(
            bag_echo, bag, start_to_close_timeout=10, retry_policy=RetryPolicy(initial_interval=0.05, maximum_attempts=3)
        )
        child = yield workflow.execute_child(BagChild, echoed, id=f"{workflow.info().workflow_id}-child")
        memo = workflow.memo_value("bag", type_hint=Bag)
        yield workflow.wait_condition(lambda: self.given is not None)
        seen = {"activity": echoed, "child": child, "memo": memo, "signal": self.given}
        wrong = {k: v for k, v in seen.items() if not isinstance(v, Bag) or v != bag}
        if wrong:
            raise ApplicationFailure(f"came back changed: {wrong!r}", non_retryable=True)
        return bag

    @workflow.signal
    def give(self, bag: Bag) -> None:
        assert isinstance(bag, Bag)
        self.given = bag

    @workflow.query
    def peek(self) -> Optional[Bag]:
        return self.given

    @workflow.update
    def swap(self, bag: Bag) -> Bag:
        assert isinstance(bag, Bag)
        return dataclasses.replace(bag, maybe=7)


@pytest.mark.parametrize("cached", [True, False], ids=["cache-on", "cache-off"])
def test_every_supported_type_crosses_every_path_typed(server: LocalServer, cached: bool) -> None:
    _attempts.clear()
    client = Client.connect(server)
    with Agent(
        client,
        task_queue="bags",
        workflows=[BagFlow, BagChild],
        activities=[bag_echo],
        max_cached_workflows=1000 if cached else 0,
    ):
        handle = client.start_workflow(BagFlow, BAG, id=f"bag-{cached}", task_queue="bags", memo={"bag": BAG})
        updated = handle.execute_update(BagFlow.swap, BAG)
        assert isinstance(updated, Bag) and updated == dataclasses.replace(BAG, maybe=7)
        handle.signal(BagFlow.give, BAG)
        assert wait_for(lambda: handle.query(BagFlow.peek)) == BAG
        result = handle.result(timeout=30)
    assert isinstance(result, Bag) and result == BAG
    assert [a["attempt"] for a in _attempts] == [1, 2]
    # the second attempt saw the first one's heartbeat details, as the dataclass's plain JSON object
    assert _attempts[1]["details"] == PayloadConverter().to_json(BAG)
    assert DataConverter().decode(_attempts[1]["details"], Bag) == BAG


def test_the_wire_carries_plain_documented_json(server: LocalServer) -> None:
    client = Client.connect(server)
    with Agent(client, task_queue="plain", workflows=[BagChild]):
        client.execute_workflow(BagChild, BAG, id="plain-bag", task_queue="plain", timeout=30)
    started = server.engine.history("plain-bag")[0]
    sent = started.attributes["args"][0]
    assert sent == {
        "day": "2026-12-03",
        "moment": "2026-12-03T10:30:15.250000+00:00",
        "at": "08:15:00",
        "span": 5400.0,
        "amount": "1234.50",
        "ident": "12345678-1234-5678-1234-567812345678",
        "blob": "AP9iaW5hcnk=",
        "labels": ["a", "b"],
        "frozen": [1, 3],
        "pair": [7, "seven"],
        "point": [1, 2],
        "meta": {"tag": "x", "count": 2},
        "maybe": None,
        "either": "text",
        "mode": "slow",
        "color": "blue",
        "level": 2,
        "nested": [{"origin": [0, 0]}],
        "tag": {"name": "heavy", "weight": 2.5},
    }
    assert json.loads(json.dumps(sent)) == sent


#: (hint, value) pairs sent as a top-level activity argument and result
TOP_LEVEL: List[Tuple[Any, Any]] = [
    (date, date(2026, 1, 2)),
    (datetime, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    (time, time(23, 59, 1)),
    (timedelta, timedelta(seconds=1.5)),
    (Decimal, Decimal("-0.001")),
    (UUID, UUID(int=7)),
    (bytes, b"\x01\x02"),
    (Set[int], {3, 2, 1}),
    (FrozenSet[str], frozenset({"z"})),
    (Tuple[int, int], (4, 5)),
    (Point, Point(9, 8)),
    (Meta, {"tag": "t", "count": 1}),
    (Optional[Decimal], None),
    (Union[int, str], 5),
    (Literal["a", "b"], "b"),
    (Color, Color.RED),
    (Level, Level.LOW),
    (List[Dict[str, UUID]], [{"id": UUID(int=1)}]),
    (Tag, Tag("t", 1.0)),
    (Bag, BAG),
]


def _typed_echo(index: int, hint: Any) -> Any:
    def echo(value: Any) -> Any:
        if getattr(hint, "__origin__", None) is None and isinstance(hint, type) and hint is not Meta:
            assert isinstance(value, hint), (hint, value)
        return value

    echo.__annotations__ = {"value": hint, "return": hint}
    echo.__name__ = f"typed_echo_{index}"
    return activity.defn(name=f"typed_echo_{index}")(echo)


TYPED_ECHOES = [_typed_echo(i, hint) for i, (hint, _) in enumerate(TOP_LEVEL)]


@workflow.defn
class Relay:
    @workflow.run
    def run(self, index: int, value: Any) -> Generator[Any, Any, List[Any]]:
        hint, expected = TOP_LEVEL[index]
        result = yield workflow.execute_activity(f"typed_echo_{index}", value, start_to_close_timeout=10, result_type=hint)
        # the workflow sees the typed value itself (compared by value: a set's repr depends on insertion history)
        return [result == expected, type(result).__name__]


def test_each_type_as_a_top_level_argument_and_result(server: LocalServer) -> None:
    client = Client.connect(server)
    with Agent(client, task_queue="relay", workflows=[Relay], activities=TYPED_ECHOES):
        for index, (hint, value) in enumerate(TOP_LEVEL):
            assert client.execute_workflow(Relay, index, value, task_queue="relay", timeout=30) == [True, type(value).__name__], (
                hint
            )


@dataclasses.dataclass
class Order:
    sku: str
    quantity: int


@activity.defn
def order_total(order: Order) -> int:
    return order.quantity * 2


@workflow.defn
class Checkout:
    @workflow.run
    def run(self, order: Order) -> Generator[Any, Any, int]:
        return (yield workflow.execute_activity(order_total, order, start_to_close_timeout=10))


def test_a_value_that_does_not_fit_fails_for_good_naming_the_field(server: LocalServer) -> None:
    client = Client.connect(server)
    with Agent(client, task_queue="misfit", workflows=[Checkout], activities=[order_total]):
        with pytest.raises(WorkflowFailureError) as failed:
            client.execute_workflow("Checkout", {"sku": "a", "quantity": "many"}, task_queue="misfit", timeout=30)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationFailure) and cause.type == "PayloadConversionError" and cause.non_retryable
    assert "quantity" in str(cause) and "argument 0" in str(cause), str(cause)
    with pytest.raises(PayloadConversionError, match="cannot be converted to JSON"):
        client.start_workflow(Checkout, object(), task_queue="misfit")


REFERENCE_PYTHON = os.environ.get("POSTGRIP_REFERENCE_PYTHON")


@pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set POSTGRIP_REFERENCE_PYTHON to a Python with postgrip-agent==0.12.3 (.ci/run does)"
)
def test_a_reference_client_receives_the_plain_json_of_a_dataclass_result(tmp_path: Path) -> None:
    script = Path(__file__).parent / "reference" / "ref_client.py"
    with LocalServer(db=str(tmp_path / "ref.db"), auth_token="typed-secret") as server:
        ours = Client.connect(server.address, token="typed-secret")
        with Agent(ours, task_queue="typed", workflows=[BagChild]):
            env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRIP_")}
            env.update(POSTGRIP_TOKEN="typed-secret", POSTGRIP_AGENT_REFRESH_TOKEN="typed-secret", PYTHONPATH="")
            argument = json.dumps(PayloadConverter().to_json(BAG))
            done = subprocess.run(
                [str(REFERENCE_PYTHON), str(script), server.address, "BagChild", "typed", argument],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == PayloadConverter().to_json(BAG)


@workflow.defn
class BagLoop:
    @workflow.run
    def run(self, bag: Bag, rounds: int) -> Bag:
        assert isinstance(bag, Bag)
        if rounds > 0:
            workflow.continue_as_new(bag, rounds - 1)
        return bag


def test_continue_as_new_carries_typed_arguments(server: LocalServer) -> None:
    client = Client.connect(server)
    with Agent(client, task_queue="loop", workflows=[BagLoop]):
        result = client.execute_workflow(BagLoop, BAG, 2, id="bag-loop", task_queue="loop", timeout=30)
    assert isinstance(result, Bag) and result == BAG
