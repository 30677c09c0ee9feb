"""The contract's schedule types (public through ``postgrip_agent.types``)."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, List, Optional

import attrs

from ._wire import (
    JsonValue,
    RetryPolicy,
    ScheduleMissedRunPolicy,
    ScheduleOverlapPolicy,
    ScheduleState,
    Task,
    WorkflowIdReusePolicy,
    _wire,
)


# --------------------------------------------------------------------------- schedules


@attrs.define
class ScheduleCalendarSpec:
    """The contract's ScheduleCalendarSpec: calendar fields (hours, days of week, ...)."""

    minute: Optional[List[int]] = None
    hour: Optional[List[int]] = None
    day_of_month: Optional[List[int]] = None
    month: Optional[List[int]] = None
    day_of_week: Optional[List[int]] = None


@attrs.define
class ScheduleSpec:
    """The contract's ScheduleSpec: an interval, a cron expression or a calendar, with time zone and jitter."""

    interval_seconds: Optional[int] = None
    cron: Optional[str] = None
    calendar: Optional[ScheduleCalendarSpec] = None
    timezone: Optional[str] = None
    jitter_seconds: Optional[int] = None
    catch_up_window_seconds: Optional[int] = None
    missed_run_policy: Optional[ScheduleMissedRunPolicy] = None
    start_at: Optional[datetime] = None


@attrs.define
class ScheduleAction:
    """The contract's ScheduleAction: the workflow a schedule starts, and how."""

    workflow_type: str = attrs.field(metadata={"wire": "workflowType"})
    namespace: Optional[str] = None
    queue: Optional[str] = None
    workflow_id: Optional[str] = _wire("workflowId")
    workflow_id_reuse_policy: Optional[WorkflowIdReusePolicy] = _wire("workflowIdReusePolicy")
    run_timeout_ms: Optional[int] = _wire("runTimeoutMs")
    retry: Optional[RetryPolicy] = None
    memo: Optional[Dict[str, JsonValue]] = None
    search_attributes: Optional[Dict[str, JsonValue]] = _wire("searchAttributes")
    args: Optional[List[JsonValue]] = None


@attrs.define
class Schedule:
    """The contract's Schedule: its spec, action, state and next fire."""

    id: str
    namespace: str
    state: ScheduleState
    spec: ScheduleSpec
    action: ScheduleAction
    next_run_at: datetime
    created_at: datetime
    updated_at: datetime
    tenant_id: Optional[str] = _wire("tenantId")
    overlap_policy: Optional[ScheduleOverlapPolicy] = None
    last_run_at: Optional[datetime] = None


@attrs.define
class CreateScheduleRequest:
    """The contract's CreateScheduleRequest: a spec (when) and an action (what to start)."""

    spec: ScheduleSpec
    action: ScheduleAction
    id: Optional[str] = None
    tenant_id: Optional[str] = _wire("tenantId")
    namespace: Optional[str] = None
    overlap_policy: Optional[ScheduleOverlapPolicy] = None


@attrs.define
class UpdateScheduleRequest:
    """The contract's UpdateScheduleRequest: what to change."""

    overlap_policy: Optional[ScheduleOverlapPolicy] = None
    spec: Optional[ScheduleSpec] = None
    action: Optional[ScheduleAction] = None


@attrs.define
class PauseScheduleRequest:
    """The contract's PauseScheduleRequest (a reason)."""

    reason: Optional[str] = None


@attrs.define
class UnpauseScheduleRequest:
    """The contract's UnpauseScheduleRequest (a reason)."""

    reason: Optional[str] = None


@attrs.define
class TriggerScheduleRequest:
    """The contract's TriggerScheduleRequest (a reason)."""

    reason: Optional[str] = None


@attrs.define
class TriggerScheduleResponse:
    """The contract's TriggerScheduleResponse: the run a trigger started."""

    schedule: Schedule
    task: Task


@attrs.define
class BackfillScheduleRequest:
    """The contract's BackfillScheduleRequest: the window to run missed fires for."""

    start_at: datetime
    end_at: datetime


@attrs.define
class BackfillScheduleResponse:
    """The contract's BackfillScheduleResponse: the runs a backfill started."""

    schedule: Schedule
    tasks: List[Task]


__all__ = [
    "ScheduleCalendarSpec",
    "ScheduleSpec",
    "ScheduleAction",
    "Schedule",
    "CreateScheduleRequest",
    "UpdateScheduleRequest",
    "PauseScheduleRequest",
    "UnpauseScheduleRequest",
    "TriggerScheduleRequest",
    "TriggerScheduleResponse",
    "BackfillScheduleRequest",
    "BackfillScheduleResponse",
]
