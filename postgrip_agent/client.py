"""The blocking Client and its sub-clients: workflows, tasks, schedules."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import types as wt
from ._encoding import (
    duration_ms, encode_args, encode_value, lease_seconds, memo_json, name_of, retry_json, return_type_of,
)
from .connection import Connection, InProcessService, RetryOptions
from .connection import quote_segment as _q
from . import _compat as compat
from ._compat import either
from .errors import PostGripAgentError, TimeoutFailure, TransportError
from .handle import LONG_POLL, WorkflowHandle, WorkflowUpdateHandle, long_poll
from .inspection import state_and_status
from ._subclient import _check_id, _check_policy, _drop_none, _pages, _SubClient
from .schedule_client import ScheduleClient

__all__ = ["Client", "WorkflowClient", "TaskClient", "ScheduleClient", "WorkflowHandle", "WorkflowUpdateHandle"]

class TaskClient(_SubClient):
    """Tasks of the service: enqueue, inspect, watch."""


    def enqueue(
        self, type: str, *, payload: Any = None, namespace: Optional[str] = None, queue: Optional[str] = None,
        lease_timeout: Union[timedelta, float, None] = None, lease_timeout_seconds: Optional[float] = None,
    ) -> wt.Task:
        """Enqueue a task. ``lease_timeout_seconds`` is the async SDK's spelling of ``lease_timeout``."""
        if not isinstance(type, str) or not type.strip():
            raise ValueError("task type must be a non-empty string, e.g. 'shell.exec'")
        lease_timeout = either("lease_timeout", lease_timeout, "lease_timeout_seconds", lease_timeout_seconds)
        request = wt.EnqueueTaskRequest(
            type=type, namespace=namespace or self._client.namespace, queue=queue or self._client.default_task_queue,
            payload=encode_value(payload, "task payload"),
            lease_timeout_seconds=lease_seconds(lease_timeout, "lease_timeout"),
        )
        data = self._conn.request("POST", "/api/v1/tasks", body=wt.to_json(request), idempotent=False)
        return wt.from_json(data, wt.Task)

    def get(self, task_id: str) -> wt.Task:
        """One task."""
        _check_id(task_id, "task id")
        return wt.from_json(self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}"), wt.Task)

    def wait(self, task_id: str, *, timeout: Optional[float] = None) -> wt.Task:
        """Block until the task is terminal (succeeded or failed); TimeoutFailure after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return long_poll(
            lambda wait: wt.from_json(self._conn.request(
                "GET", f"/api/v1/tasks/{_q(task_id)}", params={"wait_seconds": wait}, timeout=wait + self._conn.timeout,
            ), wt.Task),
            lambda task: task.state in wt.TERMINAL_TASK_STATES, deadline,
            lambda: TimeoutFailure(f"task {task_id} did not finish within {timeout} s"),
        )

    def list(
        self, *, namespace: Optional[str] = None, queue: Optional[str] = None, type: Optional[str] = None,
        state: Optional[str] = None, order_by: Optional[str] = None, page_size: int = 100,
    ) -> Iterator[wt.Task]:
        """Tasks matching the filters (``queue``, ``type``, ``state``), page by page."""
        if state is not None and state not in wt.TASK_STATES:
            raise ValueError(f"state must be one of {', '.join(wt.TASK_STATES)}, got {state!r}")
        params = {"namespace": namespace, "queue": queue, "type": type, "state": state, "order_by": order_by}
        for raw in _pages(self._conn, "/api/v1/tasks", params, page_size):
            yield wt.from_json(raw, wt.Task)

    def events(self, task_id: str) -> List[wt.TaskEvent]:
        """A task's events (leased, heartbeats, milestones, output, completion), oldest first."""
        return [wt.from_json(e, wt.TaskEvent) for e in self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}/events")]

    def watch_events(self, task_id: str, *, timeout: Optional[float] = None,
                     poll_interval: Optional[float] = None) -> Iterator[wt.TaskEvent]:
        """Events of the task as they are written, until it is terminal (or ``timeout``);
        ``poll_interval`` (the async SDK's) is accepted: the service wakes the watch itself."""
        deadline = None if timeout is None else time.monotonic() + timeout
        after = 0
        while True:
            wait = LONG_POLL if deadline is None else max(0.0, min(LONG_POLL, deadline - time.monotonic()))
            events = self._conn.request(
                "GET", f"/api/v1/tasks/{_q(task_id)}/events", params={"after": after, "wait_seconds": round(wait, 3)},
                timeout=wait + self._conn.timeout,
            )
            for raw in events:
                after = max(after, int(raw["id"]))
                yield wt.from_json(raw, wt.TaskEvent)
            if not events:
                if self.get(task_id).state in wt.TERMINAL_TASK_STATES:
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def shell_exec(
        self, command: str, args: Sequence[str] = (), *, env: Optional[Mapping[str, str]] = None,
        working_dir: Optional[str] = None, timeout_seconds: Optional[int] = None, queue: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a ``shell.exec`` task (run by a host agent that provides a shell)."""
        payload = _drop_none({"command": command, "args": list(args), "env": dict(env) if env else None,
                              "working_dir": working_dir, "timeout_seconds": timeout_seconds})
        return self.enqueue("shell.exec", payload=payload, queue=queue, namespace=namespace)

    def container_exec(
        self, image: str, args: Sequence[str] = (), *, command: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None, working_dir: Optional[str] = None, pull_policy: Optional[str] = None,
        timeout_seconds: Optional[int] = None, queue: Optional[str] = None, namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a ``container.exec`` task (run by a host agent that provides containers)."""
        if not image:
            raise ValueError("container_exec needs an image")
        payload = _drop_none({"image": image, "command": command, "args": list(args), "env": dict(env) if env else None,
                              "working_dir": working_dir, "pull_policy": pull_policy, "timeout_seconds": timeout_seconds})
        return self.enqueue("container.exec", payload=payload, queue=queue, namespace=namespace)

    def workflow_runtime(
        self, *, image: Optional[str] = None, command: Optional[str] = None, args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None, working_dir: Optional[str] = None, runtime_id: Optional[str] = None,
        isolation: Optional[str] = None, timeout_seconds: Optional[int] = None, queue: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a managed ``workflow.runtime`` task on a host-agent pool."""
        if not image and not command:
            raise ValueError("workflow_runtime needs an image or a command")
        if isolation is not None and not image:
            raise ValueError("workflow_runtime isolation needs an image (a command-only runtime has no isolation floor)")
        payload = _drop_none({"runtime_id": runtime_id, "image": image, "command": command, "args": list(args),
                              "env": dict(env) if env else None, "working_dir": working_dir, "isolation": isolation,
                              "timeout_seconds": timeout_seconds, "queue": queue, "namespace": namespace})
        return self.enqueue("workflow.runtime", payload=payload, queue=queue, namespace=namespace)

    def noop(self, *, queue: Optional[str] = None, namespace: Optional[str] = None) -> wt.Task:
        """Enqueue a no-op task (a probe of the queue)."""
        return self.enqueue("noop", payload={}, queue=queue, namespace=namespace)


def _arguments(positional: Sequence[Any], keyword: Optional[Sequence[Any]]) -> Sequence[Any]:
    """A workflow's arguments, given positionally (ours) or as ``args=[...]`` (the async SDK's)."""
    if keyword is None:
        return positional
    if positional:
        raise TypeError("pass the workflow's arguments positionally or as args=[...], not both")
    if isinstance(keyword, (str, bytes)) or not isinstance(keyword, Sequence):
        raise TypeError(f"args must be a list of the workflow's arguments, not {type(keyword).__name__}")
    return keyword


class WorkflowClient(_SubClient):
    """Start, find and steer workflows."""


    def _start_payload(
        self, workflow: Any, args: Sequence[Any], *, id: Optional[str], id_reuse_policy: Optional[str],
        run_timeout: Any, retry_policy: Any, memo: Optional[Mapping[str, Any]],
        search_attributes: Optional[Mapping[str, Any]], ui: Optional[Mapping[str, Any]],
    ) -> Dict[str, Any]:
        workflow_type = name_of(workflow, "workflow")
        _check_id(id, "workflow id")
        _check_policy(id_reuse_policy)
        return _drop_none({
            "workflowType": workflow_type,
            "workflowId": id or str(uuid.uuid4()),
            "workflowIdReusePolicy": id_reuse_policy,
            "runTimeoutMs": duration_ms(run_timeout, "run_timeout") or None,
            "retry": retry_json(retry_policy),
            "memo": memo_json(memo, ui),
            "searchAttributes": encode_value(dict(search_attributes), "search_attributes") if search_attributes else None,
            "args": encode_args(args, f"workflow {workflow_type} argument"),
        })

    def start(
        self, workflow: Any, *arguments: Any, id: Optional[str] = None, task_queue: Optional[str] = None,
        namespace: Optional[str] = None, id_reuse_policy: Optional[str] = None, run_timeout: Any = None,
        retry_policy: Any = None, memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None, ui: Optional[Mapping[str, Any]] = None,
        lease_timeout: Any = None, result_type: Optional[Any] = None,
        workflow_id: Optional[str] = None, args: Optional[Sequence[Any]] = None, retry: Any = None,
        workflow_id_reuse_policy: Optional[str] = None, workflow_run_timeout: Any = None,
        workflow_run_timeout_ms: Optional[int] = None, lease_timeout_seconds: Optional[float] = None,
        start_signal: Optional[Any] = None, start_signal_args: Sequence[Any] = (),
    ) -> WorkflowHandle[Any]:
        """Start a workflow run and return its handle.

        The async SDK's spellings are accepted too: ``workflow_id`` (``id``), ``args=[...]`` (positional
        arguments), ``retry`` (``retry_policy``), ``workflow_id_reuse_policy`` (``id_reuse_policy``),
        ``workflow_run_timeout``/``workflow_run_timeout_ms`` (``run_timeout``; numbers are milliseconds
        there) and ``lease_timeout_seconds`` (``lease_timeout``). Passing both spellings is a TypeError.
        Temporal's ``start_signal=`` (with ``start_signal_args=``) is :meth:`signal_with_start`: the
        signal reaches the run before its first activation, starting it if it is not running."""
        if start_signal is not None:
            return self.signal_with_start(
                workflow, *arguments, signal=start_signal, signal_args=start_signal_args, id=id, task_queue=task_queue,
                namespace=namespace, id_reuse_policy=id_reuse_policy, run_timeout=run_timeout, retry_policy=retry_policy,
                memo=memo, search_attributes=search_attributes, result_type=result_type, ui=ui, workflow_id=workflow_id,
                args=args, retry=retry, workflow_id_reuse_policy=workflow_id_reuse_policy,
                workflow_run_timeout=workflow_run_timeout, workflow_run_timeout_ms=workflow_run_timeout_ms,
                lease_timeout_seconds=lease_seconds(either("lease_timeout", lease_timeout, "lease_timeout_seconds",
                                                           lease_timeout_seconds), "lease_timeout"))
        if start_signal_args:
            raise TypeError("start_signal_args= goes with start_signal=")
        id = either("id", id, "workflow_id", workflow_id)
        id_reuse_policy = either("id_reuse_policy", id_reuse_policy, "workflow_id_reuse_policy", workflow_id_reuse_policy)
        run_timeout = compat.run_timeout(run_timeout, workflow_run_timeout, workflow_run_timeout_ms)
        lease_timeout = either("lease_timeout", lease_timeout, "lease_timeout_seconds", lease_timeout_seconds)
        payload = self._start_payload(
            workflow, _arguments(arguments, args), id=id, id_reuse_policy=id_reuse_policy, run_timeout=run_timeout,
            retry_policy=either("retry_policy", retry_policy, "retry", retry), memo=memo,
            search_attributes=search_attributes, ui=ui,
        )
        request = wt.EnqueueTaskRequest(
            type=f"workflow:{payload['workflowType']}", namespace=namespace or self._client.namespace,
            queue=task_queue or self._client.default_task_queue, payload=payload,
            lease_timeout_seconds=lease_seconds(lease_timeout, "lease_timeout"),
        )
        # A workflow start is safe to retry: the id is fixed, so a repeat can never create a second run.
        try:
            data = self._conn.request("POST", "/api/v1/tasks", body=wt.to_json(request), idempotent=False)
        except TransportError as err:
            if not err.reached_server:
                raise
            data = self._recover_start(payload["workflowId"], err)
        task = wt.from_json(data, wt.Task)
        run_id = (task.payload or {}).get("runId")
        return WorkflowHandle(
            self._client, payload["workflowId"], result_run_id=run_id, first_execution_run_id=run_id,
            result_type=result_type if result_type is not None else return_type_of(workflow),
            workflow_type=payload["workflowType"], task_id=task.id,
        )

    def _recover_start(self, workflow_id: str, err: TransportError) -> Any:
        """The start may or may not have landed: look before starting again."""
        try:
            run = self._conn.request("GET", f"/api/v1/workflows/{_q(workflow_id)}")
        except PostGripAgentError:
            raise err from None
        return self._conn.request("GET", f"/api/v1/tasks/{_q(run['task_id'])}")

    def execute(self, workflow: Any, *args: Any, timeout: Optional[float] = None, **options: Any) -> Any:
        """Start a workflow and block until it finishes; return its result (``timeout``: seconds to wait)."""
        return self.start(workflow, *args, **options).result(timeout=timeout)

    def signal_with_start(
        self, workflow: Any, *arguments: Any, signal: Any, signal_args: Sequence[Any] = (), id: Optional[str] = None,
        task_queue: Optional[str] = None, namespace: Optional[str] = None, id_reuse_policy: Optional[str] = None,
        run_timeout: Any = None, retry_policy: Any = None, memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None, result_type: Optional[Any] = None,
        ui: Optional[Mapping[str, Any]] = None, workflow_id: Optional[str] = None, args: Optional[Sequence[Any]] = None,
        retry: Any = None, workflow_id_reuse_policy: Optional[str] = None, workflow_run_timeout: Any = None,
        workflow_run_timeout_ms: Optional[int] = None, lease_timeout_seconds: Optional[float] = None,
    ) -> WorkflowHandle[Any]:
        """Signal the workflow with this id, starting it first if it is not running. Takes the async
        SDK's spellings as ``start`` does. ``lease_timeout_seconds`` is accepted and, as in the
        contract's SignalWithStartWorkflowRequest, applies to the workflow task."""
        id = either("id", id, "workflow_id", workflow_id)
        if id is None:
            raise TypeError("signal_with_start needs the workflow's id (id= or workflow_id=)")
        _check_id(id, "workflow id")
        payload = self._start_payload(
            workflow, _arguments(arguments, args), id=id,
            id_reuse_policy=either("id_reuse_policy", id_reuse_policy, "workflow_id_reuse_policy", workflow_id_reuse_policy),
            run_timeout=compat.run_timeout(run_timeout, workflow_run_timeout, workflow_run_timeout_ms),
            retry_policy=either("retry_policy", retry_policy, "retry", retry),
            memo=memo, search_attributes=search_attributes, ui=ui,
        )
        if lease_timeout_seconds is not None:
            payload["lease_timeout_seconds"] = lease_seconds(lease_timeout_seconds, "lease_timeout_seconds")
        signal_name = name_of(signal, "signal")
        body = {**payload, "namespace": namespace or self._client.namespace,
                "queue": task_queue or self._client.default_task_queue,
                "signal": {"name": signal_name, "args": encode_args(signal_args, f"signal {signal_name!r} argument")}}
        data = self._conn.request("POST", f"/api/v1/workflows/{_q(id)}/signal-with-start", body=body, idempotent=False)
        response = wt.from_json(data, wt.SignalWithStartWorkflowResponse)
        run_id = response.workflow.run_id
        return WorkflowHandle(self._client, id, result_run_id=run_id, first_execution_run_id=run_id,
                              result_type=result_type if result_type is not None else return_type_of(workflow),
                              workflow_type=payload["workflowType"], task_id=response.task.id)

    def get_handle(
        self, id: Optional[str] = None, *, run_id: Optional[str] = None, first_execution_run_id: Optional[str] = None,
        result_type: Optional[Any] = None, workflow_id: Optional[str] = None, workflow_type: Optional[str] = None,
    ) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (``workflow_id`` is the async SDK's spelling of ``id``;
        ``workflow_type``, which it takes, is kept on the handle)."""
        id = either("id", id, "workflow_id", workflow_id)
        if id is None:
            raise TypeError("get_handle needs the workflow's id (id= or workflow_id=)")
        return WorkflowHandle(self._client, id, run_id=run_id, first_execution_run_id=first_execution_run_id,
                              result_type=result_type, workflow_type=workflow_type)

    def list(
        self, *, query: Optional[str] = None, workflow_id: Optional[str] = None, workflow_type: Optional[str] = None,
        state: Optional[str] = None, task_queue: Optional[str] = None, namespace: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None, order_by: Optional[str] = None, page_size: int = 100,
        run_id: Optional[str] = None, limit: Optional[int] = None, page_token: Optional[str] = None,
        offset: Optional[int] = None, agent_id: Optional[str] = None, q: Optional[str] = None,
        order: Optional[str] = None, status: Optional[str] = None,
    ) -> Iterator[wt.WorkflowExecution]:
        """Runs matching the filters, newest first (``order_by`` changes it), page by page.
        ``run_id`` picks one run; ``agent_id`` those an agent last held; ``limit`` stops after
        that many; ``page_token`` (a page's ``X-Next-Page-Token``, as the async SDK pages) or
        ``offset`` starts there. ``q`` and ``order`` are the async SDK's names of ``query`` and
        ``order_by``. ``status`` (Temporal's names: RUNNING, COMPLETED, FAILED, CANCELED,
        TERMINATED, CONTINUED_AS_NEW, TIMED_OUT; see ``WorkflowExecution.status``), or a ``state``
        of ``cancelled``, ``terminated`` or ``timed_out``, picks runs that ended so."""
        query = either("query", query, "q", q)
        state, wanted = state_and_status(state, status)
        params = self._filters(query, workflow_id, workflow_type, state, task_queue, namespace, search_attributes, run_id,
                               agent_id)
        params["order_by"] = either("order_by", order_by, "order", order)
        left = limit
        runs = _pages(self._conn, "/api/v1/workflows", params, page_size, limit=None if wanted else limit,
                      page_token=page_token, offset=offset)
        for raw in runs:
            run = wt.from_json(raw, wt.WorkflowExecution)
            if wanted is not None and run.status != wanted:
                continue
            if left is not None:
                if left <= 0:
                    return
                left -= 1
            yield run

    def count(
        self, *, query: Optional[str] = None, workflow_id: Optional[str] = None, workflow_type: Optional[str] = None,
        state: Optional[str] = None, task_queue: Optional[str] = None, namespace: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None, run_id: Optional[str] = None,
        agent_id: Optional[str] = None, q: Optional[str] = None, status: Optional[str] = None,
    ) -> int:
        """How many runs match the filters (as for :meth:`list`; a FAILED, CANCELED, TERMINATED or
        TIMED_OUT ``status`` is counted by listing the failed runs)."""
        wire_state, wanted = state_and_status(state, status)
        if wanted is not None:
            return sum(1 for _ in self.list(query=query, q=q, workflow_id=workflow_id, workflow_type=workflow_type,
                                            state=state, status=status, task_queue=task_queue, namespace=namespace,
                                            search_attributes=search_attributes, run_id=run_id, agent_id=agent_id,
                                            page_size=500))
        state = wire_state
        params = self._filters(either("query", query, "q", q), workflow_id, workflow_type, state, task_queue, namespace,
                               search_attributes, run_id, agent_id)
        return int(self._conn.request("GET", "/api/v1/workflows/count", params=params)["count"])

    @staticmethod
    def _filters(query: Optional[str], workflow_id: Optional[str], workflow_type: Optional[str], state: Optional[str],
                 task_queue: Optional[str], namespace: Optional[str], search: Optional[Mapping[str, Any]],
                 run_id: Optional[str] = None, agent_id: Optional[str] = None) -> Dict[str, Any]:
        if state is not None and state not in wt.WORKFLOW_STATES:
            raise ValueError(f"state must be one of {', '.join(wt.WORKFLOW_STATES)}, got {state!r}")
        params: Dict[str, Any] = {"q": query, "id": workflow_id, "type": workflow_type, "state": state,
                                  "queue": task_queue, "namespace": namespace, "run_id": run_id, "agent_id": agent_id}
        for key, value in (search or {}).items():
            params[f"search.{key}"] = value
        return params


class Client:
    """The blocking entry point; thread-safe, one per process is enough.

    ``client.workflow``, ``client.task`` and ``client.schedule`` group the operations;
    the workflow ones are also on the client itself (``start_workflow``, ...).
    """

    def __init__(self, connection: Connection, *, namespace: str = "default", default_task_queue: str = "default") -> None:
        self.connection = connection
        self.namespace = namespace
        self.default_task_queue = default_task_queue
        self.workflow = WorkflowClient(self)
        self.task = TaskClient(self)
        self.schedule = ScheduleClient(self)

    @classmethod
    def connect(
        cls, address: Union[str, Sequence[str], InProcessService, None] = None, *, namespace: str = "default",
        default_task_queue: str = "default", check_health: bool = True, **connection_options: Any,
    ) -> "Client":
        """Connect and (by default) check the service answers; fails fast naming the address.

        ``address`` is the service's URL; a list of URLs (or one string with commas) names
        replicas of one service, and calls move to the next when a connection fails; or a
        ``LocalServer`` running in this process: then calls reach it directly on the calling
        thread, without a socket (same API and errors)."""
        connection = Connection(address, **connection_options)
        client = cls(connection, namespace=namespace, default_task_queue=default_task_queue)
        if check_health:
            try:
                # fail fast at start-up: a brief retry rides out a blip, not an absent service
                quick = RetryOptions(max_elapsed=1.0, max_attempts=4, sleep=connection.retry.sleep)
                connection.request("GET", "/healthz", timeout=min(5.0, connection.timeout), retry=quick)
            except TransportError as err:
                connection.close()
                raise TransportError(
                    f"no PostGrip Agent service answers at {', '.join(connection.addresses)}: {err}. Start one with "
                    "'postgrip-agent server' or set POSTGRIP_AGENTORCHESTRATOR_URL", reached_server=err.reached_server,
                ) from err
        return client

    def close(self) -> None:
        """Close the connection's pooled sockets (the Client is not usable afterwards)."""
        self.connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self) -> wt.HealthResponse:
        """The service's liveness answer (``GET /healthz``)."""
        return wt.from_json(self.connection.request("GET", "/healthz", timeout=min(5.0, self.connection.timeout)), wt.HealthResponse)

    def ready(self) -> wt.ReadyResponse:
        """The service's readiness answer with its statistics (``GET /readyz``)."""
        return wt.from_json(self.connection.request("GET", "/readyz"), wt.ReadyResponse)

    def list_namespaces(self) -> List[wt.Namespace]:
        """The service's namespaces."""
        return [wt.from_json(n, wt.Namespace) for n in self.connection.request("GET", "/api/v1/namespaces")]

    def create_namespace(self, name: str) -> wt.Namespace:
        """Create a namespace; AlreadyExistsError if it exists."""
        _check_id(name, "namespace name")
        return wt.from_json(self.connection.request("POST", "/api/v1/namespaces", body={"name": name}, idempotent=False), wt.Namespace)

    def compact(self, *, retention: Union[timedelta, float] = 0) -> wt.CompactResponse:
        """Drop finished runs, task events and history older than ``retention`` (a timedelta or seconds) from the service's store."""
        seconds = (duration_ms(retention, "retention") or 0) // 1000
        data = self.connection.request("POST", "/api/v1/admin/compact", body={"retention_seconds": seconds}, idempotent=True)
        return wt.from_json(data, wt.CompactResponse)

    # workflow shortcuts, Temporal-style
    def start_workflow(self, workflow: Any, *args: Any, **options: Any) -> WorkflowHandle[Any]:
        """Start a workflow (a ``@workflow.defn`` class, its run method, or its name) with ``args``; return its handle. Options: ``id``, ``task_queue``, ``id_reuse_policy``, ``run_timeout``, ``retry_policy``, ``memo``, ``search_attributes`` and the async SDK's spellings (see ``WorkflowClient.start``)."""
        return self.workflow.start(workflow, *args, **options)

    def execute_workflow(self, workflow: Any, *args: Any, timeout: Optional[float] = None, **options: Any) -> Any:
        """Start a workflow and block until it finishes; return its result (``timeout``: seconds to wait). Options as for :meth:`start_workflow`."""
        return self.workflow.execute(workflow, *args, timeout=timeout, **options)

    def get_workflow_handle(self, id: Optional[str] = None, *, run_id: Optional[str] = None,
                            first_execution_run_id: Optional[str] = None, result_type: Optional[Any] = None,
                            workflow_id: Optional[str] = None, workflow_type: Optional[str] = None) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (see ``WorkflowClient.get_handle``)."""
        return self.workflow.get_handle(id, run_id=run_id, first_execution_run_id=first_execution_run_id,
                                        result_type=result_type, workflow_id=workflow_id, workflow_type=workflow_type)

    def list_workflows(self, **filters: Any) -> Iterator[wt.WorkflowExecution]:
        """Runs matching the filters (``workflow_type``, ``state``, ``task_queue``, ``query``, ...), newest first, fetched page by page."""
        return self.workflow.list(**filters)

    def count_workflows(self, **filters: Any) -> int:
        """How many runs match the filters (as for :meth:`list_workflows`)."""
        return self.workflow.count(**filters)
