"""The web UI in a real headless Chromium (Debian's chromium and chromium-driver, which .ci/run
installs), against a service with runs in every state: list, filter, a run's page with its
timeline, failure and pending activity, a signal arriving live, a cancellation, a paused
schedule; with auth on, signing in and a request without the cookie refused.

``POSTGRIP_UI_SCREENSHOTS=docs/images`` also saves the list and a run page there (the
screenshots the docs show)."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
import requests

from postgrip_agent import Agent, ApplicationFailure, Client, activity, workflow
from postgrip_agent.server import LocalServer

from .conftest import wait_for

QUEUE = "ui"
_release = threading.Event()


@activity.defn
def slow_step(label: str) -> str:
    activity.milestone("working", index=1, total=3)
    activity.stdout(f"step {label} started\n")
    while not _release.wait(0.2):
        activity.heartbeat({"label": label})
    return label


@activity.defn
def broken_step() -> None:
    raise ApplicationFailure("the card was declined", type="CardDeclined", non_retryable=True)


@workflow.defn
class Payment:
    def __init__(self) -> None:
        self.notes: List[str] = []

    @workflow.run
    def run(self, label: str):  # type: ignore[no-untyped-def]
        yield workflow.execute_activity(
            slow_step, label, start_to_close_timeout=timedelta(seconds=120), heartbeat_timeout=timedelta(seconds=30)
        )
        yield workflow.wait_condition(lambda: "ship" in self.notes)
        return {"label": label, "notes": self.notes}

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)


@workflow.defn
class Refund:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        yield workflow.execute_activity(broken_step, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class Greeting:
    @workflow.run
    def run(self, name: str) -> str:
        return f"Hello, {name}!"


@pytest.fixture(scope="session")
def service() -> Iterator[LocalServer]:
    _release.clear()
    with LocalServer(db=":memory:") as server:
        client = Client.connect(server.address)
        with Agent(client, task_queue=QUEUE, workflows=[Payment, Refund, Greeting], activities=[slow_step, broken_step]):
            client.execute_workflow(Greeting, "Ada", id="greeting-done", task_queue=QUEUE, timeout=30)
            refund = client.start_workflow(Refund, id="refund-failed", task_queue=QUEUE)
            wait_for(lambda: refund.describe().state == "failed")
            client.start_workflow(Payment, "pay-1", id="payment-live", task_queue=QUEUE)
            client.start_workflow(Payment, "pay-2", id="payment-to-cancel", task_queue=QUEUE)
            client.start_workflow(Payment, "pay-3", id="payment-to-terminate", task_queue=QUEUE).terminate(reason="test")
            client.schedule.create_workflow_schedule(
                workflow=Greeting, args=["nightly"], schedule_id="nightly-greeting", task_queue=QUEUE, interval=timedelta(hours=1)
            )
            yield server
            _release.set()


def _until(driver: Any, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _: check())


def _text(driver: Any) -> str:
    return str(driver.find_element("tag name", "main").text)


def _screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("POSTGRIP_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_the_list_shows_every_run_newest_first_and_filters(browser: Any, service: LocalServer) -> None:
    browser.get(service.address + "/")
    _until(browser, lambda: "payment-to-terminate" in _text(browser))
    text = _text(browser)
    assert text.index("payment-to-terminate") < text.index("greeting-done")  # newest first
    for shown in ("COMPLETED", "FAILED", "RUNNING", "TERMINATED", "succeeded 1", "running 2"):
        assert shown in text, shown
    _screenshot(browser, "ui-workflows.png")
    browser.find_element("id", "f-type").send_keys("Refund")
    browser.find_element("css selector", "form.filters button").click()
    _until(browser, lambda: "greeting-done" not in _text(browser) and "refund-failed" in _text(browser))


def test_a_failed_run_shows_its_failure_and_timeline(browser: Any, service: LocalServer) -> None:
    browser.get(service.address + "/#/workflow/refund-failed")
    _until(browser, lambda: "the card was declined" in _text(browser))
    text = _text(browser)
    assert "CardDeclined" in text and "ActivityTaskFailed" in text and "WorkflowExecutionFailed" in text
    first = browser.find_element("css selector", "ol.timeline summary")
    first.click()  # expands the event's attributes
    _until(browser, lambda: browser.find_element("css selector", "ol.timeline details[open] pre").is_displayed())


def test_a_running_run_shows_its_pending_activity_and_a_signal_arrives_live(browser: Any, service: LocalServer) -> None:
    browser.get(service.address + "/#/workflow/payment-live")
    _until(browser, lambda: "slow_step" in _text(browser) and "step pay-1 started" in _text(browser))
    text = _text(browser)
    assert "1/3 working" in text and '"pay-1"' in text  # progress, and the input
    _screenshot(browser, "ui-run.png")
    form = browser.find_element("css selector", "form[aria-label=Signal]")
    form.find_element("name", "name").send_keys("note")
    form.find_element("name", "args").send_keys('["gift wrap"]')
    form.find_element("css selector", "button").click()
    _until(browser, lambda: browser.switch_to.alert).accept()
    _until(browser, lambda: "WorkflowSignaled" in _text(browser))  # the history long-poll brought it in
    asked = browser.find_element("css selector", "form[aria-label=Query]")
    asked.find_element("name", "name").send_keys("__no_such_query__")
    asked.find_element("css selector", "button").click()
    _until(browser, lambda: browser.switch_to.alert).dismiss()  # each action asks first: dismissed, nothing is sent
    history = service.engine.history("payment-live")
    assert [e.attributes.get("args") for e in history if e.type == "WorkflowSignaled"] == [["gift wrap"]]


def test_a_run_is_cancelled_from_its_page(browser: Any, service: LocalServer) -> None:
    browser.get(service.address + "/#/workflow/payment-to-cancel")
    _until(browser, lambda: "Cancel run" in _text(browser))
    form = browser.find_element("css selector", "form[aria-label=Cancel]")
    form.find_element("name", "reason").send_keys("customer asked")
    form.find_element("css selector", "button").click()
    _until(browser, lambda: browser.switch_to.alert).accept()
    _until(browser, lambda: "WorkflowCancellationRequested" in _text(browser))
    assert any(e.type == "WorkflowCancellationRequested" for e in service.engine.history("payment-to-cancel"))


def test_a_schedule_is_paused_from_the_list(browser: Any, service: LocalServer) -> None:
    browser.get(service.address + "/#/schedules")
    _until(browser, lambda: "nightly-greeting" in _text(browser))
    browser.find_element("xpath", "//button[text()='Trigger now']").click()
    _until(browser, lambda: browser.switch_to.alert).accept()
    _until(browser, lambda: "trigger done" in browser.find_element("id", "banner").text)
    browser.find_element("link text", "newest first").click()  # the schedule's recent runs
    _until(browser, lambda: "Greeting" in _text(browser) and "greeting-done" not in _text(browser))
    browser.get(service.address + "/#/schedules")
    _until(browser, lambda: "nightly-greeting" in _text(browser))
    browser.find_element("xpath", "//button[text()='Pause']").click()
    _until(browser, lambda: browser.switch_to.alert).accept()
    _until(browser, lambda: "paused" in _text(browser))
    assert service.schedules.get("nightly-greeting").state == "paused"


def test_with_auth_the_ui_signs_in_and_nothing_is_served_without_the_cookie(browser: Any) -> None:
    with LocalServer(db=":memory:", auth_token="ui-secret") as server:
        assert requests.get(server.address + "/api/v1/workflows", timeout=5).status_code == 401
        client = Client.connect(server.address, token="ui-secret")
        client.start_workflow(Greeting, "x", id="behind-auth", task_queue="nobody")
        browser.delete_all_cookies()
        browser.get(server.address + "/")
        _until(browser, lambda: browser.find_element("id", "token"))
        assert "behind-auth" not in _text(browser)
        browser.find_element("id", "token").send_keys("ui-secret")
        browser.find_element("css selector", "form.signin button").click()
        _until(browser, lambda: "behind-auth" in _text(browser))
        cookie = browser.get_cookie("postgrip_ui")
        assert cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
        signed_in = requests.Session()
        signed_in.cookies.set("postgrip_ui", "ui-secret")
        assert signed_in.get(server.address + "/api/v1/workflows", timeout=5).status_code == 200
        forged = signed_in.post(server.address + "/api/v1/workflows/behind-auth/terminate", json={}, timeout=5)
        assert forged.status_code == 403 and "X-PostGrip-UI" in forged.json()["error"]  # a cross-site form cannot
        browser.delete_all_cookies()


def test_the_list_page_over_100000_runs_uses_indexes_and_answers_fast(tmp_path: Path) -> None:
    """The UI's list page (newest first, 50 rows, counts by state) on a store holding 100,000
    runs: each query reads an index in order (no sort of every run) and the page answers far
    within a second. ``benchmarks/list_growth.py`` prints the figures against an empty store."""
    import time

    from postgrip_agent.server.store import RunRecord

    with LocalServer(db=str(tmp_path / "big.db")) as server:
        with server.engine.operation():
            # one run through the store; 99,999 more like it in one statement (the store's triggers keep
            # the counts by state as they do for each insert), far cheaper than 100,000 calls
            server.store.insert_run(
                RunRecord(
                    run_id="run-0",
                    id="wf-0",
                    namespace="default",
                    type="Report",
                    queue="q",
                    task_id="task-0",
                    state="succeeded",
                    created_at=1_000.0,
                    updated_at=1_000.0,
                )
            )
            db = server.store._db  # type: ignore[attr-defined]
            columns = [row[1] for row in db.execute("PRAGMA table_info(runs)") if row[1] != "seq"]
            varied = {"run_id": "'run-' || i", "id": "'wf-' || i", "task_id": "'task-' || i"}
            varied.update(created_at="1000.0 + i * 0.01", updated_at="1000.0 + i * 0.01")
            db.execute(
                f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) "
                f"INSERT INTO runs ({', '.join(columns)}) "
                f"SELECT {', '.join(varied.get(c, f'template.{c}') for c in columns)} "
                f"FROM n, (SELECT * FROM runs WHERE run_id = 'run-0') AS template"
            )
        statements: List[str] = []

        def traced(sql: str) -> None:  # the page's reads: not the ticker's own (runs past their deadline, due timers)
            if threading.current_thread().name != "postgrip-server-ticker":
                statements.append(sql)

        server.store._db.set_trace_callback(traced)  # type: ignore[attr-defined]
        session = requests.Session()
        started = time.perf_counter()
        page = session.get(
            server.address + "/api/v1/workflows",
            timeout=10,
            params={"namespace": "default", "limit": 50, "order_by": "-created_at"},
        )
        counts = [
            session.get(
                server.address + "/api/v1/workflows/count", timeout=10, params={"namespace": "default", "state": state}
            ).json()["count"]
            for state in ("running", "succeeded", "failed", "continued_as_new")
        ]
        took = time.perf_counter() - started
        server.store._db.set_trace_callback(None)  # type: ignore[attr-defined]
        assert [r["id"] for r in page.json()][:2] == ["wf-99999", "wf-99998"] and counts == [0, 100_000, 0, 0]
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and ("FROM runs" in s or "run_counts" in s)]
        assert reads
        for sql in reads:
            plan = " | ".join(str(row[-1]) for row in server.store._db.execute("EXPLAIN QUERY PLAN " + sql))  # type: ignore[attr-defined]
            assert "TEMP B-TREE" not in plan and ("INDEX" in plan or "run_counts" in sql), (sql, plan)
        assert took < 1.0, f"the list page took {took:.3f} s over 100,000 runs"
