"""A real TCP proxy for fault injection: forward, then cut every connection on demand."""

from __future__ import annotations

import socket
import threading
from typing import List, Optional, Tuple


def _shut(*sockets: socket.socket, close: bool = False) -> None:
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if close:
            s.close()


class TcpProxy:
    def __init__(self, target: Tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.sockets: List[socket.socket] = []
        self.lock = threading.Lock()
        self.cut_event = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.cut_event.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_event.is_set():  # accepted in the instant of the cut: refuse it
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(src, dst)

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as if the agent's host vanished."""
        self.cut_event.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class FaultyProxy:
    """A TCP proxy that injects faults into the byte streams it relays, at random per chunk:
    requests dropped (the connection closed before they are forwarded), answers dropped (the
    request reached the service, its answer is thrown away), answers cut in half, answers
    stalled past the client's timeout, and answers delayed."""

    def __init__(
        self,
        target: Tuple[str, int],
        *,
        seed: int = 7,
        drop_request: float = 0.0,
        drop_answer: float = 0.0,
        half_answer: float = 0.0,
        stall: float = 0.0,
        delay: float = 0.0,
        stall_seconds: float = 2.5,
    ) -> None:
        import random

        self.target = target
        self.rates = {
            "drop_request": drop_request,
            "drop_answer": drop_answer,
            "half_answer": half_answer,
            "stall": stall,
            "delay": delay,
        }
        self.stall_seconds = stall_seconds
        self.injected = {name: 0 for name in self.rates}
        self.enabled = True
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _pick(self, names: Tuple[str, ...]) -> Optional[str]:
        if not self.enabled:
            return None
        with self._lock:
            roll = self._random.random()
            for name in names:
                roll -= self.rates[name]
                if roll < 0:
                    self.injected[name] += 1
                    return name
        return None

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                if self._closed:
                    return
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        import time

        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                fault = self._pick(("drop_request",) if requests else ("drop_answer", "half_answer", "stall", "delay"))
                if fault in ("drop_request", "drop_answer"):
                    break
                if fault == "half_answer":
                    dst.sendall(data[: max(1, len(data) // 2)])
                    break
                if fault == "stall":
                    time.sleep(self.stall_seconds)
                    break
                if fault == "delay":
                    time.sleep(self._random.uniform(0.01, 0.1))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(src, dst, close=True)

    def close(self) -> None:
        self._closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


class HttpFaultProxy:
    """A real HTTP server in front of the service that relays every request, except those a
    rule matches: each rule ``(method, path_part, fault, times)`` answers its next ``times``
    matching requests with ``fault`` instead — a status code (an ErrorResponse, as a failing
    service answers), or ``"drop"`` (the connection closed before the request is relayed)."""

    def __init__(self, target: str) -> None:
        import http.client
        import http.server
        import json
        from urllib.parse import urlsplit

        split = urlsplit(target)
        self.rules: List[List[object]] = []
        self.hits: List[Tuple[str, str, object]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._fault(self.command, self.path)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None:
                    data = json.dumps({"error": f"injected {fault}", "code": "internal"}).encode()
                    self.send_response(int(str(fault)))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                upstream = http.client.HTTPConnection(split.hostname, split.port, timeout=90)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, method: str, path_part: str, fault: object, times: int = 1) -> None:
        with self._lock:
            self.rules.append([method, path_part, fault, times])

    def _fault(self, method: str, path: str) -> Optional[object]:
        with self._lock:
            for rule in self.rules:
                if rule[0] == method and str(rule[1]) in path and int(rule[3]) > 0:  # type: ignore[call-overload]
                    rule[3] = int(rule[3]) - 1  # type: ignore[call-overload]
                    self.hits.append((method, path, rule[2]))
                    return rule[2]
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
