from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    # Where bytecode is not written, each of the suite's subprocesses (CLI commands, examples, agents
    # killed and restarted) and each worker's assertion rewriting compiles everything from source
    # again. The suite keeps its bytecode in a cache of its own instead, outside the checkout, so the
    # tree still gets no __pycache__ (subprocesses and xdist workers inherit the setting).
    sys.dont_write_bytecode = False
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "postgrip-agent-pycache")

from postgrip_agent.server import LocalServer, ManualClock  # noqa: E402

from .contract import Contract, load_contract  # noqa: E402

CONTRACT: Optional[Contract] = load_contract()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class Wire:
    """Raw HTTP to the service, as an agent or a client would speak it.

    Every response body is checked against its operation's schema in the contract.
    """

    def __init__(self, address: str, token: Optional[str] = None) -> None:
        self.address = address
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.validated = 0

    def call(self, method: str, path: str, expect: Optional[int] = None, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, self.address + path, timeout=30, **kwargs)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        if CONTRACT is not None and response.status_code != 405:
            CONTRACT.validate(method, urlsplit(path).path, response.status_code, response.json())
            self.validated += 1
        return response

    def get(self, path: str, expect: Optional[int] = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect, **kw).json()

    def post(self, path: str, body: Any = None, expect: Optional[int] = None, **kw: Any) -> Any:
        return self.call("POST", path, expect, json=body, **kw).json()

    # ---- conveniences that play the agent's part
    def enqueue(self, type_: str, payload: Any = None, expect: int = 202, **fields: Any) -> Dict[str, Any]:
        body = {"type": type_, **fields}
        if payload is not None:
            body["payload"] = payload
        return self.post("/api/v1/tasks", body, expect)

    def start(self, workflow_type: str, workflow_id: Optional[str] = None, queue: str = "q", **payload: Any) -> Dict[str, Any]:
        if workflow_id:
            payload["workflowId"] = workflow_id
        return self.enqueue(f"workflow:{workflow_type}", payload, queue=queue)

    def poll(
        self, queue: str = "q", agent: str = "agent-1", wait: int = 0, types: str = "", namespace: str = "default"
    ) -> Optional[Dict[str, Any]]:
        params = {"queue": queue, "agent_id": agent, "wait_seconds": wait, "namespace": namespace}
        if types:
            params["task_types"] = types
        body = self.get("/api/v1/agent/poll", params=params)
        return body.get("task")

    def complete(self, task: Dict[str, Any], value: Any = None, agent: str = "agent-1", expect: int = 200, **result: Any) -> Any:
        return self.post(
            f"/api/v1/agent/tasks/{task['id']}/complete?agent_id={agent}", {"result": {"value": value, **result}}, expect
        )

    def fail(
        self,
        task: Dict[str, Any],
        error: str,
        failure: Optional[Dict[str, Any]] = None,
        agent: str = "agent-1",
        expect: int = 200,
    ) -> Any:
        body: Dict[str, Any] = {"error": error}
        if failure is not None:
            body["result"] = {"failure": failure}
        return self.post(f"/api/v1/agent/tasks/{task['id']}/fail?agent_id={agent}", body, expect)

    def block(self, task: Dict[str, Any], agent: str = "agent-1", expect: int = 200) -> Any:
        return self.post(f"/api/v1/agent/tasks/{task['id']}/block?agent_id={agent}", {"reason": "waiting"}, expect)

    def activity(self, workflow_task: Dict[str, Any], name: str, *args: Any, **extra: Any) -> Dict[str, Any]:
        payload = workflow_task["payload"]
        body = {
            "activityType": name,
            "workflowId": payload["workflowId"],
            "workflowRunId": payload["runId"],
            "workflowTaskId": workflow_task["id"],
            "attempt": 1,
            "args": list(args),
            **extra,
        }
        return self.enqueue(f"activity:{name}", body, queue=workflow_task["queue"])

    def timer(self, workflow_task: Dict[str, Any], duration_ms: int) -> Dict[str, Any]:
        payload = workflow_task["payload"]
        body = {
            "timerId": f"t{duration_ms}",
            "durationMs": duration_ms,
            "fireAt": "2000-01-01T00:00:00Z",
            "workflowId": payload["workflowId"],
            "workflowRunId": payload["runId"],
            "workflowTaskId": workflow_task["id"],
        }
        return self.enqueue("timer", body, queue=workflow_task["queue"])

    def history(self, workflow_id: str) -> List[Dict[str, Any]]:
        return self.get(f"/api/v1/workflows/{workflow_id}/history")

    def history_types(self, workflow_id: str) -> List[str]:
        return [e["type"] for e in self.history(workflow_id)]

    def workflow(self, workflow_id: str) -> Dict[str, Any]:
        return self.get(f"/api/v1/workflows/{workflow_id}")

    def task(self, task_id: str) -> Dict[str, Any]:
        return self.get(f"/api/v1/tasks/{task_id}")


#: a PostgreSQL database the store tests may use (each test gets a schema of its own)
POSTGRES_URL = os.environ.get("POSTGRIP_TEST_POSTGRES")
HOW_TO_ENABLE = (
    "PostgreSQL tests are off: set POSTGRIP_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/test "
    "(any database you may create schemas in) to run them"
)


def postgres_db() -> Iterator[str]:
    """A PostgreSQL URL naming a new, empty schema; the schema is dropped afterwards."""
    if not POSTGRES_URL:
        if os.environ.get("POSTGRIP_REQUIRE_POSTGRES"):
            pytest.fail("POSTGRIP_REQUIRE_POSTGRES is set but POSTGRIP_TEST_POSTGRES is not: " + HOW_TO_ENABLE)
        pytest.skip(HOW_TO_ENABLE)
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{joiner}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[str]:
    """The service's database: SQLite in memory, then PostgreSQL (skipped where it is not configured)."""
    if request.param == "sqlite":
        yield ":memory:"
    else:
        yield from postgres_db()


@pytest.fixture
def server(db: str) -> Iterator[LocalServer]:
    with LocalServer(db=db, port=0) as srv:
        yield srv


@pytest.fixture
def manual_server(db: str) -> Iterator[LocalServer]:
    with LocalServer(db=db, port=0, clock=ManualClock()) as srv:
        yield srv


@pytest.fixture
def wire(server: LocalServer) -> Wire:
    return Wire(server.address)


@pytest.fixture
def mwire(manual_server: LocalServer) -> Wire:
    return Wire(manual_server.address)


@pytest.fixture
def env(db: str) -> Iterator[Any]:
    from postgrip_agent.testing import WorkflowEnvironment

    with WorkflowEnvironment.start_local(db=db) as environment:
        yield environment


_queue_counter = [0]


@pytest.fixture
def queue() -> str:
    _queue_counter[0] += 1
    return f"tq-{_queue_counter[0]}"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Selenium (skipped without it unless POSTGRIP_REQUIRE_BROWSER)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("POSTGRIP_REQUIRE_BROWSER"):
            pytest.fail(
                f"POSTGRIP_REQUIRE_BROWSER is set but Debian's chromium and chromium-driver ({CHROMIUM}, "
                f"{CHROMEDRIVER}) are absent; .ci/run installs them"
            )
        pytest.skip("Chromium is absent here: apt-get install chromium chromium-driver (.ci/run does)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium must not fetch a browser or driver: Debian's are given
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per reason tests were skipped (PostgreSQL off, no reference SDK, no browser), with counts,
    instead of a line per test: the run says what it did not run and how to run it."""
    reasons: Dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return
    terminalreporter.section("skipped")
    postgres = reasons.pop(HOW_TO_ENABLE, 0)
    if postgres:
        terminalreporter.write_line(
            f"{postgres} PostgreSQL tests skipped: POSTGRIP_TEST_POSTGRES is not set "
            "(set it to e.g. postgresql://postgres@127.0.0.1:5432/test to run them)"
        )
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{count} skipped: {reason}")
