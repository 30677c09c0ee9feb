"""Records of the store as the JSON shapes of the contract."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..engine.clock import ts
from ..store import HistoryRecord, NamespaceRecord, PollerRecord, RunRecord, ScheduleRecord, TaskEventRecord, TaskRecord


def _put(out: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _put_ts(out: Dict[str, Any], key: str, value: Optional[float]) -> None:
    if value is not None:
        out[key] = ts(value)


def task_json(task: TaskRecord) -> Dict[str, Any]:
    """A task as the contract's Task object."""
    out: Dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "state": task.state,
        "namespace": task.namespace,
        "queue": task.queue,
        "attempt": task.attempt,
        "lease_timeout_seconds": task.lease_timeout_seconds,
        "created_at": ts(task.created_at),
        "updated_at": ts(task.updated_at),
    }
    _put(out, "tenantId", task.tenant_id)
    _put(out, "agent_id", task.agent_id)
    _put_ts(out, "not_before", task.not_before)
    _put_ts(out, "leased_until", task.leased_until if task.state == "leased" else None)
    _put(out, "payload", task.payload)
    _put(out, "result", task.result)
    _put(out, "error", task.error)
    return out


def run_json(run: RunRecord) -> Dict[str, Any]:
    """A run as the contract's WorkflowExecution object."""
    out: Dict[str, Any] = {
        "id": run.id,
        "run_id": run.run_id,
        "namespace": run.namespace,
        "type": run.type,
        "queue": run.queue,
        "task_id": run.task_id,
        "state": run.state,
        "attempt": run.attempt,
        "created_at": ts(run.created_at),
        "updated_at": ts(run.updated_at),
    }
    _put(out, "tenantId", run.tenant_id)
    _put(out, "agent_id", run.agent_id)
    _put(out, "run_timeout_ms", run.run_timeout_ms)
    _put(out, "retry", run.retry)
    _put(out, "memo", run.memo)
    _put(out, "search_attributes", run.search_attributes)
    _put(out, "result", run.result)
    _put(out, "error", run.error)
    return out


def history_json(event: HistoryRecord) -> Dict[str, Any]:
    """A history event as the contract's WorkflowHistoryEvent object."""
    out: Dict[str, Any] = {
        "id": str(event.seq),
        "workflow_id": event.workflow_id,
        "type": event.type,
        "attributes": event.attributes,
        "created_at": ts(event.created_at),
    }
    _put(out, "tenantId", event.tenant_id)
    _put(out, "task_id", event.task_id)
    return out


def poller_json(poller: PollerRecord) -> Dict[str, Any]:
    """An agent polling a queue (extension ``task-queues``): its id, task types, when last seen."""
    return {"agent_id": poller.agent_id, "task_types": list(poller.types), "last_seen": ts(poller.last_seen)}


def task_event_json(event: TaskEventRecord) -> Dict[str, Any]:
    """A task event as the contract's TaskEvent object."""
    out: Dict[str, Any] = {"id": str(event.seq), "task_id": event.task_id, "kind": event.kind, "created_at": ts(event.created_at)}
    for key in ("agent_id", "stage", "message", "stream", "data", "details"):
        _put(out, key, getattr(event, key))
    _put(out, "tenantId", event.tenant_id)
    return out


def namespace_json(ns: NamespaceRecord) -> Dict[str, Any]:
    """A namespace as the contract's Namespace object."""
    out: Dict[str, Any] = {"name": ns.name, "created_at": ts(ns.created_at), "updated_at": ts(ns.updated_at)}
    _put(out, "tenantId", ns.tenant_id)
    return out


def schedule_json(schedule: ScheduleRecord) -> Dict[str, Any]:
    """A schedule as the contract's Schedule object."""
    out: Dict[str, Any] = {
        "id": schedule.id,
        "namespace": schedule.namespace,
        "state": schedule.state,
        "overlap_policy": schedule.overlap_policy,
        "spec": schedule.spec,
        "action": schedule.action,
        "next_run_at": ts(schedule.next_run_at),
        "created_at": ts(schedule.created_at),
        "updated_at": ts(schedule.updated_at),
    }
    _put(out, "tenantId", schedule.tenant_id)
    _put_ts(out, "last_run_at", schedule.last_run_at)
    return out
