"""Workflow runs in the engine: starting, closing, children, signals, cancellation."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import attrs

from ... import types as wt
from . import limits
from .core import EngineState, Fence, _payload
from ..errors import AlreadyExists, BadRequest, Conflict
from .retry import retry_delay
from ..store import HistoryRecord, Page, RunRecord, Store, TaskRecord


class Runs:
    """What happens to workflow runs: starting, closing, children, signals, cancellation."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.store, self.clock = state.store, state.clock

    def enqueue_workflow(self, task: TaskRecord, now: float, continuing_task_id: Optional[str] = None) -> TaskRecord:
        """Start a run for this workflow task. ``continuing_task_id``: the workflow task whose lease
        the request named (our agent names it when it continues as new), which says exactly
        which run is continuing."""
        payload: wt.WorkflowPayload = _payload(task.payload, wt.WorkflowPayload, "workflow")
        raw = dict(task.payload or {})
        workflow_type = payload.workflow_type or task.type[len("workflow:") :]
        if not workflow_type:
            raise BadRequest("workflow type missing: use type 'workflow:<Type>'")
        limits.check_duration_ms("payload.runTimeoutMs", payload.run_timeout_ms)
        limits.check_retry("payload.retry", payload.retry)
        workflow_id = payload.workflow_id or task.id
        continued_from: Optional[RunRecord] = None
        if payload.continued_from_workflow_id:
            source = self._continuing_run(payload.continued_from_workflow_id, task.namespace, continuing_task_id)
            if source is not None:
                continued_from = source
                existing = self.store.list_runs({"continued_from_run_id": source.run_id}, Page(limit=1))
                if existing:  # a re-delivered workflow task continuing again: same next run
                    found = self.store.get_task(existing[0].task_id)
                    assert found is not None
                    return found
        self.store.lock_name("workflow", f"{task.namespace}\x1f{workflow_id}")  # one start of an id at a time
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
        run_id = self.state.new_id()
        raw.update(workflowType=workflow_type, workflowId=workflow_id, runId=run_id, namespace=task.namespace)
        task.payload = raw
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
            self.state.record(
                parent,
                "ChildWorkflowExecutionStarted",
                task.id,
                now,
                workflow_type=workflow_type,
                child_workflow_id=workflow_id,
                child_run_id=run_id,
                args=payload.args or [],  # beyond the contract's attributes: replay compares them
            )
        return task

    def _insert_run(self, run: RunRecord, task: TaskRecord, now: float, args: List[Any]) -> None:
        """Insert the run and its first workflow task (new: not inserted yet)."""
        task.run_id = run.run_id
        task.history_cursor = 0  # an agent has seen none of the new run's history
        self.store.insert_task(task)
        self.store.insert_run(run)
        self.state.defer(lambda: self.state.metrics.run_started(run))
        self.state.deadline_added(run.deadline)
        self.state.record(
            run,
            "WorkflowExecutionStarted",
            task.id,
            now,
            workflow_type=run.type,
            args=args,
            parent_workflow_id=run.parent_id,
            continued_from_run_id=run.continued_from_run_id,
            attempt=run.attempt,
            **({"memo": run.memo} if run.memo else {}),  # beyond the contract: workflow.memo() reads it
        )

    def _continuing_run(self, workflow_id: str, namespace: str, continuing_task_id: Optional[str]) -> Optional[RunRecord]:
        """The running run of ``workflow_id`` that is continuing as new.

        The run of the workflow task that named its lease, when there is one. Otherwise (a client
        that names no lease) the oldest running run of that id: its successor is newer. That guess
        is wrong when the successor already runs and continues in turn before the first run's
        completion arrives; naming the lease avoids it."""
        holder = self.store.get_task(continuing_task_id) if continuing_task_id else None
        if holder is not None and holder.run_id:
            run = self.store.get_run(holder.run_id)
            if run is not None and run.id == workflow_id and run.namespace == namespace and run.state == "running":
                return run
        running = self.store.list_runs(
            {"id": workflow_id, "namespace": namespace, "state": "running"}, Page(limit=1, order_by="seq")
        )
        return running[0] if running else None

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

    def complete_workflow_task(self, task: TaskRecord, result: wt.TaskResult, result_json: Dict[str, Any], now: float) -> None:
        """Apply a workflow task's result: its commands (activities, timers, children, ...) and, if it says so, the run's end."""
        run = self.store.get_run(task.run_id or "")
        assert run is not None
        if run.state != "running":
            self.state.finish_task(task, "succeeded" if run.state != "failed" else "failed", now, result=result_json)
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
            self.close_run(
                run,
                "continued_as_new",
                now,
                task_state="succeeded",
                result=result_json,
                event=("WorkflowExecutionContinuedAsNew", {"next_run_id": next_run.run_id, "next_workflow_id": next_run.id}),
            )
            return
        self.close_run(
            run,
            "succeeded",
            now,
            task_state="succeeded",
            result=result_json,
            event=("WorkflowExecutionCompleted", {"result": result.value}),
        )

    def fail_workflow_task(
        self, task: TaskRecord, run: RunRecord, error: str, failure: Dict[str, Any], result: Any, now: float
    ) -> None:
        """A workflow task failed: retry the run under its retry policy, or fail it."""
        delay = None
        if run.retry:
            delay = retry_delay(run.retry, run.attempt, failure, run.created_at, now)
        next_run_id = None
        if delay is not None:
            next_run_id = self._retry_run(run, task, now, delay)
        self.close_run(
            run,
            "failed",
            now,
            task_state="failed",
            result=result,
            error=error,
            event=("WorkflowExecutionFailed", {"error": error, "failure": failure, "next_run_id": next_run_id}),
            notify_parent=next_run_id is None,
        )

    def _retry_run(self, run: RunRecord, task: TaskRecord, now: float, delay: float) -> str:
        started = self.store.history(run.run_id)[0]
        new_task = attrs.evolve(
            task,
            id=self.state.new_id(),
            state="queued",
            attempt=1,
            agent_id=None,
            leased_until=None,
            result=None,
            error=None,
            created_at=now,
            updated_at=now,
            not_before=now + delay,
            wake_pending=False,
            payload=dict(task.payload or {}),
        )
        new_run = attrs.evolve(
            run,
            run_id=self.state.new_id(),
            task_id=new_task.id,
            state="running",
            created_at=now,
            updated_at=now,
            attempt=run.attempt + 1,
            result=None,
            error=None,
            agent_id=None,
            next_run_id=None,
            cancel_requested=False,
            continued_from_run_id=None,
            deadline=now + run.run_timeout_ms / 1000.0 if run.run_timeout_ms else None,
        )
        new_task.payload["runId"] = new_run.run_id
        self.state.deadline_added(new_task.not_before)
        self._insert_run(new_run, new_task, now, started.attributes.get("args") or [])
        return new_run.run_id

    def close_run(
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
        """End the run in ``state`` with its closing event; end its open tasks, terminate its running children (unless abandoned) and tell its parent."""
        run.state, run.result, run.error = state, result, error
        self.state.save_run(run, now)
        self.state.defer(lambda: self.state.metrics.run_closed(run))
        recorded = self.state.record(run, event[0], run.task_id, now, **event[1])
        workflow_task = self.store.get_task(run.task_id)
        if workflow_task is not None and workflow_task.state not in wt.TERMINAL_TASK_STATES:
            self.state.finish_task(workflow_task, task_state, now, result=result, error=error)
        for open_task in self.store.open_tasks_of_run(run.run_id):
            # a query still waiting is answered all the same: an agent replays the finished run
            if open_task.id != run.task_id and not open_task.type.startswith("query:"):
                self.state.finish_task(open_task, "failed", now, error=f"cancelled: workflow {run.id} closed ({state})")
        for child in self.store.running_children(run.run_id):
            if child.parent_cancellation_type != "abandon":
                self.close_run(
                    child,
                    "failed",
                    now,
                    task_state="failed",
                    error="terminated: parent workflow closed",
                    event=("WorkflowExecutionTerminated", {"reason": "parent workflow closed"}),
                    notify_parent=False,
                )
        if notify_parent and state != "continued_as_new":
            self._notify_parent(run, now)
        return recorded

    def _notify_parent(self, child: RunRecord, now: float) -> None:
        parent = self.state.open_run(child.parent_run_id)
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
            self.state.record(
                parent,
                "ChildWorkflowExecutionCompleted",
                first_task,
                now,
                child_workflow_id=child.id,
                child_run_id=child.run_id,
                result=value,
            )
        else:
            failure = (child.result or {}).get("failure") or {"message": child.error}
            self.state.record(
                parent,
                "ChildWorkflowExecutionFailed",
                first_task,
                now,
                child_workflow_id=child.id,
                child_run_id=child.run_id,
                error=child.error,
                failure=failure,
            )
        self.state.wake(parent, now)

    def get_workflow(self, workflow_id: str, wait_seconds: float = 0) -> RunRecord:
        """The run; with ``wait_seconds``, once it is no longer running (or time is up)."""

        def read() -> Tuple[RunRecord, str, bool]:
            run = self.state.find_run(workflow_id)
            return run, run.run_id, run.state != "running"

        return self.state.wait_for(self.state.run_waiters, read, time.monotonic() + wait_seconds)  # type: ignore[no-any-return]

    def history(self, workflow_id: str, after: int = 0, wait_seconds: float = 0) -> List[HistoryRecord]:
        """The run's events after ``after`` (long-polls up to ``wait_seconds`` for new ones)."""

        def read() -> Tuple[List[HistoryRecord], str, bool]:
            run = self.state.find_run(workflow_id)
            events = self.store.history(run.run_id, after)
            return events, run.run_id, bool(events) or run.state != "running"

        return self.state.wait_for(self.state.run_waiters, read, time.monotonic() + wait_seconds)  # type: ignore[no-any-return]

    def list_workflows(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        """Runs matching ``filters``, the ``page`` of them."""
        with self.state.serial:
            return self.store.list_runs(filters, page)

    def count_workflows(self, filters: Dict[str, Any]) -> int:
        """How many runs match ``filters``."""
        with self.state.serial:
            return self.store.count_runs(filters)

    def signal(self, workflow_id: str, req: wt.SignalWorkflowRequest, fence: Fence = None) -> HistoryRecord:
        """Record a signal on the workflow's running run (a 409 if none runs)."""
        if not req.name.strip():
            raise BadRequest("signal name must not be empty")
        with self.state.operation():
            self.state.check_fence(fence)
            run = self.state.running_run(workflow_id, f"signal {req.name!r} to")
            return self.signal_run(run, req, self.clock.now())

    def signal_run(self, run: RunRecord, req: wt.SignalWorkflowRequest, now: float) -> HistoryRecord:
        """Record a signal on this run and wake it."""
        extra = {"headers": req.headers} if req.headers else {}  # extension: interceptors' headers
        event = self.state.record(run, "WorkflowSignaled", None, now, signal_name=req.name, args=req.args or [], **extra)
        self.state.wake(run, now)
        return event

    def cancel(self, workflow_id: str, reason: Optional[str]) -> HistoryRecord:
        """Ask the workflow's running run to cancel (recorded; the workflow decides what to do)."""
        with self.state.operation():
            run = self.state.running_run(workflow_id, "cancel")
            return self._request_cancel(run, reason or "workflow cancellation requested", self.clock.now())

    def _request_cancel(self, run: RunRecord, reason: str, now: float) -> HistoryRecord:
        if run.cancel_requested:
            for event in reversed(self.store.history(run.run_id)):
                if event.type == "WorkflowCancellationRequested":
                    return event
        run.cancel_requested = True
        self.state.save_run(run, now)
        event = self.state.record(run, "WorkflowCancellationRequested", None, now, reason=reason)
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
                    self.state.save_task(task, now)
                    continue
                self.state.finish_task(task, "failed", now, error=f"cancelled: {reason}")
                self.state.record(run, "ActivityTaskCanceled", task.id, now, reason=reason)
            elif task.type == "timer":
                self.state.finish_task(task, "failed", now, error=f"cancelled: {reason}")
        for child in self.store.running_children(run.run_id):
            if child.parent_cancellation_type != "abandon":
                self._request_cancel(child, f"parent workflow cancelled: {reason}", now)
        self.state.wake(run, now)
        return event

    def terminate(self, workflow_id: str, reason: Optional[str]) -> HistoryRecord:
        """End the workflow's running run at once, with its open tasks."""
        with self.state.operation():
            run = self.state.running_run(workflow_id, "terminate")
            reason = reason or "terminated by request"
            return self.close_run(
                run,
                "failed",
                self.clock.now(),
                task_state="failed",
                error=f"terminated: {reason}",
                result={"failure": {"message": f"terminated: {reason}", "type": "TerminatedFailure", "non_retryable": True}},
                event=("WorkflowExecutionTerminated", {"reason": reason}),
            )


def run_cancel_reason(store: Store, run: RunRecord) -> str:
    """The reason given when cancellation of the run was asked."""
    for event in reversed(store.history(run.run_id)):
        if event.type == "WorkflowCancellationRequested":
            return str(event.attributes.get("reason") or "workflow cancellation requested")
    return "workflow cancellation requested"
