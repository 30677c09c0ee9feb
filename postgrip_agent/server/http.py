"""The HTTP layer of the local runtime service: routing, JSON, status codes, auth."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import select
import sqlite3
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Pattern, Tuple, Type
from urllib.parse import parse_qs, unquote, urlsplit

from .. import types as wt
from .engine import Engine
from .engine_core import MAX_WAIT_SECONDS
from .errors import BadRequest, NotFound, NotImplementedService, PayloadTooLarge, ServiceError, Unauthorized
from .store import Page
from .wire import history_json, namespace_json, run_json, task_event_json, task_json

log = logging.getLogger("postgrip_agent.server.http")

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAGE = 1000
NEXT_PAGE_HEADER = "X-Next-Page-Token"

# Which credentials an operation accepts (the contract's security requirements).
PUBLIC, MANAGEMENT, EITHER, AGENT = "public", "management", "either", "agent"

Response = Tuple[int, Any, Dict[str, str]]


class Request:
    def __init__(self, method: str, path: str, query: Dict[str, List[str]], body: bytes, params: Dict[str, str],
                 caller_alive: Callable[[], bool] = lambda: True):
        self.caller_alive = caller_alive
        self.method = method
        self.path = path
        self.query = query
        self.raw_body = body
        self.params = params

    def arg(self, name: str) -> Optional[str]:
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name: str, default: int, *, low: int = 0, high: Optional[int] = None) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"query parameter {name} must be an integer, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise BadRequest(f"query parameter {name} must be {bound}, got {value}")
        return value

    def wait_arg(self) -> float:
        """``wait_seconds`` of the long-poll extensions: seconds, fractions allowed."""
        raw = self.arg("wait_seconds")
        if raw is None or raw == "":
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            raise BadRequest(f"query parameter wait_seconds must be a number, got {raw!r}") from None
        if not 0 <= value <= MAX_WAIT_SECONDS:
            raise BadRequest(f"query parameter wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, got {raw}")
        return value

    def body(self, cls: Type[Any], *, optional: bool = False) -> Any:
        if not self.raw_body.strip():
            if optional:
                return cls()
            data: Any = {}
        else:
            try:
                data = json.loads(self.raw_body)
            except (ValueError, UnicodeDecodeError) as err:
                raise BadRequest(f"request body is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"request body must be a JSON object, got {type(data).__name__}")
        try:
            return wt.structure_strict(data, cls)
        except Exception as err:  # cattrs validation errors
            raise BadRequest(f"invalid {cls.__name__}: {wt.describe_structure_error(err)}") from None


def _page(req: Request, orderable: Tuple[str, ...]) -> Page:
    limit = req.int_arg("limit", 100, high=MAX_PAGE) or 100
    offset = req.int_arg("offset", 0)
    token = req.arg("page_token")
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()).decode())["offset"])
        except Exception:
            raise BadRequest("page_token is not a token this service issued") from None
    order_by = req.arg("order_by") or "created_at"
    descending = order_by.startswith("-")
    order_by = order_by.lstrip("-")
    if order_by not in orderable:
        raise BadRequest(f"order_by must be one of {', '.join(orderable)} (prefix '-' for descending), got {order_by!r}")
    order = req.arg("order")
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order must be 'asc' or 'desc', got {order!r}")
    return Page(limit=limit, offset=offset, order_by=order_by, descending=descending or order == "desc")


def _paged(items: List[Dict[str, Any]], page: Page) -> Response:
    headers: Dict[str, str] = {}
    if len(items) == page.limit:
        token = json.dumps({"offset": page.offset + page.limit}).encode()
        headers[NEXT_PAGE_HEADER] = base64.urlsafe_b64encode(token).decode()
    return 200, items, headers


def _choice(req: Request, name: str, allowed: Tuple[str, ...]) -> Optional[str]:
    value = req.arg(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


class Api:
    """Maps each contract operation onto the engine."""

    def __init__(self, engine: Engine, auth_token: Optional[str] = None, extra_routes: Optional[List[Any]] = None):
        self.engine = engine
        self.auth_token = auth_token
        #: requests served, and polls that found nothing (benchmarks read these)
        self.requests_served = 0
        self.empty_polls = 0
        self._count_lock = threading.Lock()
        self.routes: List[Tuple[str, Pattern[str], str, Callable[[Request], Response]]] = []
        r = self._route
        r("GET", "/healthz", PUBLIC, lambda q: (200, {"status": "ok"}, {}))
        r("GET", "/readyz", MANAGEMENT, lambda q: (200, {"status": "ready", "stats": engine.ready_stats()}, {}))
        r("GET", "/api/v1/namespaces", EITHER, lambda q: (200, [namespace_json(n) for n in engine.list_namespaces()], {}))
        r("POST", "/api/v1/namespaces", MANAGEMENT, self.create_namespace)
        r("POST", "/api/v1/admin/compact", MANAGEMENT, self.compact)
        r("GET", "/api/v1/tasks", EITHER, self.list_tasks)
        r("POST", "/api/v1/tasks", EITHER, self.enqueue)
        r("GET", "/api/v1/tasks/{taskId}", EITHER, self.get_task)
        r("GET", "/api/v1/tasks/{taskId}/events", EITHER, self.task_events)
        r("GET", "/api/v1/workflows", EITHER, self.list_workflows)
        r("GET", "/api/v1/workflows/count", EITHER, self.count_workflows)
        r("GET", "/api/v1/workflows/{workflowId}", EITHER, self.get_workflow)
        r("GET", "/api/v1/workflows/{workflowId}/history", EITHER, self.history)
        r("POST", "/api/v1/workflows/{workflowId}/signal", EITHER, self.signal)
        r("POST", "/api/v1/workflows/{workflowId}/signal-with-start", EITHER, self.signal_with_start)
        r("POST", "/api/v1/workflows/{workflowId}/cancel", EITHER, self.cancel)
        r("POST", "/api/v1/workflows/{workflowId}/terminate", EITHER, self.terminate)
        r("POST", "/api/v1/agent/session/refresh", PUBLIC, self.refresh)
        r("GET", "/api/v1/agent/poll", AGENT, self.poll)
        r("POST", "/api/v1/agent/tasks/{taskId}/heartbeat", AGENT, self.heartbeat)
        r("POST", "/api/v1/agent/tasks/{taskId}/events", AGENT, self.append_event)
        r("POST", "/api/v1/agent/tasks/{taskId}/complete", AGENT, self.complete)
        r("POST", "/api/v1/agent/tasks/{taskId}/block", AGENT, self.block)
        r("POST", "/api/v1/agent/tasks/{taskId}/fail", AGENT, self.fail)
        for route in extra_routes or []:
            r(*route)
        for prefix in ("/api/v1/sandboxes", "/api/v1/workspaces", "/api/v1/sandbox-sessions"):
            for method in ("GET", "POST", "DELETE"):
                r(method, prefix + "{rest*}", MANAGEMENT, self.not_implemented)

    def _route(self, method: str, template: str, lane: str, handler: Callable[[Request], Response]) -> None:
        pattern = re.sub(r"\{(\w+)\*\}", r"(?P<\1>(/.*)?)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.routes.append((method, re.compile(f"^{pattern}$"), lane, handler))

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, method: str, target: str, headers: Any, body: bytes,
                 caller_alive: Callable[[], bool] = lambda: True) -> Response:
        with self._count_lock:
            self.requests_served += 1
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        allowed: List[str] = []
        for route_method, pattern, lane, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            self._authorize(lane, headers.get("Authorization"))
            params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            query = parse_qs(split.query, keep_blank_values=True)
            return handler(Request(method, path, query, body, params, caller_alive))
        if allowed:
            return 405, {"error": f"method {method} not allowed on {path}; use {', '.join(sorted(set(allowed)))}", "code": "method_not_allowed"}, {"Allow": ", ".join(sorted(set(allowed)))}
        raise NotFound(f"no such endpoint: {method} {path}")

    def _authorize(self, lane: str, header: Optional[str]) -> None:
        if self.auth_token is None or lane == PUBLIC:
            return
        token = ""
        if header and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        if secrets.compare_digest(token, self.auth_token):
            return
        if lane in (EITHER, AGENT) and self.engine.access_token_valid(token):
            return
        raise Unauthorized("bearer token is not valid for this operation")

    # ------------------------------------------------------------------ handlers

    def create_namespace(self, req: Request) -> Response:
        return 201, namespace_json(self.engine.create_namespace(req.body(wt.CreateNamespaceRequest))), {}

    def compact(self, req: Request) -> Response:
        body = req.body(wt.CompactRequest, optional=True)
        tasks, workflows = self.engine.compact(body.retention_seconds or 0)
        return 200, {"removed_tasks": tasks, "removed_workflows": workflows}, {}

    def list_tasks(self, req: Request) -> Response:
        page = _page(req, ("created_at", "updated_at"))
        filters = {
            "namespace": req.arg("namespace"),
            "queue": req.arg("queue"),
            "type": req.arg("type"),
            "state": _choice(req, "state", wt.TASK_STATES),
        }
        return _paged([task_json(t) for t in self.engine.list_tasks(filters, page)], page)

    def enqueue(self, req: Request) -> Response:
        return 202, task_json(self.engine.enqueue(req.body(wt.EnqueueTaskRequest))), {}

    def get_task(self, req: Request) -> Response:
        wait = req.wait_arg()
        task = self.engine.wait_task(req.params["taskId"], wait) if wait else self.engine.get_task(req.params["taskId"])
        return 200, task_json(task), {}

    def task_events(self, req: Request) -> Response:
        events = self.engine.task_events(
            req.params["taskId"], req.int_arg("after", 0), req.wait_arg()
        )
        return 200, [task_event_json(e) for e in events], {}

    def _workflow_filters(self, req: Request) -> Dict[str, Any]:
        search = {key[len("search."):]: values[-1] for key, values in req.query.items() if key.startswith("search.")}
        return {
            "namespace": req.arg("namespace"),
            "id": req.arg("id"),
            "run_id": req.arg("run_id"),
            "type": req.arg("type"),
            "queue": req.arg("queue"),
            "state": _choice(req, "state", wt.WORKFLOW_STATES),
            "agent_id": req.arg("agent_id"),
            "text": req.arg("query") or req.arg("q"),
            "search": search or None,
        }

    def list_workflows(self, req: Request) -> Response:
        page = _page(req, ("created_at", "updated_at", "id", "type"))
        runs = self.engine.list_workflows(self._workflow_filters(req), page)
        return _paged([run_json(r) for r in runs], page)

    def count_workflows(self, req: Request) -> Response:
        return 200, {"count": self.engine.count_workflows(self._workflow_filters(req))}, {}

    def get_workflow(self, req: Request) -> Response:
        wait = req.wait_arg()
        return 200, run_json(self.engine.get_workflow(req.params["workflowId"], wait)), {}

    def history(self, req: Request) -> Response:
        events = self.engine.history(
            req.params["workflowId"], req.int_arg("after", 0), req.wait_arg()
        )
        return 200, [history_json(e) for e in events], {}

    def signal(self, req: Request) -> Response:
        event = self.engine.signal(req.params["workflowId"], req.body(wt.SignalWorkflowRequest))
        return 202, history_json(event), {}

    def signal_with_start(self, req: Request) -> Response:
        run, task, event = self.engine.signal_with_start(
            req.params["workflowId"], req.body(wt.SignalWithStartWorkflowRequest)
        )
        return 202, {"workflow": run_json(run), "task": task_json(task), "signal": history_json(event)}, {}

    def cancel(self, req: Request) -> Response:
        body = req.body(wt.CancelWorkflowRequest, optional=True)
        return 202, history_json(self.engine.cancel(req.params["workflowId"], body.reason)), {}

    def terminate(self, req: Request) -> Response:
        body = req.body(wt.TerminateWorkflowRequest, optional=True)
        return 202, history_json(self.engine.terminate(req.params["workflowId"], body.reason)), {}

    def refresh(self, req: Request) -> Response:
        body = req.body(wt.RefreshAgentSessionRequest)
        return 200, self.engine.refresh_session(body.refresh_token), {}

    def poll(self, req: Request) -> Response:
        queue = req.arg("queue")
        if not queue:
            raise BadRequest("query parameter queue is required")
        prefixes = [p.strip() for raw in req.query.get("task_types", []) for p in raw.split(",") if p.strip()]
        task = self.engine.poll(
            req.arg("namespace") or "default",
            queue,
            req.arg("agent_id") or "anonymous-agent",
            req.int_arg("wait_seconds", 0, high=MAX_WAIT_SECONDS),
            prefixes,
            req.caller_alive,
        )
        if task is None:
            with self._count_lock:
                self.empty_polls += 1
            return 200, {}, {}
        return 200, {"task": task_json(task)}, {}

    def heartbeat(self, req: Request) -> Response:
        body = req.body(wt.HeartbeatTaskRequest, optional=True)
        return 200, task_json(self.engine.heartbeat(req.params["taskId"], req.arg("agent_id"), body)), {}

    def append_event(self, req: Request) -> Response:
        body = req.body(wt.AppendTaskEventRequest)
        return 202, task_event_json(self.engine.append_event(req.params["taskId"], req.arg("agent_id"), body.event)), {}

    def complete(self, req: Request) -> Response:
        body = req.body(wt.CompleteTaskRequest)
        return 200, task_json(self.engine.complete(req.params["taskId"], req.arg("agent_id"), body.result)), {}

    def block(self, req: Request) -> Response:
        body = req.body(wt.BlockTaskRequest, optional=True)
        return 200, task_json(self.engine.block(req.params["taskId"], req.arg("agent_id"), body.reason)), {}

    def fail(self, req: Request) -> Response:
        body = req.body(wt.FailTaskRequest)
        return 200, task_json(self.engine.fail(req.params["taskId"], req.arg("agent_id"), body)), {}

    def not_implemented(self, req: Request) -> Response:
        raise NotImplementedService(f"{req.method} {req.path}: sandboxes and workspaces are not provided by the local service")


class _Headers(Dict[str, str]):
    """Request headers, names folded to lower case."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "postgrip-agent-local"
    disable_nagle_algorithm = True
    api: Api

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        try:
            if length < 0:
                raise BadRequest("Content-Length must be a non-negative integer")
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                raise PayloadTooLarge(f"request body of {length} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
            body = self.rfile.read(length) if length else b""
            status, payload, headers = self.api.dispatch(self.command, self.path, self.headers, body, self._caller_alive)
        except ServiceError as err:
            status, payload, headers = err.status, {"error": err.message, "code": err.code}, {}
        except sqlite3.ProgrammingError:  # the store closed under a request: the service is stopping
            status, payload, headers = 503, {"error": "the service is stopping", "code": "unavailable"}, {}
        except Exception:
            log.exception("internal error handling %s %s", self.command, self.path)
            status, payload, headers = 500, {"error": "internal server error; see the service log", "code": "internal"}, {}
        self._write_json(status, payload, headers)

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """Errors found while reading the request still answer with an ErrorResponse."""
        self.close_connection = True
        self._write_json(code, {"error": message or self.responses.get(code, ("error",))[0], "code": "invalid_request"}, {})

    def _write_json(self, status: int, payload: Any, headers: Dict[str, str]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}", f"Server: {self.server_version}",
                 f"Date: {self.date_time_string()}", "Content-Type: application/json", f"Content-Length: {len(data)}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        # one write for head and body: one segment on the wire instead of two
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s -> %d", self.address_string(), self.command, getattr(self, "path", "?"), status)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    def parse_request(self) -> bool:
        """HTTP/1.x request line and headers, without the email parser http.server uses
        (it was a large share of each request's cost)."""
        self.command = None  # type: ignore[assignment]
        self.request_version = "HTTP/1.1"  # so even an error about the request line gets a status line
        self.close_connection = True
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")  # type: ignore[attr-defined]
        self.requestline = line
        words = line.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(400, f"Bad request line {line[:100]!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(raw) > MAX_HEADER_LINE:
                self.send_error(431, "Header line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if not sep:
                self.send_error(400, f"Malformed header line {raw[:100]!r}")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (self.request_version == "HTTP/1.0" and connection != "keep-alive")
        return True

    def _caller_alive(self) -> bool:
        """False once the client closed its end (it sends nothing else mid-request)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return not readable or self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_http_server(api: Api, host: str, port: int) -> HttpServer:
    handler = type("Handler", (_Handler,), {"api": api})
    return HttpServer((host, port), handler)
