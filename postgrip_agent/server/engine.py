"""The service's state machine: what each call does to tasks, workflow runs and history.

One lock serialises every operation, and each operation is one store transaction.
Long-polls wait on condition variables that share that lock, so a poller wakes the
moment a task is queued for its queue. Time belongs to the ticker thread (timers,
``not_before``, lease expiry, run timeouts, schedules), which reads an injected clock.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attrs

from .. import types as wt
from .clock import Clock
from .errors import AlreadyExists, BadRequest, Conflict, NotFound, Unauthorized
from .retry import retry_delay
from .store import (
    HistoryRecord,
    NamespaceRecord,
    Page,
    RunRecord,
    SessionRecord,
    Store,
    TaskEventRecord,
    TaskRecord,
)
from .wire import ts

log = logging.getLogger("postgrip_agent.server.engine")

DEFAULT_LEASE_SECONDS = 30
MAX_WAIT_SECONDS = 60
ACCESS_TOKEN_TTL = 900.0
REFRESH_TOKEN_TTL = 30 * 86400.0
OPEN_STATES = ("queued", "leased", "blocked")


class _Waiters:
    """Condition variables keyed by run or task id, so a change wakes only its own waiters."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._conditions: Dict[str, Tuple[threading.Condition, List[int]]] = {}

    def wait(self, key: str, timeout: float) -> None:
        entry = self._conditions.get(key)
        if entry is None:
            entry = self._conditions[key] = (threading.Condition(self._lock), [0])
        entry[1][0] += 1
        try:
            entry[0].wait(timeout)
        finally:
            entry[1][0] -= 1
            if entry[1][0] == 0:
                self._conditions.pop(key, None)

    def notify(self, key: str) -> None:
        entry = self._conditions.get(key)
        if entry is not None:
            entry[0].notify_all()

    def notify_everyone(self) -> None:
        for condition, _ in self._conditions.values():
            condition.notify_all()


def _payload(data: Any, cls: Any, what: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(f"{what} payload must be a JSON object")
    try:
        return wt.from_json(data, cls)
    except Exception as err:  # cattrs raises several exception types
        raise BadRequest(f"invalid {what} payload: {wt.describe_structure_error(err).replace('body', 'payload')}") from None


class Engine:
    def __init__(
        self,
        store: Store,
        clock: Optional[Clock] = None,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        auth_token: Optional[str] = None,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.new_id = new_id
        self.auth_token = auth_token
        self._lock = threading.RLock()
        self._queue_cvs: Dict[Tuple[str, str], threading.Condition] = {}
        self._run_waiters = _Waiters(self._lock)  # keyed by run id: state or history changed
        self._task_waiters = _Waiters(self._lock)  # keyed by task id: state changed or event written
        self._ticker_wake = threading.Event()
        self._ticker_next: Optional[float] = None
        self._stopping = False
        self.clock.subscribe(self._ticker_wake)
        self.on_tick: List[Callable[[float], None]] = []
        with self._lock, self.store.transaction():
            if self.store.get_namespace("default") is None:
                now = self.clock.now()
                self.store.insert_namespace(NamespaceRecord("default", now, now))

    # ================================================================== plumbing

    def _queue_cv(self, namespace: str, queue: str) -> threading.Condition:
        key = (namespace, queue)
        cv = self._queue_cvs.get(key)
        if cv is None:
            cv = self._queue_cvs[key] = threading.Condition(self._lock)
        return cv

    def _task_available(self, task: TaskRecord) -> None:
        # every poller of the queue: they may filter on different task types
        self._queue_cv(task.namespace, task.queue).notify_all()

    def _deadline_added(self, when: Optional[float]) -> None:
        if when is not None and (self._ticker_next is None or when < self._ticker_next):
            self._ticker_next = when
            self._ticker_wake.set()

    def _ensure_namespace(self, name: str, now: float) -> None:
        if self.store.get_namespace(name) is None:
            self.store.insert_namespace(NamespaceRecord(name, now, now))

    def _task(self, task_id: str) -> TaskRecord:
        task = self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        return task

    def _run(self, workflow_id: str) -> RunRecord:
        """A run by run id, else the latest run of a workflow id."""
        run = self.store.get_run(workflow_id) or self.store.latest_run(workflow_id)
        if run is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return run

    def _running_run(self, workflow_id: str, what: str) -> RunRecord:
        run = self._run(workflow_id)
        if run.state != "running":
            raise Conflict(
                f"cannot {what} workflow {run.id} (run {run.run_id}): it is not running (state {run.state})"
            )
        return run

    def _history(self, run: RunRecord, type_: str, task_id: Optional[str], now: float, **attributes: Any) -> HistoryRecord:
        event = HistoryRecord(
            run_id=run.run_id,
            workflow_id=run.id,
            type=type_,
            created_at=now,
            task_id=task_id,
            # ``result`` stays even when None: agents read the outcome from the event itself
            attributes={k: v for k, v in attributes.items() if v is not None or k == "result"},
            tenant_id=run.tenant_id,
        )
        self.store.append_history(event)
        self._run_waiters.notify(run.run_id)
        return event

    def _task_event(self, task: TaskRecord, now: float, kind: str, agent_id: Optional[str] = None, **fields: Any) -> TaskEventRecord:
        event = TaskEventRecord(task_id=task.id, kind=kind, created_at=now, agent_id=agent_id, tenant_id=task.tenant_id, **fields)
        self.store.append_task_event(event)
        self._task_waiters.notify(task.id)
        return event

    def _save_task(self, task: TaskRecord, now: float) -> None:
        task.updated_at = now
        self.store.update_task(task)

    def _save_run(self, run: RunRecord, now: float) -> None:
        run.updated_at = now
        self.store.update_run(run)
        self._run_waiters.notify(run.run_id)

    # ================================================================== namespaces

    def list_namespaces(self) -> List[NamespaceRecord]:
        with self._lock:
            return self.store.list_namespaces()

    def create_namespace(self, req: wt.CreateNamespaceRequest) -> NamespaceRecord:
        name = req.name.strip()
        if not name or not all(c.isalnum() or c in "._-" for c in name):
            raise BadRequest("namespace name must be non-empty and use only letters, digits, '.', '_' or '-'")
        with self._lock, self.store.transaction():
            if self.store.get_namespace(name) is not None:
                raise AlreadyExists(f"namespace {name} already exists")
            now = self.clock.now()
            record = NamespaceRecord(name, now, now, tenant_id=req.tenant_id)
            self.store.insert_namespace(record)
            return record

    # ================================================================== tasks

    def enqueue(self, req: wt.EnqueueTaskRequest) -> TaskRecord:
        task_type = req.type.strip()
        if not task_type:
            raise BadRequest("type must not be empty (e.g. 'workflow:MyWorkflow' or 'activity:greet')")
        if req.lease_timeout_seconds is not None and req.lease_timeout_seconds < 0:
            raise BadRequest("lease_timeout_seconds must be >= 0")
        namespace = req.namespace or "default"
        queue = req.queue or "default"
        with self._lock, self.store.transaction():
            now = self.clock.now()
            self._ensure_namespace(namespace, now)
            task = TaskRecord(
                id=self.new_id(),
                namespace=namespace,
                queue=queue,
                type=task_type,
                state="queued",
                attempt=1,
                lease_timeout_seconds=req.lease_timeout_seconds or DEFAULT_LEASE_SECONDS,
                created_at=now,
                updated_at=now,
                payload=req.payload,
                tenant_id=req.tenant_id,
            )
            if task_type.startswith("workflow:"):
                task = self._enqueue_workflow(task, now)
            elif task_type.startswith("activity:"):
                self._enqueue_activity(task, now)
            elif task_type == "timer":
                self._enqueue_timer(task, now)
            elif task_type.startswith(("query:", "update:")):
                self._enqueue_workflow_request(task, now)
            else:
                self.store.insert_task(task)
            if task.state == "queued" and task.fire_at is None:
                self._task_available(task)
            return task

    def get_task(self, task_id: str) -> TaskRecord:
        with self._lock:
            return self._task(task_id)

    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        with self._lock:
            return self.store.list_tasks(filters, page)

    def task_events(self, task_id: str, after: int = 0, wait_seconds: float = 0) -> List[TaskEventRecord]:
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            self._task(task_id)
            while True:
                events = self.store.task_events(task_id, after)
                remaining = deadline - time.monotonic()
                if events or remaining <= 0 or self._stopping:
                    return events
                task = self._task(task_id)
                if task.state in wt.TERMINAL_TASK_STATES:
                    return events
                self._task_waiters.wait(task_id, remaining)

    def wait_task(self, task_id: str, wait_seconds: float) -> TaskRecord:
        """The task, once it is terminal or ``wait_seconds`` have passed."""
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            while True:
                task = self._task(task_id)
                remaining = deadline - time.monotonic()
                if task.state in wt.TERMINAL_TASK_STATES or remaining <= 0 or self._stopping:
                    return task
                self._task_waiters.wait(task_id, remaining)

    # ------------------------------------------------------------------ typed enqueues

    def _enqueue_workflow(self, task: TaskRecord, now: float) -> TaskRecord:
        payload: wt.WorkflowPayload = _payload(task.payload, wt.WorkflowPayload, "workflow")
        raw = dict(task.payload or {})
        workflow_type = payload.workflow_type or task.type[len("workflow:"):]
        if not workflow_type:
            raise BadRequest("workflow type missing: use type 'workflow:<Type>'")
        if payload.run_timeout_ms is not None and payload.run_timeout_ms < 0:
            raise BadRequest("runTimeoutMs must be >= 0")
        workflow_id = payload.workflow_id or task.id
        continued_from: Optional[RunRecord] = None
        if payload.continued_from_workflow_id:
            # the oldest running run of that id is the one continuing (its successor is newer)
            running = self.store.list_runs(
                {"id": payload.continued_from_workflow_id, "namespace": task.namespace, "state": "running"},
                Page(limit=1, order_by="seq"),
            )
            source = running[0] if running else None
            if source is not None:
                continued_from = source
                existing = self.store.list_runs({"continued_from_run_id": source.run_id}, Page(limit=1))
                if existing:  # a re-delivered workflow task continuing again: same next run
                    found = self.store.get_task(existing[0].task_id)
                    assert found is not None
                    return found
        latest = self.store.latest_run(workflow_id, task.namespace)
        if latest is not None:
            self._check_reuse(latest, payload.workflow_id_reuse_policy, continued_from)
        parent: Optional[RunRecord] = None
        if payload.parent_workflow_id or payload.parent_workflow_run_id:
            parent = self.store.get_run(payload.parent_workflow_run_id or "") or self.store.latest_run(
                payload.parent_workflow_id or "", task.namespace
            )
            if parent is None or parent.state != "running":
                raise Conflict(f"parent workflow {payload.parent_workflow_id} is not running")
        run_id = self.new_id()
        raw.update(workflowType=workflow_type, workflowId=workflow_id, runId=run_id, namespace=task.namespace)
        task.payload = raw
        self.store.insert_task(task)
        run = RunRecord(
            run_id=run_id,
            id=workflow_id,
            namespace=task.namespace,
            type=workflow_type,
            queue=task.queue,
            task_id=task.id,
            state="running",
            created_at=now,
            updated_at=now,
            tenant_id=task.tenant_id,
            run_timeout_ms=payload.run_timeout_ms or None,
            deadline=now + payload.run_timeout_ms / 1000.0 if payload.run_timeout_ms else None,
            retry=raw.get("retry"),
            memo=payload.memo,
            search_attributes=payload.search_attributes,
            continued_from_run_id=continued_from.run_id if continued_from else None,
        )
        if parent is not None:
            run.parent_id, run.parent_run_id = parent.id, parent.run_id
            run.parent_task_id = parent.task_id
            run.parent_cancellation_type = payload.parent_cancellation_type
        elif continued_from is not None and continued_from.parent_run_id:
            # the chain stays the parent's child: the last run reports back
            run.parent_id, run.parent_run_id = continued_from.parent_id, continued_from.parent_run_id
            run.parent_task_id = continued_from.parent_task_id
            run.parent_cancellation_type = continued_from.parent_cancellation_type
        self._insert_run(run, task, now, payload.args or [])
        if parent is not None:
            self._history(
                parent, "ChildWorkflowExecutionStarted", task.id, now,
                workflow_type=workflow_type, child_workflow_id=workflow_id, child_run_id=run_id,
            )
        return task

    def _insert_run(self, run: RunRecord, task: TaskRecord, now: float, args: List[Any]) -> None:
        task.run_id = run.run_id
        self.store.update_task(task)
        self.store.insert_run(run)
        self._deadline_added(run.deadline)
        self._history(
            run, "WorkflowExecutionStarted", task.id, now,
            workflow_type=run.type, args=args, parent_workflow_id=run.parent_id,
            continued_from_run_id=run.continued_from_run_id, attempt=run.attempt,
        )

    @staticmethod
    def _check_reuse(latest: RunRecord, policy: Optional[str], continued_from: Optional[RunRecord]) -> None:
        if latest.state == "running":
            if continued_from is not None and continued_from.run_id == latest.run_id:
                return
            raise AlreadyExists(f"workflow {latest.id} is already running (run {latest.run_id})")
        if policy == "reject_duplicate":
            raise AlreadyExists(
                f"workflow {latest.id} already ran (run {latest.run_id}, {latest.state}) and the reuse policy is reject_duplicate"
            )
        if policy == "allow_duplicate_failed_only" and latest.state in ("succeeded", "continued_as_new"):
            raise AlreadyExists(
                f"workflow {latest.id} already succeeded (run {latest.run_id}) and the reuse policy is allow_duplicate_failed_only"
            )

    def _owning_run(self, run_id: Optional[str], workflow_task_id: Optional[str], what: str) -> Optional[RunRecord]:
        run = None
        if run_id:
            run = self.store.get_run(run_id)
        elif workflow_task_id:
            owner = self.store.get_task(workflow_task_id)
            run = self.store.get_run(owner.run_id) if owner and owner.run_id else None
        else:
            return None
        if run is None:
            raise NotFound(f"{what}: workflow run {run_id or workflow_task_id} not found")
        if run.state != "running":
            raise Conflict(f"{what}: workflow {run.id} run {run.run_id} is not running (state {run.state})")
        return run

    def _enqueue_activity(self, task: TaskRecord, now: float) -> None:
        payload: wt.ActivityInvocationPayload = _payload(task.payload, wt.ActivityInvocationPayload, "activity")
        run = self._owning_run(payload.workflow_run_id, payload.workflow_task_id, "cannot schedule activity")
        task.attempt = payload.attempt or 1
        task.first_scheduled_at = now
        if run is not None:
            task.run_id = run.run_id
        self.store.insert_task(task)
        if run is not None:
            self._history(
                run, "ActivityTaskScheduled", task.id, now,
                activity_type=payload.activity_type or task.type[len("activity:"):],
                attempt=task.attempt, args=payload.args or [],
            )

    def _enqueue_timer(self, task: TaskRecord, now: float) -> None:
        payload: wt.TimerPayload = _payload(task.payload, wt.TimerPayload, "timer")
        if payload.duration_ms is None and payload.fire_at is None:
            raise BadRequest("timer payload needs durationMs (or fireAt)")
        if payload.duration_ms is not None and payload.duration_ms < 0:
            raise BadRequest("timer durationMs must be >= 0")
        run = self._owning_run(payload.workflow_run_id, payload.workflow_task_id, "cannot start timer")
        duration_ms = payload.duration_ms
        fire_at = now + duration_ms / 1000.0 if duration_ms is not None else payload.fire_at.timestamp()  # type: ignore[union-attr]
        if duration_ms is None:
            duration_ms = max(0, int(round((fire_at - now) * 1000)))
        task.fire_at = fire_at
        task.run_id = run.run_id if run else None
        self.store.insert_task(task)
        self._deadline_added(fire_at)
        if run is not None:
            self._history(
                run, "TimerStarted", task.id, now,
                timer_id=payload.timer_id or task.id, duration_ms=duration_ms, fire_at=ts(fire_at),
            )

    def _enqueue_workflow_request(self, task: TaskRecord, now: float) -> None:
        is_query = task.type.startswith("query:")
        cls = wt.WorkflowQueryPayload if is_query else wt.WorkflowUpdatePayload
        payload = _payload(task.payload, cls, "query" if is_query else "update")
        name = payload.query_name if is_query else payload.update_name
        if not name:
            raise BadRequest(f"{'queryName' if is_query else 'updateName'} must not be empty")
        run = self._run(payload.workflow_run_id or payload.workflow_id)
        if run.state != "running":
            raise Conflict(
                f"cannot {'query' if is_query else 'update'} {name!r} on workflow {run.id}: "
                f"run {run.run_id} is not running (state {run.state})"
            )
        raw = dict(task.payload)
        raw.setdefault("workflowType", run.type)
        raw.setdefault("workflowRunId", run.run_id)
        task.payload = raw
        task.run_id = run.run_id
        task.queue = run.queue if task.queue == "default" else task.queue
        self.store.insert_task(task)

    # ================================================================== agent lane

    def poll(
        self, namespace: str, queue: str, agent_id: str, wait_seconds: float, type_prefixes: Sequence[str],
        caller_alive: Callable[[], bool] = lambda: True,
    ) -> Optional[TaskRecord]:
        """Lease the next task, waiting up to ``wait_seconds`` for one. A caller that hung up
        while waiting gets nothing, so no task is leased to a connection nobody reads."""
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            cv = self._queue_cv(namespace, queue)
            while True:
                now = self.clock.now()
                task = self.store.next_available_task(namespace, queue, type_prefixes, now)
                if task is not None:
                    if not caller_alive():
                        return None
                    with self.store.transaction():
                        self._lease(task, agent_id, now)
                    return task
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return None
                cv.wait(remaining)

    def _lease(self, task: TaskRecord, agent_id: str, now: float) -> None:
        task.state = "leased"
        task.agent_id = agent_id
        task.leased_until = now + task.lease_timeout_seconds
        task.wake_pending = False
        self._save_task(task, now)
        self._deadline_added(task.leased_until)
        self._task_event(task, now, "leased", agent_id, message=f"leased by {agent_id}")
        if task.type.startswith("workflow:") and task.run_id:
            run = self.store.get_run(task.run_id)
            if run is not None and run.agent_id != agent_id:
                run.agent_id = agent_id
                self.store.update_run(run)

    def _leased_task(self, task_id: str, agent_id: Optional[str]) -> TaskRecord:
        task = self._task(task_id)
        if task.state in wt.TERMINAL_TASK_STATES:
            raise Conflict(f"task {task_id} is terminal ({task.state}{': ' + task.error if task.error else ''})")
        if task.state != "leased":
            raise Conflict(f"task {task_id} is not leased (state {task.state})")
        if agent_id and task.agent_id and agent_id != task.agent_id:
            raise Conflict(f"task {task_id} is not leased by agent {agent_id}")
        return task

    def heartbeat(self, task_id: str, agent_id: Optional[str], req: wt.HeartbeatTaskRequest) -> TaskRecord:
        with self._lock, self.store.transaction():
            task = self._leased_task(task_id, agent_id)
            if task.cancel_requested:
                raise Conflict(f"task {task_id} is terminal: cancellation requested")
            now = self.clock.now()
            lease = req.lease_timeout_seconds or task.lease_timeout_seconds
            task.leased_until = now + lease
            self._save_task(task, now)
            event = req.event or wt.TaskEventInput(kind="heartbeat")
            self._task_event(task, now, event.kind, agent_id or task.agent_id, **_event_fields(event))
            return task

    def append_event(self, task_id: str, agent_id: Optional[str], event: wt.TaskEventInput) -> TaskEventRecord:
        with self._lock, self.store.transaction():
            task = self._leased_task(task_id, agent_id)
            return self._task_event(task, self.clock.now(), event.kind, agent_id or task.agent_id, **_event_fields(event))

    def block(self, task_id: str, agent_id: Optional[str], reason: Optional[str]) -> TaskRecord:
        with self._lock, self.store.transaction():
            task = self._leased_task(task_id, agent_id)
            now = self.clock.now()
            task.leased_until = None
            if task.wake_pending:  # something happened while the agent was working: run again
                task.state, task.wake_pending, task.agent_id = "queued", False, None
                self._task_available(task)
            else:
                task.state = "blocked"
            task.error = None
            self._save_task(task, now)
            return task

    def _finishable_task(self, task_id: str, agent_id: Optional[str]) -> TaskRecord:
        """A leased task; or an update handed to its workflow (blocked), finished by whoever
        holds the lease of that workflow's task."""
        task = self._task(task_id)
        if task.type.startswith("update:") and task.state == "blocked" and task.run_id:
            run = self.store.get_run(task.run_id)
            owner = self.store.get_task(run.task_id) if run else None
            if owner is None or owner.state != "leased" or (agent_id and owner.agent_id != agent_id):
                raise Conflict(f"task {task_id} is not leased: its workflow task is not leased by agent {agent_id}")
            return task
        return self._leased_task(task_id, agent_id)

    def complete(self, task_id: str, agent_id: Optional[str], result: wt.TaskResult) -> TaskRecord:
        with self._lock, self.store.transaction():
            task = self._finishable_task(task_id, agent_id)
            in_workflow = task.state == "blocked"
            now = self.clock.now()
            result_json = wt.to_json(result)
            if task.type.startswith("workflow:") and task.run_id:
                self._complete_workflow_task(task, result, result_json, now)
            else:
                self._finish_task(task, "succeeded", now, result=result_json)
                run = self._open_run(task.run_id)
                if run is not None and task.type.startswith("activity:"):
                    self._history(run, "ActivityTaskCompleted", task.id, now, result=result.value)
                    self._wake(run, now)
                elif run is not None and task.type.startswith("update:"):
                    payload = task.payload or {}
                    self._history(
                        run, "WorkflowUpdateCompleted", task.id, now,
                        update_name=payload.get("updateName"), args=payload.get("args") or [],
                        result=result.value, update_id=payload.get("updateId") or task.id,
                        in_workflow=True if in_workflow else None,
                    )
                    if not in_workflow:  # applied inside the workflow already: nothing new to see
                        self._wake(run, now)
            return task

    def fail(self, task_id: str, agent_id: Optional[str], req: wt.FailTaskRequest) -> TaskRecord:
        with self._lock, self.store.transaction():
            task = self._finishable_task(task_id, agent_id)
            now = self.clock.now()
            result_json = wt.to_json(req.result) if req.result is not None else None
            failure = (result_json or {}).get("failure") or {"message": req.error}
            run = self._open_run(task.run_id)
            if task.type.startswith("workflow:") and run is not None and run.task_id == task.id:
                self._fail_workflow_task(task, run, req.error, failure, result_json, now)
            elif task.type.startswith("activity:") and run is not None:
                self._fail_activity(task, run, req.error, failure, result_json, now)
            else:
                self._finish_task(task, "failed", now, result=result_json, error=req.error)
            return task

    def _finish_task(self, task: TaskRecord, state: str, now: float, *, result: Any = None, error: Optional[str] = None) -> None:
        task.state = state
        task.leased_until = None
        task.result = result if result is not None else task.result
        task.error = error
        self._save_task(task, now)
        self._task_waiters.notify(task.id)

    def _open_run(self, run_id: Optional[str]) -> Optional[RunRecord]:
        run = self.store.get_run(run_id) if run_id else None
        return run if run is not None and run.state == "running" else None

    def _wake(self, run: RunRecord, now: float) -> None:
        """Something happened the run must see: have its workflow task run again."""
        task = self.store.get_task(run.task_id)
        if task is None:
            return
        if task.state == "blocked":
            task.state, task.agent_id = "queued", None
            self._save_task(task, now)
            self._task_available(task)
        elif task.state == "leased" and not task.wake_pending:
            task.wake_pending = True
            self._save_task(task, now)

    # ------------------------------------------------------------------ activity failure and retry

    def _fail_activity(self, task: TaskRecord, run: RunRecord, error: str, failure: Dict[str, Any], result: Any, now: float) -> None:
        payload = dict(task.payload or {})
        if task.cancel_requested:
            self._finish_task(task, "failed", now, result=result, error=f"cancelled: {error}")
            self._history(run, "ActivityTaskCanceled", task.id, now, reason=run_cancel_reason(self.store, run))
            self._wake(run, now)
            return
        attempt = int(payload.get("attempt") or task.attempt or 1)
        delay = retry_delay(payload.get("retry"), attempt, failure, task.first_scheduled_at or task.created_at, now)
        self._finish_task(task, "failed", now, result=result, error=error)
        if delay is None:
            self._history(run, "ActivityTaskFailed", task.id, now, error=error, failure=failure)
            self._wake(run, now)
            return
        payload["attempt"] = attempt + 1
        retry = attrs.evolve(
            task, id=self.new_id(), state="queued", attempt=attempt + 1, agent_id=None,
            leased_until=None, result=None, error=None, payload=payload, created_at=now,
            updated_at=now, not_before=now + delay, wake_pending=False, cancel_requested=False,
        )
        self.store.insert_task(retry)
        self._deadline_added(retry.not_before)
        self._history(
            run, "ActivityTaskRetryScheduled", retry.id, now,
            previous_task=task.id, attempt=retry.attempt, not_before=ts(now + delay),
        )
        self._history(
            run, "ActivityTaskScheduled", retry.id, now,
            activity_type=payload.get("activityType") or task.type[len("activity:"):],
            attempt=retry.attempt, args=payload.get("args") or [],
        )

    # ------------------------------------------------------------------ workflow task outcomes

    def _complete_workflow_task(self, task: TaskRecord, result: wt.TaskResult, result_json: Dict[str, Any], now: float) -> None:
        run = self.store.get_run(task.run_id or "")
        assert run is not None
        if run.state != "running":
            self._finish_task(task, "succeeded" if run.state != "failed" else "failed", now, result=result_json)
            return
        can = result.continue_as_new
        if can is not None:
            next_task = self.store.get_task(can.task_id)
            if next_task is None or not next_task.type.startswith("workflow:") or not next_task.run_id:
                raise BadRequest(f"continue_as_new.task_id {can.task_id} is not a workflow task enqueued by this run")
            next_run = self.store.get_run(next_task.run_id)
            assert next_run is not None
            if next_run.parent_run_id is None and run.parent_run_id:
                next_run.parent_id, next_run.parent_run_id = run.parent_id, run.parent_run_id
                next_run.parent_task_id, next_run.parent_cancellation_type = run.parent_task_id, run.parent_cancellation_type
                self.store.update_run(next_run)
            run.next_run_id = next_run.run_id
            self._close_run(
                run, "continued_as_new", now, task_state="succeeded", result=result_json,
                event=("WorkflowExecutionContinuedAsNew", {"next_run_id": next_run.run_id, "next_workflow_id": next_run.id}),
            )
            return
        self._close_run(
            run, "succeeded", now, task_state="succeeded", result=result_json,
            event=("WorkflowExecutionCompleted", {"result": result.value}),
        )

    def _fail_workflow_task(self, task: TaskRecord, run: RunRecord, error: str, failure: Dict[str, Any], result: Any, now: float) -> None:
        delay = None
        if run.retry:
            delay = retry_delay(run.retry, run.attempt, failure, run.created_at, now)
        next_run_id = None
        if delay is not None:
            next_run_id = self._retry_run(run, task, now, delay)
        self._close_run(
            run, "failed", now, task_state="failed", result=result, error=error,
            event=("WorkflowExecutionFailed", {"error": error, "failure": failure, "next_run_id": next_run_id}),
            notify_parent=next_run_id is None,
        )

    def _retry_run(self, run: RunRecord, task: TaskRecord, now: float, delay: float) -> str:
        started = self.store.history(run.run_id)[0]
        new_task = attrs.evolve(
            task, id=self.new_id(), state="queued", attempt=1, agent_id=None, leased_until=None,
            result=None, error=None, created_at=now, updated_at=now, not_before=now + delay,
            wake_pending=False, payload=dict(task.payload or {}),
        )
        new_run = attrs.evolve(
            run, run_id=self.new_id(), task_id=new_task.id, state="running", created_at=now, updated_at=now,
            attempt=run.attempt + 1, result=None, error=None, agent_id=None, next_run_id=None,
            cancel_requested=False, continued_from_run_id=None,
            deadline=now + run.run_timeout_ms / 1000.0 if run.run_timeout_ms else None,
        )
        new_task.payload["runId"] = new_run.run_id
        self.store.insert_task(new_task)
        self._deadline_added(new_task.not_before)
        self._insert_run(new_run, new_task, now, started.attributes.get("args") or [])
        return new_run.run_id

    def _close_run(
        self,
        run: RunRecord,
        state: str,
        now: float,
        *,
        task_state: str,
        event: Tuple[str, Dict[str, Any]],
        result: Any = None,
        error: Optional[str] = None,
        notify_parent: bool = True,
    ) -> HistoryRecord:
        run.state, run.result, run.error = state, result, error
        self._save_run(run, now)
        recorded = self._history(run, event[0], run.task_id, now, **event[1])
        workflow_task = self.store.get_task(run.task_id)
        if workflow_task is not None and workflow_task.state not in wt.TERMINAL_TASK_STATES:
            self._finish_task(workflow_task, task_state, now, result=result, error=error)
        for open_task in self.store.open_tasks_of_run(run.run_id):
            if open_task.id != run.task_id:
                self._finish_task(open_task, "failed", now, error=f"cancelled: workflow {run.id} closed ({state})")
        for child in self.store.running_children(run.run_id):
            if child.parent_cancellation_type != "abandon":
                self._close_run(
                    child, "failed", now, task_state="failed", error="terminated: parent workflow closed",
                    event=("WorkflowExecutionTerminated", {"reason": "parent workflow closed"}), notify_parent=False,
                )
        if notify_parent and state != "continued_as_new":
            self._notify_parent(run, now)
        return recorded

    def _notify_parent(self, child: RunRecord, now: float) -> None:
        parent = self._open_run(child.parent_run_id)
        if parent is None:
            return
        first_task = child.task_id
        chain_start = child
        while chain_start.continued_from_run_id:  # the parent knows the chain by its first run
            previous = self.store.get_run(chain_start.continued_from_run_id)
            if previous is None:
                break
            chain_start = previous
            first_task = previous.task_id
        if child.state == "succeeded":
            value = (child.result or {}).get("value")
            self._history(
                parent, "ChildWorkflowExecutionCompleted", first_task, now,
                child_workflow_id=child.id, child_run_id=child.run_id, result=value,
            )
        else:
            failure = (child.result or {}).get("failure") or {"message": child.error}
            self._history(
                parent, "ChildWorkflowExecutionFailed", first_task, now,
                child_workflow_id=child.id, child_run_id=child.run_id, error=child.error, failure=failure,
            )
        self._wake(parent, now)

    # ================================================================== workflows

    def get_workflow(self, workflow_id: str, wait_seconds: float = 0) -> RunRecord:
        """The run; with ``wait_seconds``, once it is no longer running (or time is up)."""
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            while True:
                run = self._run(workflow_id)
                remaining = deadline - time.monotonic()
                if run.state != "running" or remaining <= 0 or self._stopping:
                    return run
                self._run_waiters.wait(run.run_id, remaining)

    def history(self, workflow_id: str, after: int = 0, wait_seconds: float = 0) -> List[HistoryRecord]:
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            while True:
                run = self._run(workflow_id)
                events = self.store.history(run.run_id, after)
                remaining = deadline - time.monotonic()
                if events or remaining <= 0 or run.state != "running" or self._stopping:
                    return events
                self._run_waiters.wait(run.run_id, remaining)

    def list_workflows(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        with self._lock:
            return self.store.list_runs(filters, page)

    def count_workflows(self, filters: Dict[str, Any]) -> int:
        with self._lock:
            return self.store.count_runs(filters)

    def signal(self, workflow_id: str, req: wt.SignalWorkflowRequest) -> HistoryRecord:
        if not req.name.strip():
            raise BadRequest("signal name must not be empty")
        with self._lock, self.store.transaction():
            run = self._running_run(workflow_id, f"signal {req.name!r} to")
            return self._signal(run, req, self.clock.now())

    def _signal(self, run: RunRecord, req: wt.SignalWorkflowRequest, now: float) -> HistoryRecord:
        event = self._history(run, "WorkflowSignaled", None, now, signal_name=req.name, args=req.args or [])
        self._wake(run, now)
        return event

    def signal_with_start(
        self, workflow_id: str, req: wt.SignalWithStartWorkflowRequest
    ) -> Tuple[RunRecord, TaskRecord, HistoryRecord]:
        if req.workflow_id and req.workflow_id != workflow_id:
            raise BadRequest(f"workflowId {req.workflow_id!r} in the body differs from {workflow_id!r} in the path")
        if not req.signal.name.strip():
            raise BadRequest("signal name must not be empty")
        with self._lock, self.store.transaction():
            namespace = req.namespace or "default"
            run = self.store.latest_run(workflow_id, namespace)
            if run is None or run.state != "running":
                payload: Dict[str, Any] = {
                    "workflowType": req.workflow_type, "workflowId": workflow_id, "args": req.args or [],
                }
                for key, value in (
                    ("workflowIdReusePolicy", req.workflow_id_reuse_policy), ("runTimeoutMs", req.run_timeout_ms),
                    ("retry", wt.to_json(req.retry) if req.retry else None), ("memo", req.memo),
                    ("searchAttributes", req.search_attributes),
                ):
                    if value is not None:
                        payload[key] = value
                self.enqueue(wt.EnqueueTaskRequest(
                    type=f"workflow:{req.workflow_type}", namespace=namespace, queue=req.queue,
                    payload=payload, lease_timeout_seconds=req.lease_timeout_seconds,
                ))
                run = self.store.latest_run(workflow_id, namespace)
                assert run is not None
            event = self._signal(run, req.signal, self.clock.now())
            task = self.store.get_task(run.task_id)
            assert task is not None
            return run, task, event

    def cancel(self, workflow_id: str, reason: Optional[str]) -> HistoryRecord:
        with self._lock, self.store.transaction():
            run = self._running_run(workflow_id, "cancel")
            return self._request_cancel(run, reason or "workflow cancellation requested", self.clock.now())

    def _request_cancel(self, run: RunRecord, reason: str, now: float) -> HistoryRecord:
        if run.cancel_requested:
            for event in reversed(self.store.history(run.run_id)):
                if event.type == "WorkflowCancellationRequested":
                    return event
        run.cancel_requested = True
        self._save_run(run, now)
        event = self._history(run, "WorkflowCancellationRequested", None, now, reason=reason)
        for task in self.store.open_tasks_of_run(run.run_id):
            payload = task.payload or {}
            if task.id == run.task_id or payload.get("cancellationScope") == "non_cancellable":
                continue
            if task.type.startswith("activity:"):
                kind = payload.get("cancellationType") or "try_cancel"
                if kind == "abandon":
                    continue
                if kind == "wait_cancellation_completed" and task.state == "leased":
                    task.cancel_requested = True  # the activity acknowledges through its next heartbeat
                    self._save_task(task, now)
                    continue
                self._finish_task(task, "failed", now, error=f"cancelled: {reason}")
                self._history(run, "ActivityTaskCanceled", task.id, now, reason=reason)
            elif task.type == "timer":
                self._finish_task(task, "failed", now, error=f"cancelled: {reason}")
        for child in self.store.running_children(run.run_id):
            if child.parent_cancellation_type != "abandon":
                self._request_cancel(child, f"parent workflow cancelled: {reason}", now)
        self._wake(run, now)
        return event

    def terminate(self, workflow_id: str, reason: Optional[str]) -> HistoryRecord:
        with self._lock, self.store.transaction():
            run = self._running_run(workflow_id, "terminate")
            reason = reason or "terminated by request"
            return self._close_run(
                run, "failed", self.clock.now(), task_state="failed", error=f"terminated: {reason}",
                result={"failure": {"message": f"terminated: {reason}", "type": "TerminatedFailure", "non_retryable": True}},
                event=("WorkflowExecutionTerminated", {"reason": reason}),
            )

    # ================================================================== time

    def run_due(self) -> None:
        """Fire what is due now: timers, lapsed leases, run timeouts, schedules."""
        with self._lock, self.store.transaction():
            now = self.clock.now()
            for timer in self.store.due_timers(now):
                self._fire_timer(timer, now)
            for task in self.store.expired_leases(now):
                log.info("lease of task %s (%s) by %s lapsed; re-queued", task.id, task.type, task.agent_id)
                task.state, task.agent_id, task.leased_until = "queued", None, None
                task.attempt += 1
                task.cancel_requested = task.cancel_requested and task.type.startswith("activity:")
                self._save_task(task, now)
            for run in self.store.timed_out_runs(now):
                self._close_run(
                    run, "failed", now, task_state="failed", error="workflow run timed out",
                    result={"failure": {"message": "workflow run timed out", "type": "TimeoutFailure", "non_retryable": True}},
                    event=("WorkflowExecutionTimedOut", {"run_timeout_ms": run.run_timeout_ms}),
                )
            for hook in self.on_tick:
                hook(now)
            for cv in self._queue_cvs.values():
                cv.notify_all()
            self._ticker_next = self.store.next_deadline(now)

    def _fire_timer(self, timer: TaskRecord, now: float) -> None:
        self._finish_task(timer, "succeeded", now)
        run = self._open_run(timer.run_id)
        if run is not None:
            payload = timer.payload or {}
            self._history(run, "TimerFired", timer.id, now, timer_id=payload.get("timerId") or timer.id)
            self._wake(run, now)

    def ticker(self, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                self.run_due()
            except Exception:  # keep time moving; the error is logged with its cause
                log.exception("ticker failed to process due work")
            self._ticker_wake.clear()
            self.clock.wait_until(self._ticker_wake, self._ticker_next)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for cv in self._queue_cvs.values():
                cv.notify_all()
            self._run_waiters.notify_everyone()
            self._task_waiters.notify_everyone()
        self._ticker_wake.set()

    # ================================================================== admin and sessions

    def ready_stats(self) -> Dict[str, int]:
        with self._lock:
            stats = {f"tasks_{state}": 0 for state in wt.TASK_STATES}
            stats.update({f"tasks_{k}": v for k, v in self.store.count_tasks_by_state().items()})
            stats.update({f"workflows_{state}": 0 for state in wt.WORKFLOW_STATES})
            stats.update({f"workflows_{k}": v for k, v in self.store.count_runs_by_state().items()})
            stats["namespaces"] = len(self.store.list_namespaces())
            return stats

    def compact(self, retention_seconds: int) -> Tuple[int, int]:
        if retention_seconds < 0:
            raise BadRequest("retention_seconds must be >= 0")
        with self._lock, self.store.transaction():
            return self.store.compact(self.clock.now() - retention_seconds)

    def refresh_session(self, refresh_token: str) -> Dict[str, Any]:
        with self._lock, self.store.transaction():
            now = self.clock.now()
            agent_id, family = "local-agent", self.new_id()
            if self.auth_token is not None and not secrets.compare_digest(refresh_token, self.auth_token):
                session = self.store.get_session(refresh_token)
                if session is None or session.kind != "refresh" or session.expires_at <= now:
                    raise Unauthorized("refresh token is invalid or expired; enrol again with the service token")
                self.store.delete_session(refresh_token)
                agent_id, family = session.agent_id, session.family_id
            access = SessionRecord(secrets.token_urlsafe(24), "access", agent_id, family, now + ACCESS_TOKEN_TTL)
            refresh = SessionRecord(secrets.token_urlsafe(24), "refresh", agent_id, family, now + REFRESH_TOKEN_TTL)
            self.store.put_session(access)
            self.store.put_session(refresh)
            return {
                "agentId": agent_id, "tenantId": "local", "tokenFamilyId": family,
                "accessToken": access.token, "refreshToken": refresh.token,
                "accessExpiresAt": ts(access.expires_at), "refreshExpiresAt": ts(refresh.expires_at),
                "status": "active", "trustState": "trusted",
            }

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            session = self.store.get_session(token)
            return session is not None and session.kind == "access" and session.expires_at > self.clock.now()


def run_cancel_reason(store: Store, run: RunRecord) -> str:
    for event in reversed(store.history(run.run_id)):
        if event.type == "WorkflowCancellationRequested":
            return str(event.attributes.get("reason") or "workflow cancellation requested")
    return "workflow cancellation requested"


def _event_fields(event: wt.TaskEventInput) -> Dict[str, Any]:
    return {"stage": event.stage, "message": event.message, "stream": event.stream, "data": event.data, "details": event.details}
