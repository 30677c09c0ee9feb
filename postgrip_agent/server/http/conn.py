"""HTTP/1.1 connections for the local service: accepting, reading requests, writing answers.

Idle and half-sent connections cost no thread: they wait in one selector thread, which
reads until a request's head (and a Content-Length body) is complete and only then hands
the connection to a worker. A worker keeps a busy keep-alive connection for a short linger,
so back-to-back requests see no hand-off. Beyond ``max_connections`` (kept below the
process's file-descriptor limit) the longest-idle waiting connection is closed to make
room, and when none waits the newcomer is answered 503 with ``Retry-After``.

Also handled here: chunked request bodies, ``Expect: 100-continue``, bodies shorter than
their Content-Length (400), header and idle timeouts, HEAD answered without a body.
"""

from __future__ import annotations

import errno
import json
import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Deque, Dict, Optional, Tuple

from ..._sockets import readable
from .dispatch import Dispatch, answer
from .framing import BadHead, Head, chunk_size, head_end, parse_head

log = logging.getLogger("postgrip_agent.server.http")

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_HEAD_BYTES = 64 * 1024
#: file descriptors kept free for the store, the ticker and the process's own clients
FD_RESERVE = 64
SERVER_NAME = "postgrip-agent-local"
#: the extensions every local service has; optional ones are added by the Api
EXTENSIONS = "lease-fencing, idempotency-key, wait-seconds, after, next-page-header, task-queues, headers"


class _Conn:
    __slots__ = ("sock", "buf", "head", "head_size", "last_active", "first_byte_at", "head_at", "error")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.head: Optional[Head] = None
        self.head_size = 0
        self.last_active = time.monotonic()
        self.first_byte_at: Optional[float] = None
        #: when the head was complete: from then on the body timeout applies, not the head's
        self.head_at: Optional[float] = None
        self.error: Optional[BadHead] = None

    def take_head(self) -> bool:
        """Parse the head once it is complete; True when the request can be handed to a worker."""
        if self.head is None and self.error is None:
            try:
                end = head_end(self.buf)
            except BadHead as err:
                self.error = err
                return True
            if end < 0:
                if len(self.buf) > MAX_HEAD_BYTES:
                    self.error = BadHead(431, "request head too large")
                    return True
                return False
            if end > MAX_HEAD_BYTES:
                self.error = BadHead(431, "request head too large")
                return True
            try:
                self.head = parse_head(bytes(self.buf[:end]))
            except BadHead as err:
                self.error = err
                return True
            self.head_size = end + 4
            self.head_at = time.monotonic()
        if self.error is not None or self.head is None:
            return True
        head = self.head
        if head.chunked or head.expect_continue or head.length > MAX_BODY_BYTES:
            return True  # the worker reads (or refuses) the body
        return len(self.buf) >= self.head_size + head.length

    def reset(self) -> None:
        del self.buf[: self.head_size + (self.head.length if self.head and not self.head.chunked else 0)]
        self.head, self.head_size, self.error, self.head_at = None, 0, None, None
        self.first_byte_at = time.monotonic() if self.buf else None


def _descriptor_room(wanted: int) -> int:
    """How many connections the process's file-descriptor limit leaves room for (``wanted`` where
    the platform has no such limit to read: ``resource`` is Unix-only)."""
    try:
        import resource
    except ImportError:
        return wanted
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (soft - FD_RESERVE) if soft != resource.RLIM_INFINITY else wanted


class HttpServer:
    """The listener, the selector thread and the worker pool."""

    def __init__(
        self,
        dispatch: Dispatch,
        host: str,
        port: int,
        *,
        max_connections: int = 4096,
        idle_timeout: float = 120.0,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        linger: float = 0.5,
        extensions: str = EXTENSIONS,
    ) -> None:
        self._dispatch = dispatch
        self.extensions = extensions
        self.max_connections = max(8, min(max_connections, _descriptor_room(max_connections)))
        self.idle_timeout, self.header_timeout, self.body_timeout, self.linger = (
            idle_timeout,
            header_timeout,
            body_timeout,
            linger,
        )
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.server_address: Tuple[Any, ...] = self.listener.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self.listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._waiting: "OrderedDict[int, _Conn]" = OrderedDict()  # in the selector, oldest activity first
        self._returned: Deque[_Conn] = deque()
        self._lock = threading.Lock()
        self._active = 0
        self._stopping = threading.Event()
        self._loop_done = threading.Event()
        self._accept_paused_until = 0.0
        self._pool = ThreadPoolExecutor(max_workers=self.max_connections, thread_name_prefix="postgrip-http")
        self._date = ("", 0)
        #: connections accepted, closed to make room, and refused with 503 (tests and /readyz read these)
        self.accepted = 0
        self.evicted = 0
        self.refused = 0

    @property
    def connections(self) -> int:
        """Open connections: those being served and those waiting for a request."""
        with self._lock:
            return self._active + len(self._waiting)

    @property
    def active_connections(self) -> int:
        """How many client connections are open now."""
        with self._lock:
            return self._active

    # ------------------------------------------------------------------ the selector thread

    def serve_forever(self, poll_interval: float = 1.0) -> None:
        """Run the selector loop (accept, read, dispatch, write) until ``shutdown()``."""
        last_sweep = time.monotonic()
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if self._accept_paused_until and now >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    self._selector.register(self.listener, selectors.EVENT_READ, None)
                for key, _ in self._selector.select(min(poll_interval, 0.5)):
                    if key.fileobj is self.listener:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        self._take_returned()
                    else:
                        self._readable(key.data)
                if time.monotonic() - last_sweep >= 0.5:
                    last_sweep = time.monotonic()
                    self._sweep(last_sweep)
        except Exception:  # pragma: no cover - a bug here must be visible, and must not hang stop()
            log.exception("HTTP connection loop failed")
            raise
        finally:
            self._loop_done.set()

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._evict_one():  # no descriptor to spare: pause accepting briefly
                        log.warning("out of file descriptors (%s); pausing accept for 100 ms", err)
                        self._accept_paused_until = time.monotonic() + 0.1
                        self._selector.unregister(self.listener)
                        return
                    continue
                log.warning("accept failed: %s", err)
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.accepted += 1
            with self._lock:
                crowded = self._active + len(self._waiting) >= self.max_connections
            if crowded and not self._evict_one():
                self.refused += 1
                self._refuse(sock)
                continue
            self._wait(_Conn(sock))

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest without sending anything."""
        if not self._waiting:
            return False
        _, conn = self._waiting.popitem(last=False)
        self._forget(conn)
        self.evicted += 1
        return True

    def _refuse(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.send(
                _response_bytes(
                    503,
                    {"error": "the service has too many open connections; retry shortly", "code": "unavailable"},
                    {"Retry-After": "1"},
                    self._http_date(),
                    close=True,
                    extensions=self.extensions,
                )
            )
        except OSError:
            pass
        _close(sock)

    def _wait(self, conn: _Conn) -> None:
        conn.sock.setblocking(False)
        self._waiting[conn.sock.fileno()] = conn
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _forget(self, conn: _Conn) -> None:
        self._waiting.pop(conn.sock.fileno(), None)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        _close(conn.sock)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if conn.head is not None:  # the head arrived, then the body stopped short
                got, length = len(conn.buf) - conn.head_size, conn.head.length
                self._reply_and_close(conn, 400, f"request body ended after {got} of {length} bytes (Content-Length)")
            else:
                self._forget(conn)
            return
        now = time.monotonic()
        conn.buf += data
        conn.last_active = now
        if conn.first_byte_at is None:
            conn.first_byte_at = now
        self._waiting.move_to_end(conn.sock.fileno())
        if conn.take_head():
            self._waiting.pop(conn.sock.fileno(), None)
            self._selector.unregister(conn.sock)
            self._hand_off(conn)

    def _hand_off(self, conn: _Conn) -> None:
        with self._lock:
            self._active += 1
        try:
            self._pool.submit(self._serve, conn)
        except RuntimeError:  # the pool is shut down: the service is stopping
            with self._lock:
                self._active -= 1
            _close(conn.sock)

    def _take_returned(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._returned:
            conn = self._returned.popleft()
            if self._stopping.is_set():
                _close(conn.sock)
            elif conn.take_head() and conn.first_byte_at is not None:
                self._hand_off(conn)  # the next request arrived whole while it was coming back
            else:
                self._wait(conn)

    def _sweep(self, now: float) -> None:
        """Close connections idle past idle_timeout, or stuck mid-head past header_timeout."""
        for conn in list(self._waiting.values()):
            if conn.head_at is not None:  # the head is in; the body is coming (Content-Length)
                if now - conn.head_at > self.body_timeout:
                    self._reply_and_close(conn, 408, "request body not received in time")
            elif conn.first_byte_at is not None and now - conn.first_byte_at > self.header_timeout:
                self._reply_and_close(conn, 408, "request head not received in time")
            elif now - conn.last_active > self.idle_timeout:
                self._forget(conn)

    def _reply_and_close(self, conn: _Conn, status: int, message: str) -> None:
        try:
            conn.sock.send(
                _response_bytes(
                    status,
                    {"error": message, "code": "invalid_request"},
                    {},
                    self._http_date(),
                    close=True,
                    extensions=self.extensions,
                )
            )
        except OSError:
            pass
        self._forget(conn)

    # ------------------------------------------------------------------ workers

    def _serve(self, conn: _Conn) -> None:
        keep = False
        try:
            conn.sock.setblocking(True)
            while True:
                keep = self._handle_one(conn)
                if not keep or self._stopping.is_set():
                    keep = False
                    return
                if conn.take_head() and conn.first_byte_at is not None:
                    continue  # pipelined: the next request is already here
                if not readable(conn.sock, self.linger):
                    return
                if not self._read_head(conn, time.monotonic() + self.header_timeout):
                    keep = False
                    return
        except (socket.timeout, OSError):  # a peer too slow or gone: nothing to answer
            keep = False
        except Exception:
            log.exception("HTTP connection failed")
            keep = False
        finally:
            with self._lock:
                self._active -= 1
            if keep and not self._stopping.is_set():
                conn.last_active = time.monotonic()
                self._returned.append(conn)
                try:
                    self._wake_w.send(b"x")
                except OSError:
                    _close(conn.sock)
            else:
                _close(conn.sock)

    def _read_head(self, conn: _Conn, deadline: float) -> bool:
        """Read until the request's head is in (the body is read by ``_body``); False when the peer went away."""
        while b"\r\n\r\n" not in conn.buf and len(conn.buf) <= MAX_HEAD_BYTES:
            if not self._recv(conn, deadline):
                return False
        conn.take_head()
        return True

    def _recv(self, conn: _Conn, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        conn.sock.settimeout(remaining)
        data = conn.sock.recv(65536)
        if not data:
            return False
        if conn.first_byte_at is None:
            conn.first_byte_at = time.monotonic()
        conn.buf += data
        return True

    def _handle_one(self, conn: _Conn) -> bool:
        """Answer one request; True when the connection stays open for the next."""
        try:
            if conn.error is not None:
                raise conn.error
            head = conn.head
            assert head is not None
            if head.length > MAX_BODY_BYTES:
                raise BadHead(413, f"request body of {head.length} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
            body = self._body(conn, head)
        except BadHead as err:
            self._send(conn, err.status, {"error": err.message, "code": _code(err.status)}, {}, close=True, head=False)
            return False
        except socket.timeout:
            self._send(
                conn, 408, {"error": "request not received in time", "code": "invalid_request"}, {}, close=True, head=False
            )
            return False
        except (ConnectionError, OSError):
            return False
        conn.reset()
        if self._stopping.is_set():  # a request on a kept-alive connection as the service stops: not applied
            self._send(
                conn,
                503,
                {"error": "the service is stopping; retry (another replica, or after its restart)", "code": "unavailable"},
                {"Retry-After": "1"},
                close=True,
                head=False,
            )
            return False
        status, payload, headers = answer(
            self._dispatch, head.method, head.target, head.headers, body, lambda: _caller_alive(conn)
        )
        keep = head.keep_alive and not self._stopping.is_set()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d", head.method, head.target[:200], status)
        return self._send(conn, status, payload, headers, close=not keep, head=head.method == "HEAD") and keep

    def _body(self, conn: _Conn, head: Head) -> bytes:
        start = conn.head_size
        deadline = time.monotonic() + self.body_timeout
        if head.expect_continue and (head.chunked or len(conn.buf) < start + head.length):
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.sock.setblocking(True)
        if not head.chunked:
            while len(conn.buf) < start + head.length:
                if not self._recv(conn, deadline):
                    raise BadHead(
                        400, f"request body ended after {len(conn.buf) - start} of {head.length} bytes (Content-Length)"
                    )
            return bytes(conn.buf[start : start + head.length])
        body = bytearray()
        at = start
        while True:
            line_end = self._need(conn, b"\r\n", at, deadline)
            size = chunk_size(bytes(conn.buf[at:line_end]))
            at = line_end + 2
            if size == 0:
                while True:  # trailers, up to the empty line
                    line_end = self._need(conn, b"\r\n", at, deadline)
                    empty = line_end == at
                    at = line_end + 2
                    if empty:
                        break
                break
            if len(body) + size > MAX_BODY_BYTES:
                raise BadHead(413, f"request body exceeds the {MAX_BODY_BYTES}-byte limit")
            while len(conn.buf) < at + size + 2:
                if not self._recv(conn, deadline):
                    raise BadHead(400, "request body ended inside a chunk")
            if conn.buf[at + size : at + size + 2] != b"\r\n":
                raise BadHead(400, "chunk not followed by CRLF")
            body += conn.buf[at : at + size]
            at += size + 2
        # drop the chunked body from the buffer; reset() then drops the head
        del conn.buf[start:at]
        return bytes(body)

    def _need(self, conn: _Conn, marker: bytes, at: int, deadline: float) -> int:
        while True:
            found = conn.buf.find(marker, at)
            if found >= 0:
                return found
            if len(conn.buf) - at > MAX_HEAD_BYTES:
                raise BadHead(400, "chunk header line too long")
            if not self._recv(conn, deadline):
                raise BadHead(400, "request body ended inside a chunked body")

    def _send(self, conn: _Conn, status: int, payload: Any, headers: Dict[str, str], *, close: bool, head: bool) -> bool:
        try:
            conn.sock.settimeout(self.body_timeout)
            conn.sock.sendall(
                _response_bytes(
                    status, payload, headers, self._http_date(), close=close, omit_body=head, extensions=self.extensions
                )
            )
            return True
        except OSError:
            return False

    def _http_date(self) -> str:
        now = int(time.time())
        if self._date[1] != now:
            self._date = (formatdate(now, usegmt=True), now)
        return self._date[0]

    # ------------------------------------------------------------------ lifecycle

    def shutdown(self) -> None:
        """Stop the selector loop; ``serve_forever`` returns soon after."""
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._loop_done.wait(5)

    def server_close(self) -> None:
        """Close the listening socket and every connection, waking long-polls that wait."""
        self._stopping.set()
        if not self._loop_done.is_set():
            self._loop_done.set()
        for conn in list(self._waiting.values()) + list(self._returned):
            _close(conn.sock)
        self._waiting.clear()
        self._returned.clear()
        for sock in (self.listener, self._wake_r, self._wake_w):
            _close(sock)
        try:
            self._selector.close()
        except (OSError, RuntimeError):
            pass
        self._pool.shutdown(wait=False)


def reason_phrase(status: int) -> str:
    """The standard reason phrase of a status code ("" for one HTTP does not name)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _response_bytes(
    status: int,
    payload: Any,
    headers: Dict[str, str],
    date: str,
    *,
    close: bool,
    omit_body: bool = False,
    extensions: str = EXTENSIONS,
) -> bytes:
    if isinstance(payload, bytes):  # a page or asset of the web UI: its own Content-Type
        data, content_type = payload, headers.get("Content-Type", "application/octet-stream")
    else:
        data, content_type = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), "application/json"
    lines = [
        f"HTTP/1.1 {status} {reason_phrase(status)}",
        f"Server: {SERVER_NAME}",
        f"Date: {date}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(data)}",
        f"X-PostGrip-Extensions: {extensions}",
    ]
    lines += [f"{key}: {value}" for key, value in headers.items() if key != "Content-Type"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if omit_body else data)


def _code(status: int) -> str:
    return {413: "payload_too_large", 501: "not_implemented"}.get(status, "invalid_request")


def _caller_alive(conn: _Conn) -> bool:
    """False once the client closed its end (it sends nothing else mid-request)."""
    if conn.buf:
        return True
    try:
        return not readable(conn.sock, 0) or conn.sock.recv(1, socket.MSG_PEEK) != b""
    except (OSError, ValueError):
        return False


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


__all__ = ["HttpServer", "MAX_BODY_BYTES", "reason_phrase"]
