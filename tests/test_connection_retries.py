"""Retries against real misbehaving endpoints: 503 with Retry-After, resets, stalls, refusals."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from postgrip_agent import Client, Connection, RetryOptions, TransportError
from postgrip_agent.errors import UnavailableError


class Misbehaving:
    """A local HTTP server whose answers the test scripts; counts what actually arrived."""

    def __init__(self) -> None:
        self.arrivals: List[str] = []
        self.keys: List[str] = []  # the Idempotency-Key of each write that arrived
        self.script: List[str] = []
        #: the X-PostGrip-Extensions this endpoint lists (none unless a test sets it)
        self.extensions = ""
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with outer.lock:
                    outer.arrivals.append(f"{self.command} {self.path}")
                    if self.headers.get("Idempotency-Key"):
                        outer.keys.append(self.headers["Idempotency-Key"])
                    action = outer.script.pop(0) if outer.script else "ok"
                if action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    self.close_connection = True
                    return
                if action == "stall":
                    time.sleep(1.0)
                status, body, headers = 200, {"status": "ok"}, {}
                if outer.extensions:
                    headers["X-PostGrip-Extensions"] = outer.extensions
                if action.startswith("503"):
                    status, body = 503, {"error": "overloaded", "code": "unavailable"}
                    headers["Retry-After"] = action.split(":")[1] if ":" in action else "0"
                if action == "502":
                    status, body = 502, {"error": "bad gateway"}
                data = json.dumps(body).encode()
                if action == "stall" and self.wfile.closed:
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (the stall test): nothing to answer
                    self.close_connection = True

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bad() -> Iterator[Misbehaving]:
    server = Misbehaving()
    yield server
    server.close()


def _conn(address: str, sleeps: List[float], **options: Any) -> Connection:
    retry = RetryOptions(
        max_attempts=options.pop("attempts", 4),
        max_elapsed=options.pop("elapsed", 10.0),
        initial_backoff=0.01,
        max_backoff=0.05,
        sleep=sleeps.append,
    )
    return Connection(address, retry=retry, **options)


def test_reads_are_retried_after_503_honouring_retry_after(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["503:0.3", "503:0.2"]
    assert _conn(bad.address, sleeps).request("GET", "/healthz") == {"status": "ok"}
    assert len(bad.arrivals) == 3
    assert sleeps[0] >= 0.3 and sleeps[1] >= 0.2


def test_reads_are_retried_after_a_reset(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["reset", "reset"]
    assert _conn(bad.address, sleeps).request("GET", "/healthz") == {"status": "ok"}
    assert len(bad.arrivals) == 3 and len(sleeps) == 2


def test_attempts_bound_the_retries(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["503"] * 10
    with pytest.raises(UnavailableError) as caught:
        _conn(bad.address, sleeps, attempts=3).request("GET", "/healthz")
    assert caught.value.status == 503
    assert len(bad.arrivals) == 3 and len(sleeps) == 2


def test_elapsed_time_bounds_the_retries(bad: Misbehaving) -> None:
    bad.script = ["503:5"] * 10
    conn = Connection(bad.address, retry=RetryOptions(max_attempts=10, max_elapsed=0.3, initial_backoff=0.01))
    begun = time.monotonic()
    with pytest.raises(UnavailableError):
        conn.request("GET", "/healthz")
    assert time.monotonic() - begun < 2.0


def test_a_write_that_reached_the_server_is_not_repeated(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["reset"]
    with pytest.raises(TransportError) as caught:
        _conn(bad.address, sleeps).request("POST", "/api/v1/workflows/w/signal", body={"name": "s"}, idempotent=False)
    assert caught.value.reached_server
    assert bad.arrivals == ["POST /api/v1/workflows/w/signal"]
    bad.script = ["502"]
    with pytest.raises(UnavailableError):
        _conn(bad.address, sleeps).request("POST", "/api/v1/tasks", body={"type": "x"}, idempotent=False)
    assert bad.arrivals.count("POST /api/v1/tasks") == 1


def test_a_write_refused_with_503_is_retried(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["503:0"]
    assert _conn(bad.address, sleeps).request("POST", "/api/v1/tasks", body={"type": "x"}, idempotent=False) == {"status": "ok"}
    assert bad.arrivals.count("POST /api/v1/tasks") == 2


def test_a_write_that_never_connected_is_retried_and_bounded() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens: connections are refused
    sleeps: List[float] = []
    with pytest.raises(TransportError) as caught:
        _conn(f"http://127.0.0.1:{port}", sleeps, attempts=3).request(
            "POST", "/api/v1/tasks", body={"type": "x"}, idempotent=False
        )
    assert not caught.value.reached_server
    assert len(sleeps) == 2


def test_a_stalled_read_times_out_per_call(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["stall"]
    conn = _conn(bad.address, sleeps, attempts=1)
    begun = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        conn.request("GET", "/healthz", timeout=0.2)
    assert time.monotonic() - begun < 0.9


def test_retries_can_be_disabled(bad: Misbehaving) -> None:
    bad.script = ["503"]
    with pytest.raises(UnavailableError):
        Connection(bad.address, retry=RetryOptions.disabled()).request("GET", "/healthz")
    assert len(bad.arrivals) == 1


class DropsFirstStartAnswer:
    """A TCP proxy that forwards the first workflow start, then loses the service's answer."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            state = {"drop": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, state: Dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                if data.startswith(b"POST /api/v1/tasks") and not self.dropped.is_set():
                    state["drop"] = True
                    self.dropped.set()
                dst.sendall(data)
        except OSError:
            pass

    def _down(self, src: socket.socket, dst: socket.socket, state: Dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                if state["drop"]:
                    dst.shutdown(socket.SHUT_RDWR)  # the answer is lost on its way back
                    return
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_workflow_start_never_runs_twice_when_the_answer_is_lost(env: Any) -> None:
    proxy = DropsFirstStartAnswer((env.server.host, env.server.port))
    client = Client.connect(proxy.address)
    handle = client.start_workflow("W", id="once")
    assert proxy.dropped.is_set()
    assert client.count_workflows(workflow_id="once") == 1
    assert handle.result_run_id == env.client.get_workflow_handle("once").describe().run_id
    client.close()
    proxy.close()


def test_default_retries_outlast_a_service_restart_of_a_few_seconds(tmp_path: Any) -> None:
    from postgrip_agent.server import LocalServer

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    conn = Connection(f"http://127.0.0.1:{port}")  # default RetryOptions
    servers: List[Any] = []
    restart = threading.Timer(2.0, lambda: servers.append(LocalServer(db=str(tmp_path / "r.db"), port=port).start()))
    restart.start()  # the service is down for 2 s (the outage is the scenario)
    try:
        started = time.monotonic()
        task = conn.request("POST", "/api/v1/tasks", body={"type": "job", "queue": "restart"})
        assert task["queue"] == "restart" and time.monotonic() - started >= 1.5
    finally:
        restart.join()
        for server in servers:
            server.stop()


def test_a_write_whose_earlier_attempt_may_have_applied_says_so_at_the_end(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.extensions = "idempotency-key"
    conn = _conn(bad.address, sleeps, attempts=3)
    conn.request("GET", "/healthz")  # the endpoint lists the extension: keyed writes are retried
    bad.script = ["reset", "503:0", "503:0"]  # unknown, then twice provably not applied
    with pytest.raises(TransportError) as caught:
        conn.request("POST", "/api/v1/workflows/w/signal", body={"name": "s"}, idempotent=False)
    error = caught.value
    assert error.reached_server
    assert bad.arrivals.count("POST /api/v1/workflows/w/signal") == 3
    assert len(set(bad.keys)) == 1 and error.idempotency_key == bad.keys[0]
    assert "may have been applied" in str(error) and bad.keys[0] in str(error)
    assert "503" in str(error)


def test_a_write_refused_on_every_attempt_says_it_was_not_applied(bad: Misbehaving) -> None:
    sleeps: List[float] = []
    bad.script = ["503:0"] * 3
    with pytest.raises(UnavailableError) as caught:
        _conn(bad.address, sleeps, attempts=3).request("POST", "/api/v1/tasks", body={"type": "x"}, idempotent=False)
    assert caught.value.status == 503
