"""HTTP/1.1 at the socket: chunked bodies, 100-continue, short bodies, 405, timeouts, connection limits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from typing import List, Tuple

import pytest

from postgrip_agent.server import LocalServer
from postgrip_agent.server.store import Page

from .conftest import wait_for


def _connect(server: LocalServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    return sock


def _read_response(sock: socket.socket) -> Tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def test_a_chunked_body_is_read_and_the_connection_stays_usable(server: LocalServer) -> None:
    body = json.dumps({"type": "job", "queue": "chunky"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:])) + b"0\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        status, _, answer = _read_response(sock)
        assert status == 202 and json.loads(answer)["queue"] == "chunky"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, answer = _read_response(sock)
        assert status == 200 and json.loads(answer) == {"status": "ok"}


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: LocalServer) -> None:
    body = json.dumps({"type": "job", "queue": "expect"}).encode()
    with _connect(server) as sock:
        sock.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        status, _, answer = _read_response(sock)
        assert status == 202 and json.loads(answer)["queue"] == "expect"


def test_a_body_shorter_than_its_content_length_is_refused(server: LocalServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b'POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"type": "job"}')
        sock.shutdown(socket.SHUT_WR)
        status, _, answer = _read_response(sock)
        assert status == 400 and "Content-Length" in json.loads(answer)["error"]
    assert server.engine.list_tasks({"type": "job"}, Page()) == []  # nothing was applied


def test_other_methods_get_405_with_allow_and_head_has_no_body(server: LocalServer) -> None:
    for method in ("TRACE", "OPTIONS", "HEAD", "PUT"):
        with _connect(server) as sock:
            sock.sendall(f"{method} /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405"), (method, head)
        assert b"Allow: GET, POST" in head
        if method == "HEAD":
            assert rest == b""
        else:
            assert json.loads(rest)["code"] == "method_not_allowed"


def test_a_request_head_that_never_completes_times_out() -> None:
    with LocalServer(header_timeout=0.3) as server:
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            started = time.monotonic()
            status, _, _ = _read_response(sock)
            assert status == 408 and time.monotonic() - started < 3


def test_idle_connections_make_room_for_new_callers() -> None:
    with LocalServer(max_connections=8) as server:
        idle = [_connect(server) for _ in range(12)]
        wait_for(lambda: server._http.connections <= 8)
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock)[0] == 200
        assert server._http.evicted >= 5
        for sock in idle:
            sock.close()


def test_beyond_the_cap_with_nobody_idle_newcomers_get_503_with_retry_after() -> None:
    with LocalServer(max_connections=8) as server:
        polls: List[socket.socket] = []
        for n in range(8):
            sock = _connect(server)
            sock.sendall(f"GET /api/v1/agent/poll?queue=empty{n}&wait_seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            polls.append(sock)
        wait_for(lambda: server._http.active_connections == 8)
        with _connect(server) as sock:
            status, headers, answer = _read_response(sock)
        assert status == 503 and headers["retry-after"] == "1" and json.loads(answer)["code"] == "unavailable"
        for sock in polls:
            sock.close()


_CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    from postgrip_agent.server import LocalServer
    with LocalServer() as server:
        print(server.port, flush=True)
        sys.stdin.read()
""")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_thousand_idle_connections_under_a_1024_descriptor_limit() -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sockets: List[socket.socket] = []
    try:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        for n in range(1000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:
                sock.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Le")  # half-sent
            sockets.append(sock)
        for _ in range(5):
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b'POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n{"type": "job"}')
                status, _, _ = _read_response(sock)
            assert status == 202 and time.monotonic() - started < 2
        before = _cpu_seconds(child.pid)
        time.sleep(1.0)  # measuring idle CPU needs an interval of real time
        assert _cpu_seconds(child.pid) - before < 0.3
    finally:
        for sock in sockets:
            sock.close()
        child.stdin.close()  # type: ignore[union-attr]
        child.wait(timeout=10)


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() -> None:
    with LocalServer(idle_timeout=0.3) as server:
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock)[0] == 200
            started = time.monotonic()
            sock.settimeout(5)
            assert sock.recv(1) == b""  # the service closed the idle connection
            assert time.monotonic() - started < 3
        wait_for(lambda: server._http.connections == 0)


def _task_count(server: LocalServer) -> int:
    return len(server.store.list_tasks({}, Page(limit=1000)))


@pytest.mark.parametrize("size", [b"-2", b"+c", b"0xc", b"1_0", b" c", b""])
def test_chunk_sizes_other_than_hex_digits_are_refused(server: LocalServer, size: bytes) -> None:
    body = json.dumps({"type": "job", "queue": "hex"}).encode()
    with _connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + size
            + b"\r\n"
            + body
            + b"\r\n0\r\n\r\n"
        )
        status, _, answer = _read_response(sock)
    assert status == 400 and "chunk size" in json.loads(answer)["error"]
    assert _task_count(server) == 0


@pytest.mark.parametrize(
    "head,phrase",
    [
        (b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length : 15\r\n\r\n", "Malformed header"),
        (b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", "Malformed header"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n", "control character"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\rb\r\n\r\n", "bare CR or LF"),
        (b"GET /healthz HTTP/1.1\r\nUser-Agent: raw\r\n\r\n", "Host header"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n folded\r\n\r\n", "line folding"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "conflicting host"),
        (b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "Bad request line"),
    ],
)
def test_framing_rfc_9112_refuses_is_refused_with_400(server: LocalServer, head: bytes, phrase: str) -> None:
    with _connect(server) as sock:
        sock.sendall(head + b'{"type": "job"}')
        status, headers, answer = _read_response(sock)
    assert status == 400 and phrase in json.loads(answer)["error"], answer
    assert headers.get("connection") == "close"
    assert _task_count(server) == 0


def test_a_bare_lf_request_is_answered_not_left_hanging(server: LocalServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\nHost: x\n\n")
        started = time.monotonic()
        status, _, answer = _read_response(sock)
    assert status == 400 and "CRLF" in json.loads(answer)["error"] and time.monotonic() - started < 2


def test_a_body_slower_than_the_head_timeout_is_given_the_body_timeout() -> None:
    with LocalServer(header_timeout=0.3) as server:
        body = b'{"type": "job", "queue": "slow"}'
        with _connect(server) as sock:
            sock.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
            time.sleep(1.2)  # the fault under test: a client whose body trickles in past the head timeout
            sock.sendall(body[5:])
            status, _, _ = _read_response(sock)
        assert status == 202 and _task_count(server) == 1
