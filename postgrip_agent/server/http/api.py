"""The HTTP layer of the local runtime service: routing, JSON, status codes, auth."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from typing import Any, Callable, Dict, List, NoReturn, Optional, Pattern, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from ... import types as wt
from ..engine import limits
from ..engine import Engine
from ..engine.sessions import same_secret
from ..engine.core import MAX_WAIT_SECONDS, Fence
from ..errors import BadRequest, NotFound, NotImplementedService, ServiceError, Unauthorized, Unavailable
from ..engine.timekeeping import TICK_LAG_LIMIT
from .conn import EXTENSIONS, HttpServer
from .request import Request, Response, page_of, paged
from .round_trips import RoundTrips
from ..store import SessionRecord, TaskRecord
from .metrics import metrics_routes
from .ui import cookie_authorization, ui_routes
from .wire import history_json, namespace_json, poller_json, run_json, task_event_json, task_json

log = logging.getLogger("postgrip_agent.server.http")

#: sent by an agent with each write it makes while holding a lease: "<task id> <lease token>"
LEASE_HEADER = "x-postgrip-lease"
#: the token of the lease a poll granted (in the poll's answer)
LEASE_TOKEN_HEADER = "X-PostGrip-Lease-Token"
#: advice about a request that succeeded (a run no agent would take yet): our extension, ignorable
WARNING_HEADER = "X-PostGrip-Warning"
MAX_IDEMPOTENCY_KEY = 200
#: how many times a request whose transaction lost a race (a deadlock between two replicas) runs
RACE_ATTEMPTS = 5

# Which credentials an operation accepts (the contract's security requirements).
PUBLIC, MANAGEMENT, EITHER, AGENT = "public", "management", "either", "agent"


def _token_digest(header: Optional[str]) -> str:
    """Who sent a request, for scoping its idempotency keys: a digest of its credentials."""
    return hashlib.sha256((header or "").encode("utf-8", "surrogateescape")).hexdigest()[:16] if header else "anonymous"


def _fence(header: Optional[str]) -> Fence:
    if header is None:
        return None
    parts = header.split()
    if len(parts) != 2:
        raise BadRequest("X-PostGrip-Lease must be '<task id> <lease token>'")
    return parts[0], parts[1]


def _instant(req: Request, name: str) -> Optional[float]:
    """A timestamp query parameter (RFC 3339) as seconds since the epoch; extension of the listings."""
    text = req.arg(name)
    if text is None:
        return None
    try:
        return wt.parse_timestamp(text).timestamp()
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 timestamp such as 2026-12-03T10:00:00Z, got {text!r}") from None


def _choice(req: Request, name: str, allowed: Tuple[str, ...]) -> Optional[str]:
    value = req.arg(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


#: method, path pattern, lane, handler
Route = Tuple[str, Pattern[str], str, Callable[[Request], Response]]


class Api(RoundTrips):
    """Maps each contract operation onto the engine."""

    def __init__(
        self,
        engine: Engine,
        auth_token: Optional[str] = None,
        extra_routes: Optional[List[Any]] = None,
        round_trip_extensions: bool = True,
    ):
        self.engine = engine
        self.auth_token = auth_token
        self.tick_lag_limit = TICK_LAG_LIMIT
        #: requests served, and polls that found nothing (benchmarks read these)
        self.requests_served = 0
        self.empty_polls = 0
        self._count_lock = threading.Lock()
        self.routes: List[Route] = []
        self._templates: Dict[str, str] = {}
        self._local = threading.local()  # per request: the template of the route it matched
        self._table: Dict[Tuple[int, str], List[Route]] = {}
        self._open_ended: List[Route] = []
        r = self._route
        r("GET", "/healthz", PUBLIC, lambda q: (200, {"status": "ok"}, {}))
        r("GET", "/readyz", MANAGEMENT, self.ready)
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
        r("GET", "/api/v1/task-queues", EITHER, self.task_queues)
        r("GET", "/api/v1/task-queues/{queue}", EITHER, self.task_queue)
        r("POST", "/api/v1/agent/session/refresh", PUBLIC, self.refresh)
        r("GET", "/api/v1/agent/poll", AGENT, self.poll)
        r("POST", "/api/v1/agent/tasks/{taskId}/heartbeat", AGENT, self.heartbeat)
        r("POST", "/api/v1/agent/tasks/{taskId}/events", AGENT, self.append_event)
        r("POST", "/api/v1/agent/tasks/{taskId}/complete", AGENT, self.complete)
        r("POST", "/api/v1/agent/tasks/{taskId}/block", AGENT, self.block)
        r("POST", "/api/v1/agent/tasks/{taskId}/fail", AGENT, self.fail)
        #: what X-PostGrip-Extensions advertises
        self.extensions = EXTENSIONS
        if round_trip_extensions:
            r("POST", "/api/v1/agent/tasks/{taskId}/activation", AGENT, self.activation)
            r("GET", "/api/v1/agent/poll-with-history", AGENT, self.poll_with_history)
            r("POST", "/api/v1/agent/tasks/{taskId}/complete-and-next", AGENT, self.complete_and_next)
            r("POST", "/api/v1/agent/tasks/{taskId}/release", AGENT, self.release)
            r("POST", "/api/v1/agent/polls/wake", AGENT, self.wake_polls)
            self.extensions += ", activation-commit, history-tail, completion-handback, markers, lease-release, poll-wake"
        for route in [*(extra_routes or []), *ui_routes(auth_token, PUBLIC), *metrics_routes(engine, MANAGEMENT)]:
            r(*route)
        for prefix in ("/api/v1/sandboxes", "/api/v1/workspaces", "/api/v1/sandbox-sessions"):
            for method in ("GET", "POST", "DELETE"):
                r(method, prefix + "{rest*}", MANAGEMENT, self.not_implemented)

    def _route(self, method: str, template: str, lane: str, handler: Callable[[Request], Response]) -> None:
        pattern = re.sub(r"\{(\w+)\*\}", r"(?P<\1>(/.*)?)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        route = (method, re.compile(f"^{pattern}$"), lane, handler)
        self.routes.append(route)
        self._templates[route[1].pattern] = template  # /metrics labels requests by template, not by path
        # the table: routes by segment count and last segment ("*" for a parameter), so a request
        # tries the one or two routes of its shape, not all of them; open-ended ones are scanned
        segments = template.split("/")
        if "*}" in template:
            self._open_ended.append(route)
        else:
            last = "*" if segments[-1].startswith("{") else segments[-1]
            self._table.setdefault((len(segments), last), []).append(route)

    def _candidates(self, path: str) -> List[Route]:
        """The routes whose shape fits ``path``, in registration order."""
        segments = path.split("/")
        count = len(segments)
        return self._table.get((count, segments[-1]), []) + self._table.get((count, "*"), []) + self._open_ended

    # ------------------------------------------------------------------ dispatch

    def dispatch(
        self, method: str, target: str, headers: Dict[str, str], body: bytes, caller_alive: Callable[[], bool] = lambda: True
    ) -> Response:
        """Route one request (header names in lower case) to its handler."""
        split = urlsplit(target)
        return self.route(method, split.path, parse_qs(split.query, keep_blank_values=True), headers, body, caller_alive)

    def route(
        self,
        method: str,
        path: str,
        query: Dict[str, List[str]],
        headers: Dict[str, str],
        body: bytes,
        caller_alive: Callable[[], bool] = lambda: True,
    ) -> Response:
        """``dispatch()`` with the target already split: the path as sent (percent-encoded), the
        query decoded (the in-process transport passes it so, skipping the URL round trip)."""
        with self._count_lock:
            self.requests_served += 1
        began, status = time.perf_counter(), 500
        self._local.template = None
        try:
            response = self._raced(method, path, query, headers, body, caller_alive)
            status = response[0]
            return response
        except ServiceError as err:
            status = err.status
            raise
        finally:
            self.engine.state.metrics.request(self._local.template, method, status, time.perf_counter() - began)

    def _raced(
        self,
        method: str,
        path: str,
        query: Dict[str, List[str]],
        headers: Dict[str, str],
        body: bytes,
        caller_alive: Callable[[], bool],
    ) -> Response:
        """One request, run again (up to RACE_ATTEMPTS) when its transaction lost a race."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                return self._routed(method, path, query, headers, body, caller_alive)
            except ServiceError:
                raise
            except Exception as err:
                if attempt < RACE_ATTEMPTS and self.engine.store.retryable(err):
                    # its transaction lost a race with another (a deadlock) and changed nothing: again
                    log.debug("%s %s lost a race (%s); running it again", method, path[:200], type(err).__name__)
                    time.sleep(random.uniform(0, 0.002 * attempt))  # apart from its rival, which may retry too
                    continue
                self._unavailable(method, path, err)
        raise AssertionError("unreachable")

    def _unavailable(self, method: str, path: str, err: Exception) -> NoReturn:
        """A request failed on the store: 503 when the database is away for a while, else the error."""
        if not self.engine.store.transient(err):
            raise err
        log.warning(
            "%s %s: the store is unavailable: %s: %s", method, path[:200], type(err).__name__, " ".join(str(err).split())[:300]
        )
        raise Unavailable("the service's database is unavailable for now; try again") from err

    def _routed(
        self,
        method: str,
        path: str,
        query: Dict[str, List[str]],
        headers: Dict[str, str],
        body: bytes,
        caller_alive: Callable[[], bool],
    ) -> Response:
        path = path.rstrip("/") or "/"
        allowed: List[str] = []
        for route_method, pattern, lane, handler in self._candidates(path):
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            self._local.template = self._templates.get(pattern.pattern)
            authorization = headers.get("authorization")
            if authorization is None and self.auth_token is not None and lane != PUBLIC:
                authorization = cookie_authorization(method, headers)  # the web UI, signed in
            session = self._authorize(lane, authorization)
            params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            for name, value in params.items():
                limits.check_text(f"path parameter {name}", value)
            for name, values in query.items():
                for value in values:
                    limits.check_text(f"query parameter {name}", value)
            request = Request(
                method, path, query, body, params, caller_alive, session=session, fence=_fence(headers.get(LEASE_HEADER))
            )
            key = headers.get("idempotency-key")
            if key is not None and method != "GET":
                if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
                    raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
                # a key is the caller's own, for one operation; the request it answered is remembered
                caller = session.agent_id if session is not None else _token_digest(headers.get("authorization"))
                scope = hashlib.sha256(f"{caller}\n{method}\n{path}\n{key}".encode("utf-8", "surrogateescape")).hexdigest()
                digest = hashlib.sha256(json.dumps(sorted(query.items())).encode() + b"\n" + body).hexdigest()[:32]
                return self.engine.idempotent(scope, lambda: handler(request), request_digest=digest, shown_key=key)
            return handler(request)
        if allowed:
            methods = ", ".join(sorted(set(allowed)))
            return (
                405,
                {"error": f"method {method} not allowed on {path}; use {methods}", "code": "method_not_allowed"},
                {"Allow": methods},
            )
        raise NotFound(f"no such endpoint: {method} {path}")

    def _authorize(self, lane: str, header: Optional[str]) -> Optional[SessionRecord]:
        """Check the bearer token for the route's lane; return the agent session it is, if one."""
        if self.auth_token is None or lane == PUBLIC:
            return None
        token = ""
        if header and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        if same_secret(token, self.auth_token):
            return None
        if lane in (EITHER, AGENT):
            session = self.engine.session(token)
            if session is not None:
                return session
        raise Unauthorized("bearer token is not valid for this operation")

    # ------------------------------------------------------------------ handlers

    def ready(self, req: Request) -> Response:
        """``GET /readyz``: the store answers; its counts, durability settings and extensions."""
        lag = self.engine.tick_lag()  # read without the engine lock: a stalled engine must not stall this
        if lag > self.tick_lag_limit:
            raise Unavailable(
                f"not ready: the ticker last completed a tick {lag:.0f}s ago (timers, leases and schedules are stalled)"
            )
        return 200, {"status": "ready", "stats": self.engine.ready_stats()}, {}

    # ------------------------------------------------------------------ agent sessions act in one namespace

    def _scope(self, req: Request, namespace: Optional[str]) -> None:
        """Refuse (403) an agent session's request in a namespace other than its own."""
        if req.session is not None:
            self.engine.session_namespace(req.session, namespace or "default")

    def _namespace_arg(self, req: Request) -> Optional[str]:
        """The namespace query parameter; a bound agent session's listings stay in its namespace (a
        listing that names none binds nothing: it may come before the session's first poll)."""
        namespace = req.arg("namespace")
        if req.session is None or (namespace is None and req.session.namespace is None):
            return namespace
        if namespace is not None:
            self._scope(req, namespace)
        return req.session.namespace

    def _scope_workflow(self, req: Request) -> None:
        if req.session is not None:
            self._scope(req, self.engine.get_workflow(req.params["workflowId"]).namespace)

    def _scope_task(self, req: Request) -> None:
        if req.session is not None:
            self._scope(req, self.engine.get_task(req.params["taskId"]).namespace)

    def create_namespace(self, req: Request) -> Response:
        """``POST /api/v1/namespaces``: create a namespace (409 if it exists)."""
        return 201, namespace_json(self.engine.create_namespace(req.body(wt.CreateNamespaceRequest))), {}

    def compact(self, req: Request) -> Response:
        """``POST /api/v1/admin/compact``: drop finished runs and tasks older than the retention."""
        body = req.body(wt.CompactRequest, optional=True)
        tasks, workflows = self.engine.compact(body.retention_seconds or 0)
        return 200, {"removed_tasks": tasks, "removed_workflows": workflows}, {}

    def list_tasks(self, req: Request) -> Response:
        """``GET /api/v1/tasks``: tasks by queue, type and state, a page at a time."""
        page = page_of(req, ("created_at", "updated_at"))
        filters = {
            "namespace": self._namespace_arg(req),
            "queue": req.arg("queue"),
            "type": req.arg("type"),
            "state": _choice(req, "state", wt.TASK_STATES),
        }
        return paged(self.engine.list_tasks(filters, page), task_json, page)

    def enqueue(self, req: Request) -> Response:
        """``POST /api/v1/tasks``: enqueue a task; a ``workflow:`` task starts a run."""
        body = req.body(wt.EnqueueTaskRequest)
        self._scope(req, body.namespace)
        task = self.engine.enqueue(body, req.fence, req.agent_id)
        headers: Dict[str, str] = {}
        if task.type.startswith("workflow:") and req.fence is None and req.agent_id is None:  # a client's start
            warning = self.engine.pollers.unpolled(task.namespace, task.queue, task.type)
            if warning:
                headers[WARNING_HEADER] = warning.encode("ascii", "backslashreplace").decode()
        return 202, task_json(task), headers

    def get_task(self, req: Request) -> Response:
        """``GET /api/v1/tasks/{taskId}``: one task."""
        self._scope_task(req)
        wait = req.wait_arg()
        task = self.engine.wait_task(req.params["taskId"], wait) if wait else self.engine.get_task(req.params["taskId"])
        return 200, task_json(task), {}

    def task_events(self, req: Request) -> Response:
        """``GET /api/v1/tasks/{taskId}/events``: the task's own events, a page at a time (long-polls with ``wait_seconds``)."""
        self._scope_task(req)
        events = self.engine.task_events(req.params["taskId"], req.int_arg("after", 0), req.wait_arg())
        return 200, [task_event_json(e) for e in events], {}

    def _workflow_filters(self, req: Request) -> Dict[str, Any]:
        # a repeated parameter (how clients send a list) keeps every value
        search = {key[len("search.") :]: values for key, values in req.query.items() if key.startswith("search.")}
        return {
            "namespace": self._namespace_arg(req),
            "id": req.arg("id"),
            "run_id": req.arg("run_id"),
            "type": req.arg("type"),
            "queue": req.arg("queue"),
            "state": _choice(req, "state", wt.WORKFLOW_STATES),
            "agent_id": req.arg("agent_id"),
            "text": req.arg("query") or req.arg("q"),
            "search": search or None,
            "created_after": _instant(req, "created_after"),
            "created_before": _instant(req, "created_before"),
        }

    def list_workflows(self, req: Request) -> Response:
        """``GET /api/v1/workflows``: runs by type, state, queue and search attributes, a page at a time."""
        page = page_of(req, ("created_at", "updated_at", "id", "type"))
        return paged(self.engine.list_workflows(self._workflow_filters(req), page), run_json, page)

    def count_workflows(self, req: Request) -> Response:
        """``GET /api/v1/workflows/count``: how many runs match the same filters."""
        return 200, {"count": self.engine.count_workflows(self._workflow_filters(req))}, {}

    def get_workflow(self, req: Request) -> Response:
        """``GET /api/v1/workflows/{workflowId}``: the run (a run id, or the workflow id's latest run)."""
        self._scope_workflow(req)
        wait = req.wait_arg()
        return 200, run_json(self.engine.get_workflow(req.params["workflowId"], wait)), {}

    def history(self, req: Request) -> Response:
        """``GET /api/v1/workflows/{workflowId}/history``: the run's events, a page at a time."""
        self._scope_workflow(req)
        events = self.engine.history(req.params["workflowId"], req.int_arg("after", 0), req.wait_arg())
        return 200, [history_json(e) for e in events], {}

    def signal(self, req: Request) -> Response:
        """``POST /api/v1/workflows/{workflowId}/signal``: record a signal and wake the run."""
        self._scope_workflow(req)
        event = self.engine.signal(req.params["workflowId"], req.body(wt.SignalWorkflowRequest), req.fence)
        return 202, history_json(event), {}

    def task_queues(self, req: Request) -> Response:
        """Extension ``task-queues``: the namespace's queues with the agents polling them."""
        namespace = self._namespace_arg(req) or "default"
        queues: Dict[str, List[Dict[str, Any]]] = {}
        for poller in self.engine.pollers.of_queue(namespace):
            queues.setdefault(poller.queue, []).append(poller_json(poller))
        return 200, [{"namespace": namespace, "queue": queue, "pollers": pollers} for queue, pollers in queues.items()], {}

    def task_queue(self, req: Request) -> Response:
        """Extension ``task-queues``: one queue: the agents polling it (types, last seen) and its backlog."""
        namespace, queue = self._namespace_arg(req) or "default", req.params["queue"]
        pollers = [poller_json(p) for p in self.engine.pollers.of_queue(namespace, queue)]
        with self.engine.state.serial:
            backlog = self.engine.store.queued_by_type(namespace, queue)
        return 200, {"namespace": namespace, "queue": queue, "pollers": pollers, "backlog": backlog}, {}

    def signal_with_start(self, req: Request) -> Response:
        """``POST /api/v1/workflows/{workflowId}/signal-with-start``: signal the run, starting it first if none runs."""
        body = req.body(wt.SignalWithStartWorkflowRequest)
        self._scope(req, body.namespace)
        run, task, event = self.engine.signal_with_start(req.params["workflowId"], body)
        return 202, {"workflow": run_json(run), "task": task_json(task), "signal": history_json(event)}, {}

    def cancel(self, req: Request) -> Response:
        """``POST /api/v1/workflows/{workflowId}/cancel``: ask the run to cancel."""
        self._scope_workflow(req)
        body = req.body(wt.CancelWorkflowRequest, optional=True)
        return 202, history_json(self.engine.cancel(req.params["workflowId"], body.reason)), {}

    def terminate(self, req: Request) -> Response:
        """``POST /api/v1/workflows/{workflowId}/terminate``: end the run at once."""
        self._scope_workflow(req)
        body = req.body(wt.TerminateWorkflowRequest, optional=True)
        return 202, history_json(self.engine.terminate(req.params["workflowId"], body.reason)), {}

    def refresh(self, req: Request) -> Response:
        """``POST /api/v1/agent/session/refresh``: trade a refresh token for a new pair."""
        body = req.body(wt.RefreshAgentSessionRequest)
        return 200, self.engine.refresh_session(body.refresh_token), {}

    def _poll(self, req: Request) -> Optional[TaskRecord]:
        queue = req.arg("queue")
        if not queue:
            raise BadRequest("query parameter queue is required")
        prefixes = [p.strip() for raw in req.query.get("task_types", []) for p in raw.split(",") if p.strip()]
        self._scope(req, req.arg("namespace"))
        self.engine.pollers.note(req.arg("namespace") or "default", queue, req.agent_id or "anonymous-agent", prefixes)
        task = self.engine.poll(
            req.arg("namespace") or "default",
            queue,
            req.agent_id or "anonymous-agent",
            req.int_arg("wait_seconds", 0, high=MAX_WAIT_SECONDS),
            prefixes,
            req.caller_alive,
        )
        if task is None:
            with self._count_lock:
                self.empty_polls += 1
        return task

    def poll(self, req: Request) -> Response:
        """``GET /api/v1/agent/poll``: lease the next task of a queue to the agent (long-polls with ``wait_seconds``)."""
        task = self._poll(req)
        if task is None:
            return 200, {}, {}
        return 200, {"task": task_json(task)}, {LEASE_TOKEN_HEADER: task.lease_token or ""}

    def heartbeat(self, req: Request) -> Response:
        """``POST /api/v1/agent/tasks/{taskId}/heartbeat``: extend the lease; the answer says if cancellation was asked."""
        body = req.body(wt.HeartbeatTaskRequest, optional=True)
        return 200, task_json(self.engine.heartbeat(req.params["taskId"], req.agent_id, body, req.fence)), {}

    def append_event(self, req: Request) -> Response:
        """``POST /api/v1/agent/tasks/{taskId}/events``: add an event to the task's log."""
        body = req.body(wt.AppendTaskEventRequest)
        return 202, task_event_json(self.engine.append_event(req.params["taskId"], req.agent_id, body.event, req.fence)), {}

    def complete(self, req: Request) -> Response:
        """``POST /api/v1/agent/tasks/{taskId}/complete``: the task succeeded with this result."""
        body = req.body(wt.CompleteTaskRequest)
        return 200, task_json(self.engine.complete(req.params["taskId"], req.agent_id, body.result, req.fence)), {}

    def block(self, req: Request) -> Response:
        """``POST /api/v1/agent/tasks/{taskId}/block``: the task waits (a workflow task whose run awaits something)."""
        body = req.body(wt.BlockTaskRequest, optional=True)
        return 200, task_json(self.engine.block(req.params["taskId"], req.agent_id, body.reason, req.fence)), {}

    def fail(self, req: Request) -> Response:
        """``POST /api/v1/agent/tasks/{taskId}/fail``: the attempt failed; retried under its policy or failed for good."""
        body = req.body(wt.FailTaskRequest)
        return 200, task_json(self.engine.fail(req.params["taskId"], req.agent_id, body, req.fence)), {}

    def not_implemented(self, req: Request) -> Response:
        """Sandbox and workspace routes of the contract: a 501 ErrorResponse naming the route."""
        raise NotImplementedService(f"{req.method} {req.path}: sandboxes and workspaces are not provided by the local service")


def make_http_server(api: Api, host: str, port: int, **options: Any) -> HttpServer:
    """The HTTP server that serves ``api`` on ``host``:``port`` (``options`` go to ``HttpServer``)."""
    return HttpServer(api.dispatch, host, port, extensions=api.extensions, **options)
