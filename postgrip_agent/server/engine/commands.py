"""The commands an activation sends as tasks: activities, timers, markers, queries and updates,
each checked against the run it belongs to and recorded in that run's history."""

from __future__ import annotations

from typing import Any, Optional

from ... import types as wt
from . import limits
from .activities import Activities, check_activity_timeouts
from .clock import ts
from .core import EngineState, _payload
from ..errors import BadRequest, Conflict, NotFound, StaleLease
from ..store import RunRecord, TaskRecord


class Commands:
    """What ``Engine.enqueue`` does with each kind of command, on the engine's shared state."""

    def __init__(self, state: EngineState, activities: Activities) -> None:
        self.state, self.store, self.activities = state, state.store, activities

    def check_lease(self, payload: Any, caller: Optional[str], task_type: str) -> None:
        """A command from a writer without a lease header: its run's workflow task must be leased
        (to ``caller`` when known), else the command comes from an activation whose lease ended."""
        if not isinstance(payload, dict):
            return
        run_id, workflow_task_id = payload.get("workflowRunId"), payload.get("workflowTaskId")
        run = self.store.get_run(run_id) if isinstance(run_id, str) and run_id else None
        owner_id = run.task_id if run is not None else workflow_task_id
        owner = self.store.get_task(owner_id) if isinstance(owner_id, str) and owner_id else None
        if owner is None or not owner.type.startswith("workflow:"):
            return  # no run named: the type's own checks answer
        if owner.state != "leased":
            raise StaleLease(
                f"stale command: {task_type} for workflow task {owner.id}, which is {owner.state}, not "
                "leased: the activation that sent it no longer holds its lease; nothing was recorded"
            )
        if caller and owner.agent_id and owner.agent_id != caller:
            raise StaleLease(
                f"stale command: {task_type} from agent {caller}, but workflow task {owner.id} is leased "
                f"to agent {owner.agent_id}; nothing was recorded"
            )

    def owning_run(self, run_id: Optional[str], workflow_task_id: Optional[str], what: str) -> Optional[RunRecord]:
        """The running run a command names (by run id, or by the workflow task that sent it); None
        when it names none; a 404 or 409 when that run is missing or has ended."""
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

    def activity(self, task: TaskRecord, now: float) -> None:
        """Schedule an activity task (its timeouts armed) and record ActivityTaskScheduled in its run."""
        payload: wt.ActivityInvocationPayload = _payload(task.payload, wt.ActivityInvocationPayload, "activity")
        run = self.owning_run(payload.workflow_run_id, payload.workflow_task_id, "cannot schedule activity")
        limits.check_int("payload.attempt", payload.attempt, 0, 2**31 - 1)
        limits.check_retry("payload.retry", payload.retry)
        check_activity_timeouts(payload)
        task.attempt = payload.attempt or 1
        task.first_scheduled_at = now
        task.payload = {**(task.payload or {}), "scheduledAt": ts(now)}
        self.activities.arm(task)
        if run is not None:
            task.run_id = run.run_id
        self.store.insert_task(task)
        if run is not None:
            self.state.record(
                run,
                "ActivityTaskScheduled",
                task.id,
                now,
                activity_type=payload.activity_type or task.type[len("activity:") :],
                attempt=task.attempt,
                args=payload.args or [],
            )

    def timer(self, task: TaskRecord, now: float) -> None:
        """Start a timer task (its fire time told to the ticker) and record TimerStarted in its run."""
        payload: wt.TimerPayload = _payload(task.payload, wt.TimerPayload, "timer")
        if payload.duration_ms is None and payload.fire_at is None:
            raise BadRequest("timer payload needs durationMs (or fireAt)")
        limits.check_duration_ms("payload.durationMs", payload.duration_ms)
        limits.check_time("payload.fireAt", payload.fire_at.timestamp() if payload.fire_at else None)
        run = self.owning_run(payload.workflow_run_id, payload.workflow_task_id, "cannot start timer")
        duration_ms = payload.duration_ms
        fire_at = now + duration_ms / 1000.0 if duration_ms is not None else payload.fire_at.timestamp()  # type: ignore[union-attr]
        if duration_ms is None:
            duration_ms = max(0, int(round((fire_at - now) * 1000)))
        task.fire_at = fire_at
        task.run_id = run.run_id if run else None
        self.store.insert_task(task)
        self.state.deadline_added(fire_at)
        if run is not None:
            self.state.record(
                run,
                "TimerStarted",
                task.id,
                now,
                timer_id=payload.timer_id or task.id,
                duration_ms=duration_ms,
                fire_at=ts(fire_at),
            )

    def marker(self, task: TaskRecord, now: float) -> None:
        """Extension ``markers``: a workflow writes a fact into its own history (``workflow.patched``
        records which branch a run took). Nothing runs: the task is complete as it is queued."""
        payload = task.payload or {}
        name = payload.get("markerName")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("a marker needs payload.markerName (a non-empty string), e.g. 'patch:my-change'")
        run = self.owning_run(payload.get("workflowRunId"), payload.get("workflowTaskId"), "cannot record marker")
        if run is None:
            raise BadRequest("a marker belongs to a workflow run: give payload.workflowRunId (or workflowTaskId)")
        details = payload.get("details") or {}
        if name == wt.UPSERT_MARKER:  # workflow.upsert_search_attributes: the run's attributes change with history
            upsert = details.get("search_attributes") if isinstance(details, dict) else None
            if not isinstance(upsert, dict):
                raise BadRequest(f"a {wt.UPSERT_MARKER} marker needs details.search_attributes (an object)")
            merged = {**(run.search_attributes or {}), **upsert}
            run.search_attributes = {key: value for key, value in merged.items() if value is not None} or None
            self.state.save_run(run, now)
        task.state, task.run_id, task.result = "completed", run.run_id, {"value": None}
        self.store.insert_task(task)
        self.state.record(run, "MarkerRecorded", task.id, now, marker_name=name, details=details)

    def workflow_request(self, task: TaskRecord, now: float) -> None:
        """Queue a query or update task for its run's queue (a finished run may still be queried)."""
        is_query = task.type.startswith("query:")
        cls = wt.WorkflowQueryPayload if is_query else wt.WorkflowUpdatePayload
        payload = _payload(task.payload, cls, "query" if is_query else "update")
        name = payload.query_name if is_query else payload.update_name
        if not name:
            raise BadRequest(f"{'queryName' if is_query else 'updateName'} must not be empty")
        run = self.state.find_run(payload.workflow_run_id or payload.workflow_id)
        if run.state != "running" and not is_query:  # a finished run is queried by replaying its history
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
