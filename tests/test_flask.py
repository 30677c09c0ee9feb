"""``postgrip_agent.contrib.flask`` in a real Flask app, exercised with its test client: a view
starts a workflow, others signal and query it, an Agent runs inside the app process; and the app
starts while the service is down, the first call then failing clearly."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Iterator

import pytest

flask = pytest.importorskip("flask")

from postgrip_agent import TransportError, activity, workflow  # noqa: E402
from postgrip_agent.contrib.flask import PostGrip  # noqa: E402
from postgrip_agent.server import LocalServer  # noqa: E402

from .conftest import wait_for  # noqa: E402


@activity.defn
def charge(order_id: str, amount: int) -> str:
    return f"charged {amount} for {order_id}"


@workflow.defn
class FlaskOrder:
    def __init__(self) -> None:
        self.status = "waiting for payment"
        self.paid = 0

    @workflow.run
    def run(self, order_id: str):  # type: ignore[no-untyped-def]
        yield workflow.condition(lambda: self.paid > 0)
        self.status = "charging"
        receipt = yield workflow.execute_activity(charge, order_id, self.paid, start_to_close_timeout=timedelta(seconds=10))
        self.status = "done"
        return receipt

    @workflow.signal
    def pay(self, amount: int) -> None:
        self.paid = amount

    @workflow.query
    def state(self) -> str:
        return self.status


def make_app(address: str, run_agent: bool) -> Any:
    app = flask.Flask(__name__)
    app.testing = True  # the test client raises what a view raised
    app.config.update(
        POSTGRIP_ADDRESS=address,
        POSTGRIP_TASK_QUEUE="flask-orders",
        POSTGRIP_RUN_AGENT=run_agent,
        POSTGRIP_AGENT_GRACE=5,
        POSTGRIP_RETRY_SECONDS=0.5,
    )
    postgrip = PostGrip(workflows=[FlaskOrder], activities=[charge])
    postgrip.init_app(app)

    @app.post("/orders/<order_id>")
    def create(order_id: str) -> Any:
        handle = postgrip.client.start_workflow(FlaskOrder, order_id, id=f"flask-order-{order_id}")
        return {"workflow_id": handle.id}, 202

    @app.post("/orders/<order_id>/pay")
    def pay(order_id: str) -> Any:
        postgrip.client.get_workflow_handle(f"flask-order-{order_id}").signal(FlaskOrder.pay, flask.request.json["amount"])
        return {"ok": True}

    @app.get("/orders/<order_id>")
    def show(order_id: str) -> Any:
        handle = postgrip.client.get_workflow_handle(f"flask-order-{order_id}")
        return {"state": handle.query(FlaskOrder.state)}

    app.extensions["test-postgrip"] = postgrip
    return app


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(db=":memory:", port=0) as running:
        yield running


def test_views_start_signal_and_query_with_the_agent_in_the_app(server: LocalServer) -> None:
    app = make_app(server.address, run_agent=True)
    web = app.test_client()
    try:
        assert web.post("/orders/7").status_code == 202
        assert wait_for(lambda: web.get("/orders/7").get_json()["state"] == "waiting for payment")
        assert web.post("/orders/7/pay", json={"amount": 30}).get_json() == {"ok": True}
        wait_for(lambda: web.get("/orders/7").get_json()["state"] == "done")
        with app.app_context():
            handle = app.extensions["test-postgrip"].client.get_workflow_handle("flask-order-7")
            assert handle.result(timeout=10) == "charged 30 for 7"
            assert handle.describe().queue == "flask-orders"  # POSTGRIP_TASK_QUEUE is the default queue
    finally:
        app.extensions["test-postgrip"].stop_agent(app)


def test_the_app_starts_while_the_service_is_down() -> None:
    begun = time.monotonic()
    app = make_app("http://127.0.0.1:1", run_agent=False)
    assert time.monotonic() - begun < 1  # nothing was contacted at start-up
    with pytest.raises(TransportError) as caught:
        app.test_client().post("/orders/8")
    assert "127.0.0.1:1" in str(caught.value)


def test_using_the_extension_on_an_app_without_it_says_how_to_set_it_up() -> None:
    app = flask.Flask(__name__)
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        PostGrip().client


def test_workflows_given_as_module_paths_are_discovered(server: LocalServer) -> None:
    app = flask.Flask(__name__)
    app.config.update(
        POSTGRIP_ADDRESS=server.address,
        POSTGRIP_TASK_QUEUE="flask-mod",
        POSTGRIP_RUN_AGENT=True,
        POSTGRIP_WORKFLOWS=[__name__],
        POSTGRIP_AGENT_GRACE=1,
    )
    postgrip = PostGrip(app)
    try:
        agent = postgrip.start_agent(app)
        assert sorted(agent.workflows) == ["FlaskOrder"] and sorted(agent.activities) == ["charge"]
    finally:
        postgrip.stop_agent(app)


def test_a_module_named_for_both_workflows_and_activities_registers_each_once(server: LocalServer) -> None:
    app = flask.Flask(__name__)
    app.config.update(
        POSTGRIP_ADDRESS=server.address,
        POSTGRIP_TASK_QUEUE="flask-both",
        POSTGRIP_RUN_AGENT=True,
        POSTGRIP_WORKFLOWS=[__name__],
        POSTGRIP_ACTIVITIES=[__name__, __name__],
        POSTGRIP_AGENT_GRACE=1,
    )
    postgrip = PostGrip(app)
    try:
        agent = postgrip.start_agent(app)
        assert sorted(agent.workflows) == ["FlaskOrder"] and sorted(agent.activities) == ["charge"]
    finally:
        postgrip.stop_agent(app)
