"""The service's state machine: what each call does to tasks, workflow runs and history.

Each operation is one store transaction (serialised as ``core`` describes). Long-polls
wait on condition variables woken once a change commits, so a poller wakes the moment a task
is queued for its queue. Time belongs to the ticker thread (timers,
``not_before``, lease expiry, run timeouts, schedules), which reads an injected clock.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .pollers import Pollers
from ... import types as wt
from .activities import Activities
from .admin import Admin
from .commands import Commands
from .clock import Clock
from .core import DEFAULT_LEASE_SECONDS, EngineState, Fence
from . import limits
from ..errors import BadRequest, Conflict, NotFound
from .runs import Runs
from .sessions import Sessions
from .timekeeping import Timekeeping
from ..store import HistoryRecord, Page, RunRecord, Store, TaskEventRecord, TaskRecord

log = logging.getLogger("postgrip_agent.server")


#: the longest history tail handed out with a workflow task
MAX_TAIL_EVENTS = 1_000


class Engine:
    """The whole state machine, as the HTTP wing and the ticker call it: tasks and the agent lane
    here; workflow runs (``Runs``), activity attempts (``Activities``), time-driven work
    (``Timekeeping``) and sessions (``Sessions``) in objects of their own, all holding
    one ``EngineState``."""

    def __init__(
        self,
        store: Store,
        clock: Optional[Clock] = None,
        *,
        new_id: Optional[Callable[[], str]] = None,
        auth_token: Optional[str] = None,
    ) -> None:
        self.state = state = EngineState(store, clock, new_id=new_id, auth_token=auth_token)
        self.store, self.clock, self.new_id, self.auth_token = state.store, state.clock, state.new_id, state.auth_token
        #: called with the tick's time on every tick of the ticker (schedules fire from here)
        self.on_tick = state.on_tick
        self.runs = Runs(state)
        self.activities = Activities(state)
        self.commands = Commands(state, self.activities)
        self.time = Timekeeping(state, self.runs, self.activities)
        self.sessions = Sessions(state)
        self.admin = Admin(state, self.time)
        #: which agents poll which queues (for describing queues and warning about runs none would take)
        self.pollers = Pollers(state)
        # what the state offers every caller: the lock with a transaction, the lock alone, the ticker's wake-up
        self.operation, self.locked, self.deadline_added = state.operation, state.locked, state.deadline_added
        # workflow runs
        self.get_workflow, self.history, self.signal = self.runs.get_workflow, self.runs.history, self.runs.signal
        self.list_workflows, self.count_workflows = self.runs.list_workflows, self.runs.count_workflows
        self.cancel, self.terminate = self.runs.cancel, self.runs.terminate
        # time
        self.run_item, self.run_due, self.ticker = self.time.run_item, self.time.run_due, self.time.ticker
        self.tick_lag, self.wake_ticker = self.time.tick_lag, self.time.wake_ticker
        self.time_skip_target, self.activity_running, self.next_due = (
            self.time.time_skip_target,
            self.time.activity_running,
            self.time.next_due,
        )
        # administration
        self.list_namespaces, self.create_namespace, self.compact = (
            self.admin.list_namespaces,
            self.admin.create_namespace,
            self.admin.compact,
        )
        self.ready_stats, self.long_polls_waiting = self.admin.ready_stats, self.admin.long_polls_waiting
        # agent sessions and idempotency keys
        self.refresh_session, self.idempotent = self.sessions.refresh_session, self.sessions.idempotent
        self.session, self.session_namespace = self.sessions.session, self.sessions.session_namespace

    # ================================================================== tasks

    def enqueue(self, req: wt.EnqueueTaskRequest, fence: Fence = None, caller: Optional[str] = None) -> TaskRecord:
        """Create a task. A run's activity or timer command from a writer that names no lease
        (``fence``) is accepted only while the run's workflow task is leased, and, when the
        writer's agent id is known (``caller``: its agent session or ``agent_id``), leased to it.
        (Markers are this service's extension: agents that write them send the lease header.)"""
        task_type = req.type.strip()
        if not task_type:
            raise BadRequest("type must not be empty (e.g. 'workflow:MyWorkflow' or 'activity:greet')")
        limits.check_int("lease_timeout_seconds", req.lease_timeout_seconds, 0, limits.MAX_LEASE_SECONDS)
        namespace = req.namespace or "default"
        queue = req.queue or "default"
        with self.state.operation():
            self.state.check_fence(fence)
            if fence is None and (task_type.startswith("activity:") or task_type == "timer"):
                self.commands.check_lease(req.payload, caller, task_type)
            now = self.clock.now()
            self.state.ensure_namespace(namespace, now)
            task = TaskRecord(
                id=self.state.new_id(),
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
                task = self.runs.enqueue_workflow(task, now, fence[0] if fence else None)
            elif task_type.startswith("activity:"):
                self.commands.activity(task, now)
            elif task_type == "timer":
                self.commands.timer(task, now)
            elif task_type == "marker":
                self.commands.marker(task, now)
            elif task_type.startswith(("query:", "update:")):
                self.commands.workflow_request(task, now)
            else:
                self.store.insert_task(task)
            if task.state == "queued" and task.fire_at is None:
                self.state.task_available(task)
            return task

    def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id; a 404 if there is none."""
        with self.state.serial:
            return self.state.task(task_id)

    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        """Tasks matching ``filters``, the ``page`` of them."""
        with self.state.serial:
            return self.store.list_tasks(filters, page)

    def task_events(self, task_id: str, after: int = 0, wait_seconds: float = 0) -> List[TaskEventRecord]:
        """The task's events after ``after`` (long-polls up to ``wait_seconds`` for new ones)."""
        with self.state.serial:
            self.state.task(task_id)

        def read() -> Tuple[List[TaskEventRecord], str, bool]:
            events = self.store.task_events(task_id, after)
            return events, task_id, bool(events) or self.state.task(task_id).state in wt.TERMINAL_TASK_STATES

        return self.state.wait_for(self.state.task_waiters, read, time.monotonic() + wait_seconds)  # type: ignore[no-any-return]

    def wait_task(self, task_id: str, wait_seconds: float) -> TaskRecord:
        """The task, once it is terminal or ``wait_seconds`` have passed."""

        def read() -> Tuple[TaskRecord, str, bool]:
            task = self.state.task(task_id)
            return task, task_id, task.state in wt.TERMINAL_TASK_STATES

        return self.state.wait_for(self.state.task_waiters, read, time.monotonic() + wait_seconds)  # type: ignore[no-any-return]

    # ================================================================== agent lane

    def poll(
        self,
        namespace: str,
        queue: str,
        agent_id: str,
        wait_seconds: float,
        type_prefixes: Sequence[str],
        caller_alive: Callable[[], bool] = lambda: True,
    ) -> Optional[TaskRecord]:
        """Lease the next task, waiting up to ``wait_seconds`` for one. A caller that hung up
        while waiting gets nothing, so no task is leased to a connection nobody reads."""
        deadline = time.monotonic() + wait_seconds
        while True:
            seen = self.state.queue_seen(namespace, queue)
            now = self.clock.now()
            with self.state.serial:
                task = self.store.next_available_task(namespace, queue, type_prefixes, now)
            if task is not None:
                if not caller_alive():
                    self.state.task_available(task)  # pass the wake-up on to another poller
                    return None
                with self.state.operation():
                    # Read again in the transaction (locking it): another poller may have leased it since.
                    current = self.store.get_task(task.id)
                    still_free = (
                        current is not None
                        and current.state == "queued"
                        and (current.not_before is None or current.not_before <= now)
                    )
                    if current is not None and still_free:
                        self._lease(current, agent_id, now)
                        self.store.commit_lazily()  # lost in a database crash, the task is leased again
                if current is not None and still_free:
                    return current
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.state.stopping:
                return None
            if self.state.wait_for_task(namespace, queue, type_prefixes, remaining, seen, agent_id):
                return None  # the agent called its polls off: it stops

    def _lease(self, task: TaskRecord, agent_id: str, now: float) -> None:
        waited, namespace, queue = now - (task.not_before or task.created_at), task.namespace, task.queue
        self.state.defer(lambda: self.state.metrics.leased(namespace, queue, waited))
        task.state = "leased"
        task.agent_id = agent_id
        task.lease_token = secrets.token_hex(8)
        if task.type.startswith("activity:"):
            task.attempt_started_at, task.last_heartbeat_at = now, None
            self.activities.arm(task)
        task.leased_until = now + task.lease_timeout_seconds
        task.wake_pending = False
        self.state.save_task(task, now)
        self.state.deadline_added(task.leased_until)
        self.state.task_event(task, now, "leased", agent_id, message=f"leased by {agent_id}")
        if task.type.startswith("workflow:") and task.run_id:
            run = self.store.get_run(task.run_id)
            if run is not None and run.agent_id != agent_id:
                run.agent_id = agent_id
                self.store.update_run(run)

    def _writable_task(self, task_id: str, agent_id: Optional[str], fence: Fence, *, finishing: bool = False) -> TaskRecord:
        """The task an agent-lane write is about, checked against the lease the writer holds."""
        if fence is None:
            return self._finishable_task(task_id, agent_id) if finishing else self._leased_task(task_id, agent_id)
        self.state.check_fence(fence)
        task = self.state.task(task_id)
        if fence[0] == task_id:
            return task
        if finishing and task.type.startswith("update:") and task.state == "blocked" and task.run_id:
            run = self.store.get_run(task.run_id)
            if run is not None and run.task_id == fence[0]:
                return task
        raise Conflict(f"task {task_id} is not held by the lease of task {fence[0]}")

    def _leased_task(self, task_id: str, agent_id: Optional[str]) -> TaskRecord:
        task = self.state.task(task_id)
        if task.state in wt.TERMINAL_TASK_STATES:
            raise Conflict(f"task {task_id} is terminal ({task.state}{': ' + task.error if task.error else ''})")
        if task.state != "leased":
            raise Conflict(f"task {task_id} is not leased (state {task.state})")
        if agent_id and task.agent_id and agent_id != task.agent_id:
            raise Conflict(f"task {task_id} is not leased by agent {agent_id}")
        return task

    def heartbeat(self, task_id: str, agent_id: Optional[str], req: wt.HeartbeatTaskRequest, fence: Fence = None) -> TaskRecord:
        """Extend the lease of the caller's task (with its details); the task says whether cancellation was asked."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence)
            if task.cancel_requested:
                raise Conflict(f"task {task_id} is terminal: cancellation requested")
            now = self.clock.now()
            limits.check_int("lease_timeout_seconds", req.lease_timeout_seconds, 0, limits.MAX_LEASE_SECONDS)
            lease = req.lease_timeout_seconds or task.lease_timeout_seconds
            task.leased_until = now + lease
            event_in = req.event
            if task.type.startswith("activity:") and (event_in is None or event_in.stage != "lease"):
                # the activity's own heartbeat (the agent's lease renewals say stage "lease")
                task.last_heartbeat_at = now
                if event_in is not None and event_in.details is not None:
                    task.heartbeat_details = event_in.details
                self.activities.arm(task)
            self.state.save_task(task, now)
            event = req.event or wt.TaskEventInput(kind="heartbeat")
            self.state.task_event(task, now, event.kind, agent_id or task.agent_id, **_event_fields(event))
            return task

    def append_event(
        self, task_id: str, agent_id: Optional[str], event: wt.TaskEventInput, fence: Fence = None
    ) -> TaskEventRecord:
        """Add an event to the caller's task's log."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence)
            return self.state.task_event(task, self.clock.now(), event.kind, agent_id or task.agent_id, **_event_fields(event))

    def block(
        self, task_id: str, agent_id: Optional[str], reason: Optional[str], fence: Fence = None, cursor: Optional[int] = None
    ) -> TaskRecord:
        """Park a workflow task until something happens to its run. ``cursor``: the last history
        seq the agent applied (the history-tail extensions send what follows it), None if unknown."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence)
            now = self.clock.now()
            task.leased_until = task.lease_token = None
            task.history_cursor = cursor
            if task.wake_pending:  # something happened while the agent was working: run again
                task.state, task.wake_pending, task.agent_id = "queued", False, None
                self.state.task_available(task)
            else:
                task.state = "blocked"
            task.error = None
            self.state.save_task(task, now)
            return task

    def release(self, task_id: str, agent_id: Optional[str], fence: Fence = None) -> TaskRecord:
        """Extension ``lease-release``: the agent holding the lease gives the task back (it is
        shutting down and will not finish it). The task is queued again at once, as the same
        attempt (nothing failed), for any agent; what the old holder still writes is refused."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence)
            if task.state != "leased":
                raise Conflict(f"task {task_id} is not leased (state {task.state}): nothing to release")
            now = self.clock.now()
            holder = task.agent_id
            task.state, task.agent_id, task.leased_until, task.lease_token = "queued", None, None, None
            task.wake_pending = False
            if task.type.startswith("activity:"):
                task.attempt_started_at, task.not_before = None, now
                self.activities.arm(task)
            self.state.save_task(task, now)
            self.state.task_available(task)
            log.info("task %s (%s) released by %s; queued again", task.id, task.type, holder)
            return task

    def end_activation(
        self,
        task_id: str,
        agent_id: Optional[str],
        commands: List[wt.EnqueueTaskRequest],
        reason: Optional[str],
        fence: Fence = None,
        eager: Optional[Tuple[str, Sequence[str], int]] = None,
        cursor: Optional[int] = None,
    ) -> Tuple[TaskRecord, List[TaskRecord], List[TaskRecord]]:
        """An activation's new commands and its block, all applied or none (one transaction).

        ``eager`` = (queue, task-type prefixes, how many): lease that many of the activities just
        scheduled on that queue to the same agent at once (it has free slots for them)."""
        with self.state.operation():
            self._writable_task(task_id, agent_id, fence)
            scheduled = []
            for index, command in enumerate(commands):
                try:
                    scheduled.append(self.enqueue(command, fence))
                except (BadRequest, Conflict, NotFound) as err:
                    err.message = f"commands[{index}] ({command.type}): {err.message}"
                    raise
            blocked = self.block(task_id, agent_id, reason, fence, cursor)
            leased: List[TaskRecord] = []
            if eager is not None and agent_id:
                queue, prefixes, most = eager
                now = self.clock.now()
                for task in scheduled:
                    if len(leased) >= most:
                        break
                    if (
                        task.type.startswith("activity:")
                        and task.queue == queue
                        and task.state == "queued"
                        and task.not_before is None
                        and task.type.startswith(tuple(prefixes))
                    ):
                        self._lease(task, agent_id, now)
                        leased.append(task)
            return blocked, scheduled, leased

    def complete_and_next(
        self, task_id: str, agent_id: Optional[str], result: wt.TaskResult, fence: Fence, queue: str, prefixes: Sequence[str]
    ) -> Tuple[TaskRecord, Optional[TaskRecord]]:
        """Complete a task and, in the same transaction, lease the workflow task it woke to the same
        agent (when it is queued on ``queue`` with a type in ``prefixes``); no poller is woken for it."""
        with self.state.operation():
            with self.state.holding_wakeups() as held:
                task = self.complete(task_id, agent_id, result, fence)
            claimed: Optional[TaskRecord] = None
            run = self.state.open_run(task.run_id) if agent_id and task.type.startswith("activity:") else None
            following = self.store.get_task(run.task_id) if run is not None else None
            now = self.clock.now()
            if (
                agent_id
                and following is not None
                and following.state == "queued"
                and following.queue == queue
                and following.namespace == task.namespace
                and following.type.startswith(tuple(prefixes))
                and (following.not_before is None or following.not_before <= now)
            ):
                self._lease(following, agent_id, now)
                claimed = following
            for available in held:
                if claimed is None or available.id != claimed.id:
                    self.state.task_available(available)
            return task, claimed

    def history_tail(self, task: TaskRecord) -> Optional[Tuple[int, List[HistoryRecord]]]:
        """For a workflow task: (cursor, the run's events after it), when the cursor is known and
        the tail is at most MAX_TAIL_EVENTS long; else None (the agent reads the history itself)."""
        if not task.type.startswith("workflow:") or task.history_cursor is None or not task.run_id:
            return None
        with self.state.serial:
            events = self.store.history(task.run_id, task.history_cursor, MAX_TAIL_EVENTS + 1)
        return None if len(events) > MAX_TAIL_EVENTS else (task.history_cursor, events)

    def _finishable_task(self, task_id: str, agent_id: Optional[str]) -> TaskRecord:
        """A leased task; or an update handed to its workflow (blocked), finished by whoever
        holds the lease of that workflow's task."""
        task = self.state.task(task_id)
        if task.type.startswith("update:") and task.state == "blocked" and task.run_id:
            run = self.store.get_run(task.run_id)
            owner = self.store.get_task(run.task_id) if run else None
            if owner is None or owner.state != "leased" or (agent_id and owner.agent_id != agent_id):
                raise Conflict(f"task {task_id} is not leased: its workflow task is not leased by agent {agent_id}")
            return task
        return self._leased_task(task_id, agent_id)

    def complete(self, task_id: str, agent_id: Optional[str], result: wt.TaskResult, fence: Fence = None) -> TaskRecord:
        """The caller's task succeeded: record its result and what follows (the run's next step, a waiting parent)."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence, finishing=True)
            in_workflow = task.state == "blocked"
            now = self.clock.now()
            result_json = wt.to_json(result)
            if task.type.startswith("workflow:") and task.run_id:
                self.runs.complete_workflow_task(task, result, result_json, now)
            else:
                self.state.finish_task(task, "succeeded", now, result=result_json)
                run = self.state.open_run(task.run_id)
                if run is not None and task.type.startswith("activity:"):
                    self.state.record(run, "ActivityTaskCompleted", task.id, now, result=result.value)
                    self.state.wake(run, now)
                elif run is not None and task.type.startswith("update:"):
                    payload = task.payload or {}
                    headers = payload.get("headers") if isinstance(payload.get("headers"), dict) else None
                    self.state.record(
                        run,
                        "WorkflowUpdateCompleted",
                        task.id,
                        now,
                        update_name=payload.get("updateName"),
                        args=payload.get("args") or [],
                        result=result.value,
                        update_id=payload.get("updateId") or task.id,
                        in_workflow=True if in_workflow else None,
                        **({"headers": headers} if headers else {}),  # what interceptors read on replay
                    )
                    if not in_workflow:  # applied inside the workflow already: nothing new to see
                        self.state.wake(run, now)
            return task

    def fail(self, task_id: str, agent_id: Optional[str], req: wt.FailTaskRequest, fence: Fence = None) -> TaskRecord:
        """The caller's attempt failed: retry it under its policy or fail it for good."""
        with self.state.operation():
            task = self._writable_task(task_id, agent_id, fence, finishing=True)
            now = self.clock.now()
            result_json = wt.to_json(req.result) if req.result is not None else None
            failure = (result_json or {}).get("failure") or {"message": req.error}
            run = self.state.open_run(task.run_id)
            if task.type.startswith("workflow:") and run is not None and run.task_id == task.id:
                self.runs.fail_workflow_task(task, run, req.error, failure, result_json, now)
            elif task.type.startswith("activity:") and run is not None:
                self.activities.fail(task, run, req.error, failure, result_json, now)
            else:
                self.state.finish_task(task, "failed", now, result=result_json, error=req.error)
            return task

    def signal_with_start(
        self, workflow_id: str, req: wt.SignalWithStartWorkflowRequest
    ) -> Tuple[RunRecord, TaskRecord, HistoryRecord]:
        """Signal the workflow's running run, starting one first if none runs; (run, its workflow task, the signal event)."""
        if req.workflow_id and req.workflow_id != workflow_id:
            raise BadRequest(f"workflowId {req.workflow_id!r} in the body differs from {workflow_id!r} in the path")
        if not req.signal.name.strip():
            raise BadRequest("signal name must not be empty")
        with self.state.operation():
            namespace = req.namespace or "default"
            run = self.store.latest_run(workflow_id, namespace)
            if run is None or run.state != "running":
                payload: Dict[str, Any] = {"workflowType": req.workflow_type, "workflowId": workflow_id, "args": req.args or []}
                for key, value in (
                    ("workflowIdReusePolicy", req.workflow_id_reuse_policy),
                    ("runTimeoutMs", req.run_timeout_ms),
                    ("retry", wt.to_json(req.retry) if req.retry else None),
                    ("memo", req.memo),
                    ("searchAttributes", req.search_attributes),
                ):
                    if value is not None:
                        payload[key] = value
                self.enqueue(
                    wt.EnqueueTaskRequest(
                        type=f"workflow:{req.workflow_type}",
                        namespace=namespace,
                        queue=req.queue,
                        payload=payload,
                        lease_timeout_seconds=req.lease_timeout_seconds,
                    )
                )
                run = self.store.latest_run(workflow_id, namespace)
                assert run is not None
            event = self.runs.signal_run(run, req.signal, self.clock.now())
            task = self.store.get_task(run.task_id)
            assert task is not None
            return run, task, event

    def stop(self) -> None:
        """Stop: wake every waiting poller so it answers now."""
        with self.state.lock:
            self.state.stopping = True
            self.state.wake_all_pollers()
            self.state.run_waiters.notify_everyone()
            self.state.task_waiters.notify_everyone()
        self.state.ticker_wake.set()


def _event_fields(event: wt.TaskEventInput) -> Dict[str, Any]:
    return {"stage": event.stage, "message": event.message, "stream": event.stream, "data": event.data, "details": event.details}
