"""WorkflowHandle and WorkflowUpdateHandle: blocking references to runs and their updates."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Dict, Generic, Iterator, List, Optional, Sequence, TypeVar, Union

from . import types as wt
from ._encoding import _UNSET, decode_value, encode_args, handler_result_type, name_of
from ._compat import either
from ._subclient import LONG_POLL, _check_id, long_poll
from .connection import Connection
from .connection import quote_segment as _q
from .interceptor import QueryWorkflowInput, SignalWorkflowInput, StartWorkflowUpdateInput, through_client
from .errors import (
    ApplicationFailure,
    NotFoundError,
    TimeoutFailure,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    failure_from_info,
)

from .history import WorkflowHistory
from .inspection import WorkflowDescription, classify_failure
from .inspection import pending_activities as list_pending_activities
from .task_client import TaskClient

if TYPE_CHECKING:
    from .client import Client


def _connection_of(client: Union["Client", Connection, None], connection: Optional[Connection]) -> Connection:
    """The connection a handle talks through: a Client's, or one given (positionally or as ``connection=``)."""
    given = [c for c in (client, connection) if c is not None]
    if len(given) != 1:
        raise TypeError("a handle takes a Client or a Connection (connection=), one of them")
    found = given[0]
    return found if isinstance(found, Connection) else found.connection


R = TypeVar("R")
T = TypeVar("T")


class WorkflowHandle(Generic[R]):
    """A durable reference to a workflow (and, when pinned, to one of its runs)."""

    def __init__(
        self,
        client: Union["Client", Connection, None] = None,
        id: Optional[str] = None,
        *,
        run_id: Optional[str] = None,
        result_run_id: Optional[str] = None,
        first_execution_run_id: Optional[str] = None,
        result_type: Optional[Any] = None,
        workflow_type: Optional[str] = None,
        task_id: Optional[str] = None,
        connection: Optional[Connection] = None,
        workflow_id: Optional[str] = None,
    ) -> None:
        """Usually made by the client (``start_workflow``, ``get_workflow_handle``). Made directly, it takes
        a Client or a Connection and the workflow id; ``connection=`` and ``workflow_id=`` are the async
        SDK's spellings (its handle is a dataclass of those)."""
        self._conn: Connection = _connection_of(client, connection)
        id = either("id", id, "workflow_id", workflow_id)
        if not isinstance(id, str) or not id.strip():
            raise ValueError("workflow id must be a non-empty string")
        self._tasks = TaskClient(connection=self._conn)
        self._workflow_type = workflow_type
        self._task_id = task_id
        self._id = id
        self._run_id = run_id
        self._result_run_id = result_run_id or run_id
        self._first_execution_run_id = first_execution_run_id
        self._result_type = result_type
        self._described: Optional[WorkflowDescription] = None

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def workflow_id(self) -> str:
        """The workflow's id (the async SDK's name for ``id``)."""
        return self._id

    @property
    def workflow_type(self) -> Optional[str]:
        """The workflow's type, when the handle was made knowing it (a start does)."""
        return self._workflow_type

    @property
    def task_id(self) -> Optional[str]:
        """The id of the workflow task that drives the run, when the handle was made by a start."""
        return self._task_id

    @property
    def run_id(self) -> Optional[str]:
        """Pins signals, queries and updates to this run (set only by get_workflow_handle)."""
        return self._run_id

    @property
    def result_run_id(self) -> Optional[str]:
        """The run result() starts from."""
        return self._result_run_id

    @property
    def first_execution_run_id(self) -> Optional[str]:
        """The run cancel() and terminate() aim at when run_id is not set."""
        return self._first_execution_run_id

    def __repr__(self) -> str:
        return f"WorkflowHandle(id={self._id!r}, run_id={self._run_id!r}, result_run_id={self._result_run_id!r})"

    @property
    def _target(self) -> str:
        return self._run_id or self._id

    # ------------------------------------------------------------------ reading

    def describe(self, *, pending_activities: bool = True, rpc_timeout: Optional[float] = None) -> WorkflowDescription:
        """The run, and (while it runs) its pending activities: type, attempt, state, last
        heartbeat and its details, the previous attempt's failure, the next retry's time."""
        data = self._conn.request("GET", f"/api/v1/workflows/{_q(self._target)}", timeout=rpc_timeout)
        described = wt.from_json(data, WorkflowDescription)
        if pending_activities and described.state == "running":
            described.pending_activities = list_pending_activities(self._conn.request, described.run_id)
        self._described = described
        return described

    def _info(self) -> wt.WorkflowExecution:
        return self._described or self.describe(pending_activities=False)

    def result(
        self,
        *,
        follow_runs: bool = True,
        timeout: Optional[float] = None,
        rpc_timeout: Optional[float] = None,
        poll_interval: Optional[float] = None,
    ) -> R:
        """Block until the run finishes and return its value.

        Raises WorkflowFailureError (its ``status`` says failed, cancelled, terminated or
        timed_out, its ``cause`` why) and TimeoutFailure when ``timeout`` runs out first.
        ``poll_interval`` (the async SDK's) is accepted and not needed: the service holds the
        request open until the run ends.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        target = self._result_run_id or self._id
        while True:
            run = long_poll(
                lambda wait: wt.from_json(
                    self._conn.request(
                        "GET",
                        f"/api/v1/workflows/{_q(target)}",
                        params={"wait_seconds": wait},
                        timeout=wait + (rpc_timeout or self._conn.timeout),
                    ),
                    wt.WorkflowExecution,
                ),
                lambda run: run.state != "running",
                deadline,
                lambda: TimeoutFailure(f"workflow {self._id} did not finish within {timeout} s"),
            )
            if run.state == "succeeded":
                return decode_value(  # type: ignore[no-any-return]
                    run.result.value if run.result else None,
                    self._result_type,
                    self._conn.data_converter,
                    f"workflow {self._id} result",
                )
            next_run = self._next_run(run) if follow_runs and (run.state == "continued_as_new" or run.retry) else None
            if next_run and next_run != run.run_id:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutFailure(f"workflow {self._id} did not finish within {timeout} s")
                target = next_run
                continue
            if run.state == "continued_as_new":
                raise WorkflowFailureError(run.id, run.run_id, run.task_id, "continued_as_new", "continued as new", None)
            status, cause = classify_failure(run, self._conn.request)
            error = WorkflowFailureError(run.id, run.run_id, run.task_id, status, str(cause), cause)
            error.stack_trace = run.result.stderr if run.result else None
            raise error

    def _next_run(self, run: wt.WorkflowExecution) -> Optional[str]:
        events = self._conn.request("GET", f"/api/v1/workflows/{_q(run.run_id)}/history")
        for event in reversed(events):
            next_run = (event.get("attributes") or {}).get("next_run_id")
            if next_run:
                return str(next_run)
        return None

    def result_sync(self, *, timeout: Optional[float] = None, poll_interval: Optional[float] = None) -> R:
        """The async SDK's blocking spelling of [`result()`][postgrip_agent.handle.WorkflowHandle.result]."""
        return self.result(timeout=timeout)

    def describe_sync(self) -> WorkflowDescription:
        """The async SDK's blocking spelling of [`describe()`][postgrip_agent.handle.WorkflowHandle.describe]."""
        return self.describe()

    def history(self) -> List[Dict[str, Any]]:
        """The run's history as the service writes it (JSON objects, oldest first), as the async
        SDK returns it; [`fetch_history()`][postgrip_agent.handle.WorkflowHandle.fetch_history] gives typed events."""
        return [wt.to_json(event) for event in self.fetch_history_events()]

    def history_sync(self) -> List[Dict[str, Any]]:
        """The async SDK's blocking spelling of [`history()`][postgrip_agent.handle.WorkflowHandle.history]."""
        return self.history()

    def events(self) -> List[Dict[str, Any]]:
        """The task events of the run's workflow task (JSON objects), as the async SDK returns them;
        [`watch_events()`][postgrip_agent.handle.WorkflowHandle.watch_events] follows the run's activities too."""
        task_id = self.task_id or self.describe(pending_activities=False).task_id
        return list(self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}/events"))

    def fetch_history(self, *, rpc_timeout: Optional[float] = None) -> WorkflowHistory:
        """The run's history (the pinned run's, else the latest run's), with its run id, ready to
        save (``.to_json()``) and replay (``postgrip_agent.replayer.Replayer``)."""
        run_id = self._run_id  # unpinned: the latest run, whose history the workflow id reads
        if run_id is None:
            run_id = self._conn.request("GET", f"/api/v1/workflows/{_q(self._id)}")["run_id"]
        events = list(self.fetch_history_events(rpc_timeout=rpc_timeout))
        return WorkflowHistory(self._id, events, run_id)

    def fetch_history_events(
        self, *, page_size: Optional[int] = None, wait_new_event: bool = False, rpc_timeout: Optional[float] = None
    ) -> Iterator[wt.WorkflowHistoryEvent]:
        """Lazily iterate the history; with ``wait_new_event``, keep following until the run ends.

        ``page_size`` is accepted for compatibility; the local service answers whole histories.
        """
        target = self._run_id or self._id
        after = 0
        while True:
            params = {"after": after}
            if wait_new_event:
                params["wait_seconds"] = int(LONG_POLL)
            events = self._conn.request(
                "GET",
                f"/api/v1/workflows/{_q(target)}/history",
                params=params,
                timeout=(LONG_POLL if wait_new_event else 0) + (rpc_timeout or self._conn.timeout),
            )
            for raw in events:
                after = max(after, int(raw["id"])) if str(raw.get("id", "")).isdigit() else after
                yield wt.from_json(raw, wt.WorkflowHistoryEvent)
            if not wait_new_event:
                return
            if not events:
                run = self._conn.request("GET", f"/api/v1/workflows/{_q(target)}")
                if run["state"] != "running":
                    return

    def watch_events(self, *, timeout: Optional[float] = None, poll_interval: Optional[float] = None) -> Iterator[wt.TaskEvent]:
        """Task events of the run (its workflow task and activities) as they happen (``poll_interval``,
        the async SDK's, is accepted; the service wakes the watch when something happens)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        run = self.describe()
        tasks: List[str] = [run.task_id]
        seen: Dict[str, int] = {}
        history_after = 0

        def new_events() -> Iterator[wt.TaskEvent]:
            for task_id in list(tasks):
                for raw in self._conn.request(
                    "GET", f"/api/v1/tasks/{_q(task_id)}/events", params={"after": seen.get(task_id, 0)}
                ):
                    seen[task_id] = max(seen.get(task_id, 0), int(raw["id"]))
                    yield wt.from_json(raw, wt.TaskEvent)

        while True:
            yield from new_events()
            if deadline is not None and time.monotonic() >= deadline:
                return
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            new = self._conn.request(
                "GET",
                f"/api/v1/workflows/{_q(run.run_id)}/history",
                params={"after": history_after, "wait_seconds": wait},
                timeout=wait + self._conn.timeout,
            )
            for raw in new:
                history_after = max(history_after, int(raw["id"]))
                if raw["type"] == "ActivityTaskScheduled" and raw.get("task_id"):
                    tasks.append(raw["task_id"])
            if not new and self._conn.request("GET", f"/api/v1/workflows/{_q(run.run_id)}")["state"] != "running":
                yield from new_events()  # drain what the last moments wrote
                return

    # ------------------------------------------------------------------ steering

    def signal(
        self,
        name: Any = _UNSET,
        *arg_list: Any,
        args: Sequence[Any] = (),
        signal: Any = _UNSET,
        rpc_timeout: Optional[float] = None,
    ) -> None:
        """Send a signal. ``name`` is its name, a definition or a typed reference
        (``MyWorkflow.on_approve``); the arguments follow it (``handle.signal("approve", a, b)``,
        as in the async SDK) or come as ``args=[...]`` (Temporal). ``signal=`` is Temporal's
        keyword for ``name``."""
        target = _one_of(name, "name", signal, "signal", "signal")
        signal_name = name_of(target, "signal")
        what = f"signal {signal_name!r}"

        def send(input: SignalWorkflowInput) -> None:
            body: Dict[str, Any] = {
                "name": input.signal,
                "args": encode_args(input.args, f"{what} argument", self._conn.data_converter),
            }
            if input.headers:
                body["headers"] = dict(input.headers)  # the service's headers extension
            self._conn.request(
                "POST", f"/api/v1/workflows/{_q(self._target)}/signal", body=body, idempotent=False, timeout=rpc_timeout
            )

        through_client(
            self._conn.interceptors,
            "signal_workflow",
            SignalWorkflowInput(self._id, self._run_id, signal_name, list(_call_args(arg_list, args, what)), {}),
            send,
        )

    def signal_sync(self, name: Any = _UNSET, *arg_list: Any, args: Sequence[Any] = (), signal: Any = _UNSET) -> None:
        """The async SDK's blocking spelling of [`signal()`][postgrip_agent.handle.WorkflowHandle.signal]."""
        self.signal(name, *arg_list, args=args, signal=signal)

    def query(
        self,
        name: Any = _UNSET,
        *arg_list: Any,
        args: Sequence[Any] = (),
        result_type: Optional[Any] = None,
        timeout: Optional[float] = None,
        query: Any = _UNSET,
    ) -> Any:
        """Ask the run a question its query handler answers (arguments as for [`signal()`][postgrip_agent.handle.WorkflowHandle.signal]); a typed
        reference's return annotation decodes the answer unless ``result_type`` is given."""
        target = _one_of(name, "name", query, "query", "query")
        query_name = name_of(target, "query")
        what = f"query {query_name!r}"

        def ask(input: QueryWorkflowInput) -> Any:
            info = self._info()
            payload: Dict[str, Any] = {
                "workflowId": self._id,
                "workflowType": info.type,
                "queryName": input.query,
                "args": encode_args(input.args, f"{what} argument", self._conn.data_converter),
            }
            if self._run_id:
                payload["workflowRunId"] = self._run_id
            if input.headers:
                payload["headers"] = dict(input.headers)
            task = self._tasks.enqueue(f"query:{info.type}", payload=payload, queue=info.queue, namespace=info.namespace)
            done = self._tasks.wait(task.id, timeout=timeout)
            if done.state == "failed":
                failure = done.result.failure if done.result else None
                cause = failure_from_info(wt.to_json(failure) if failure else None, done.error or "query failed")
                raise WorkflowQueryFailedError(f"query {query_name!r} on workflow {self._id} failed: {cause.message}", cause)
            return decode_value(
                done.result.value if done.result else None, input.result_type, self._conn.data_converter, f"{what} result"
            )

        question = QueryWorkflowInput(
            self._id,
            self._run_id,
            query_name,
            list(_call_args(arg_list, args, what)),
            {},
            result_type or handler_result_type(target),
        )
        return through_client(self._conn.interceptors, "query_workflow", question, ask)

    def start_update(
        self,
        name: Any = _UNSET,
        *arg_list: Any,
        args: Sequence[Any] = (),
        id: Optional[str] = None,
        result_type: Optional[Any] = None,
        wait_for_stage: Any = None,
        update: Any = _UNSET,
    ) -> "WorkflowUpdateHandle[Any]":
        """Send an update (arguments as for [`signal()`][postgrip_agent.handle.WorkflowHandle.signal]) and return a handle to its outcome."""
        target = _one_of(name, "name", update, "update", "update")
        update_name = name_of(target, "update")
        what = f"update {update_name!r}"

        def send(input: StartWorkflowUpdateInput) -> "WorkflowUpdateHandle[Any]":
            update_id = input.update_id or str(uuid.uuid4())
            info = self._info()
            payload: Dict[str, Any] = {
                "workflowId": self._id,
                "workflowType": info.type,
                "updateName": input.update,
                "updateId": update_id,
                "args": encode_args(input.args, f"{what} argument", self._conn.data_converter),
            }
            if self._run_id:
                payload["workflowRunId"] = self._run_id
            if input.headers:
                payload["headers"] = dict(input.headers)
            task = self._tasks.enqueue(f"update:{info.type}", payload=payload, queue=info.queue, namespace=info.namespace)
            return WorkflowUpdateHandle(
                self._conn,
                update_id,
                self._id,
                workflow_run_id=self._run_id,
                result_type=input.result_type,
                task_id=task.id,
                name=input.update,
            )

        start = StartWorkflowUpdateInput(
            self._id,
            self._run_id,
            update_name,
            list(_call_args(arg_list, args, what)),
            {},
            id,
            result_type or handler_result_type(target),
        )
        return through_client(self._conn.interceptors, "start_workflow_update", start, send)  # type: ignore[no-any-return]

    def execute_update(
        self,
        name: Any = _UNSET,
        *arg_list: Any,
        args: Sequence[Any] = (),
        id: Optional[str] = None,
        result_type: Optional[Any] = None,
        timeout: Optional[float] = None,
        update: Any = _UNSET,
    ) -> Any:
        """[`start_update()`][postgrip_agent.handle.WorkflowHandle.start_update], then wait for its result."""
        handle = self.start_update(name, *arg_list, args=args, id=id, result_type=result_type, update=update)
        return handle.result(timeout=timeout)

    def get_update_handle(
        self, id: str, *, workflow_run_id: Optional[str] = None, result_type: Optional[Any] = None
    ) -> "WorkflowUpdateHandle[Any]":
        """A handle to an update already started (by its id), to wait for its result."""
        return WorkflowUpdateHandle(
            self._conn, id, self._id, workflow_run_id=workflow_run_id or self._run_id, result_type=result_type
        )

    def get_update_handle_for(
        self, update: Any, id: str, *, workflow_run_id: Optional[str] = None
    ) -> "WorkflowUpdateHandle[Any]":
        """As [`get_update_handle()`][postgrip_agent.handle.WorkflowHandle.get_update_handle], with the result decoded into the update method's return annotation."""
        handle = self.get_update_handle(id, workflow_run_id=workflow_run_id)
        handle.name = name_of(update, "update")
        return handle

    def cancel(self, reason: Optional[str] = None, *, rpc_timeout: Optional[float] = None) -> None:
        """Ask the run to cancel: its pending work fails with CancelledFailure and the workflow decides what to do (clean up, then end cancelled). ``reason`` is recorded in history."""
        body = {"reason": reason} if reason else {}
        self._conn.request(
            "POST", f"/api/v1/workflows/{_q(self._run_id or self._id)}/cancel", body=body, idempotent=True, timeout=rpc_timeout
        )

    def terminate(self, *args: Any, reason: Optional[str] = None, rpc_timeout: Optional[float] = None) -> None:
        """End the run now, without cleanup. ``terminate("why")`` (the async SDK) and
        ``terminate(reason="why")`` (Temporal) both record the reason."""
        if args:
            if reason is not None or len(args) > 1 or not isinstance(args[0], str):
                raise TypeError("terminate() takes the reason as one string: terminate('why') or terminate(reason='why')")
            reason = args[0]
        body = {"reason": reason} if reason else {}
        self._conn.request(
            "POST",
            f"/api/v1/workflows/{_q(self._run_id or self._id)}/terminate",
            body=body,
            idempotent=False,
            timeout=rpc_timeout,
        )


class WorkflowUpdateHandle(Generic[R]):
    """A reference to one update of a workflow; ``result()`` waits for its outcome."""

    def __init__(
        self,
        client: Union["Client", Connection, None] = None,
        id: Optional[str] = None,
        workflow_id: Optional[str] = None,
        *,
        workflow_run_id: Optional[str] = None,
        result_type: Optional[Any] = None,
        task_id: Optional[str] = None,
        name: Optional[str] = None,
        connection: Optional[Connection] = None,
        update_id: Optional[str] = None,
    ) -> None:
        """Usually made by ``WorkflowHandle.start_update``/``get_update_handle``. Made directly, it takes a
        Client or a Connection, the update's id and its workflow's id; ``connection=`` and ``update_id=``
        are the async SDK's spellings. The async SDK's handle knows the update by the task that carries
        it: given only ``update_id=`` (a task id there), ours waits for that task."""
        self._conn: Connection = _connection_of(client, connection)
        self._tasks = TaskClient(connection=self._conn)
        self.id: str = either("id", id, "update_id", update_id)
        _check_id(self.id, "update id")
        if self.id is None:
            raise ValueError("an update handle needs the update's id (id= or update_id=)")
        self.workflow_id = workflow_id
        self.workflow_run_id = workflow_run_id
        self.result_type = result_type
        self.task_id = task_id if task_id is not None or workflow_id is not None else self.id
        self.name = name

    def __repr__(self) -> str:
        return f"WorkflowUpdateHandle(id={self.id!r}, workflow_id={self.workflow_id!r})"

    def _find_task(self) -> Optional[str]:
        run = wt.from_json(
            self._conn.request("GET", f"/api/v1/workflows/{_q(self.workflow_run_id or self.workflow_id)}"), wt.WorkflowExecution
        )
        for task in self._tasks.list(type=f"update:{run.type}", namespace=run.namespace, queue=run.queue):
            if (task.payload or {}).get("updateId") == self.id and (task.payload or {}).get("workflowId") == self.workflow_id:
                return task.id
        return None

    @property
    def update_id(self) -> str:
        """The async SDK's name for [`id`][postgrip_agent.handle.WorkflowHandle.id]."""
        return self.id

    def events(self) -> List[Dict[str, Any]]:
        """The task events of the update's task (JSON objects)."""
        task_id = self._task_id()
        return list(self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}/events"))

    def watch_events(self, *, timeout: Optional[float] = None, poll_interval: Optional[float] = None) -> Iterator[wt.TaskEvent]:
        """The update task's events as they happen, until it ends (or ``timeout`` passes)."""
        return self._tasks.watch_events(self._task_id(), timeout=timeout)

    def _task_id(self) -> str:
        task_id = self.task_id or self._find_task()
        if task_id is None:
            raise NotFoundError(f"update {self.id} of workflow {self.workflow_id} not found", status=404, code="not_found")
        self.task_id = task_id
        return task_id

    def result(self, *, timeout: Optional[float] = None, poll_interval: Optional[float] = None) -> R:
        """Wait for the update's outcome (``poll_interval``, the async SDK's, is accepted and not needed)."""
        task_id = self._task_id()
        done = self._tasks.wait(task_id, timeout=timeout)
        if done.state == "failed":
            failure = done.result.failure if done.result else None
            cause: ApplicationFailure = failure_from_info(wt.to_json(failure) if failure else None, done.error or "update failed")
            raise WorkflowUpdateFailedError(
                f"update {self.name or self.id!r} on workflow {self.workflow_id} failed: {cause.message}", cause
            )
        return decode_value(  # type: ignore[no-any-return]
            done.result.value if done.result else None, self.result_type, self._conn.data_converter, "update result"
        )


def _one_of(value: Any, name: str, alias: Any, alias_name: str, kind: str) -> Any:
    """The one of two spellings of the same parameter that was given."""
    if value is not _UNSET and alias is not _UNSET:
        raise TypeError(f"pass the {kind} as {name} or as {alias_name}, not both")
    if value is _UNSET and alias is _UNSET:
        raise TypeError(f"which {kind}? pass its name, definition or method as the first argument")
    return alias if value is _UNSET else value


def _call_args(positional: Sequence[Any], args: Sequence[Any], what: str) -> List[Any]:
    """Arguments given after the name, or as ``args=[...]`` (Temporal's keyword)."""
    if positional and args:
        raise TypeError(f"{what}: pass the arguments after the name or as args=[...], not both")
    return list(positional or args)
