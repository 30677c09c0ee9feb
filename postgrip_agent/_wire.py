"""The contract's wire types (attrs classes), their constants and timestamp helpers.

Public through ``postgrip_agent.types``, which adds the converter; schedules' types are in
``_wire_schedules``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Literal, Optional, TypeVar, Union

import attrs

T = TypeVar("T")

#: what a request may hold: integers that fit in 64 bits, timestamps in 1970..2199 (UTC)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIMESTAMP = datetime(2200, 1, 1, tzinfo=timezone.utc)  # exclusive

TaskState = Literal["queued", "leased", "blocked", "succeeded", "failed"]
"""Where a task is: waiting for an agent, held by one, parked (a workflow task between activations), or ended."""
TaskEventKind = Literal["leased", "started", "heartbeat", "milestone", "progress", "stdout", "stderr", "completed", "failed"]
"""The kinds of event a task's timeline holds (``client.task.events(id)``, ``handle.watch_events()``)."""
WorkflowState = Literal["running", "succeeded", "failed", "continued_as_new"]
"""Where a workflow run is; a cancelled, terminated or timed-out run is ``failed``, its status says which."""
WorkflowIdReusePolicy = Literal["allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate"]
"""Whether a start may reuse the id of a closed run: always, only after a failure, or never."""
ScheduleState = Literal["active", "paused", "deleted"]
"""Where a schedule is."""
ScheduleOverlapPolicy = Literal["skip", "allow_all"]
"""What a fire does while the schedule's previous run is still running: skip it, or start anyway."""
ScheduleMissedRunPolicy = Literal["catch_up", "skip"]
"""What happens to fires missed while the service was down or the schedule paused."""
CancellationType = Literal["try_cancel", "wait_cancellation_completed", "abandon"]
"""How cancelling a run treats an activity or child: cancel it and go on, cancel it and wait, or leave it running."""
CancellationScopeType = Literal["cancellable", "non_cancellable"]
"""Whether work started in a scope is cancelled with the run (``CancellationScope(cancellable=...)``)."""
JsonValue = Any

TASK_STATES = ("queued", "leased", "blocked", "succeeded", "failed")
TERMINAL_TASK_STATES = ("succeeded", "failed")
WORKFLOW_STATES = ("running", "succeeded", "failed", "continued_as_new")
#: the marker ``workflow.upsert_search_attributes`` writes; the service merges its attributes into the run's
UPSERT_MARKER = "upsert_search_attributes"
#: Temporal's names of how a run stands or ended (``WorkflowExecution.status``), derived from the
#: contract's four states and the failure of a failed run
WORKFLOW_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW", "TIMED_OUT")
REUSE_POLICIES = ("allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate")
CANCELLATION_TYPES = ("try_cancel", "wait_cancellation_completed", "abandon")
TASK_EVENT_KINDS = ("leased", "started", "heartbeat", "milestone", "progress", "stdout", "stderr", "completed", "failed")


def _wire(name: str, default: Any = None) -> Any:
    """An optional field whose wire name is ``name``."""
    return attrs.field(default=default, metadata={"wire": name})


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision, as the service writes timestamps."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into a timezone-aware datetime (naive means UTC)."""
    if len(value) == 24 and value[19] == "." and value[23] == "Z":  # as the service writes them
        return datetime.fromisoformat(value[:23] + "+00:00")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        # Python < 3.11 accepts at most 6 fractional digits.
        head, _, tail = text.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _to_ms(value: Union[timedelta, float, int, None]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return int(round(value.total_seconds() * 1000))
    return int(round(float(value) * 1000))


# --------------------------------------------------------------------------- failures/results


@attrs.define
class FailureInfo:
    """The contract's FailureInfo: a failure's message, type, retryability, details and cause."""

    message: Optional[str] = None
    type: Optional[str] = None
    non_retryable: Optional[bool] = None
    details: Optional[List[JsonValue]] = None


@attrs.define
class ContinueAsNewResult:
    """The contract's ContinueAsNewResult: the task of the run that continued this one."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    task_id: str


@attrs.define
class TaskResult:
    """The contract's TaskResult: a finished task's value, output or failure."""

    exit_code: Optional[int] = None
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    message: Optional[str] = None
    value: JsonValue = None
    failure: Optional[FailureInfo] = None
    continue_as_new: Optional[ContinueAsNewResult] = None
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None


def _interval(value: Union[timedelta, float, int, None]) -> Optional[timedelta]:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"retry interval must be a timedelta or seconds, not {type(value).__name__}")
    return timedelta(seconds=value)


@attrs.define
class RetryPolicy:
    """How the service retries a failed activity (or workflow).

    Intervals accept a ``timedelta`` or seconds; on the wire they are milliseconds.
    ``maximum_attempts`` of 0 means unlimited.
    """

    initial_interval: Optional[timedelta] = attrs.field(default=None, converter=_interval)
    backoff_coefficient: Optional[float] = None
    maximum_interval: Optional[timedelta] = attrs.field(default=None, converter=_interval)
    maximum_attempts: Optional[int] = None
    expiration_interval: Optional[timedelta] = attrs.field(default=None, converter=_interval)
    non_retryable_error_types: Optional[List[str]] = None

    def __attrs_post_init__(self) -> None:
        if self.maximum_attempts is not None and self.maximum_attempts < 0:
            raise ValueError("RetryPolicy.maximum_attempts must be >= 0 (0 means unlimited)")
        if self.backoff_coefficient is not None and self.backoff_coefficient < 1:
            raise ValueError("RetryPolicy.backoff_coefficient must be >= 1")
        for name in ("initial_interval", "maximum_interval", "expiration_interval"):
            value = getattr(self, name)
            if value is not None and value < timedelta(0):
                raise ValueError(f"RetryPolicy.{name} must not be negative")


_RETRY_WIRE = {
    "maximumAttempts": "maximum_attempts",
    "initialIntervalMs": "initial_interval",
    "backoffCoefficient": "backoff_coefficient",
    "maximumIntervalMs": "maximum_interval",
    "expirationIntervalMs": "expiration_interval",
    "nonRetryableErrorTypes": "non_retryable_error_types",
}


# --------------------------------------------------------------------------- tasks


@attrs.define
class Task:
    """The contract's Task: a unit of work on a queue (a workflow task, an activity, a timer, ...)."""

    id: str
    namespace: str
    queue: str
    type: str
    state: TaskState
    attempt: int
    lease_timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    tenant_id: Optional[str] = _wire("tenantId")
    agent_id: Optional[str] = None
    not_before: Optional[datetime] = None
    leased_until: Optional[datetime] = None
    payload: JsonValue = None
    result: Optional[TaskResult] = None
    error: Optional[str] = None


@attrs.define
class TaskEventInput:
    """The contract's TaskEventInput: an event an agent records on its task."""

    kind: TaskEventKind
    stage: Optional[str] = None
    message: Optional[str] = None
    stream: Optional[str] = None
    data: Optional[str] = None
    details: Optional[Dict[str, JsonValue]] = None


@attrs.define
class TaskEvent:
    """The contract's TaskEvent: something that happened to a task (leased, heartbeat, milestone, output, ...)."""

    id: str
    task_id: str
    kind: TaskEventKind
    created_at: datetime
    tenant_id: Optional[str] = _wire("tenantId")
    agent_id: Optional[str] = None
    stage: Optional[str] = None
    message: Optional[str] = None
    stream: Optional[str] = None
    data: Optional[str] = None
    details: Optional[Dict[str, JsonValue]] = None


@attrs.define
class EnqueueTaskRequest:
    """The contract's EnqueueTaskRequest: a task's type, queue and payload."""

    type: str
    tenant_id: Optional[str] = _wire("tenantId")
    namespace: Optional[str] = None
    queue: Optional[str] = None
    payload: JsonValue = None
    lease_timeout_seconds: Optional[int] = None


@attrs.define
class AgentPollDirective:
    type: Literal["upgrade", "shutdown", "log_level", "poll_now", "attest"]
    image: Optional[str] = None
    expected_version: Optional[int] = _wire("expectedVersion")
    force: Optional[bool] = None
    log_level: Optional[str] = _wire("logLevel")
    subject: Optional[Literal["agent", "agent_helper"]] = None


@attrs.define
class PollTaskResponse:
    task: Optional[Task] = None
    directive: Optional[AgentPollDirective] = None


@attrs.define
class HeartbeatTaskRequest:
    lease_timeout_seconds: Optional[int] = None
    event: Optional[TaskEventInput] = None


@attrs.define
class AppendTaskEventRequest:
    event: TaskEventInput


@attrs.define
class CompleteTaskRequest:
    result: TaskResult


@attrs.define
class BlockTaskRequest:
    reason: Optional[str] = None


@attrs.define
class FailTaskRequest:
    error: str
    result: Optional[TaskResult] = None


# --------------------------------------------------------------------------- workflows


@attrs.define
class WorkflowExecution:
    """The contract's WorkflowExecution: one run, its state and result."""

    id: str
    run_id: str
    namespace: str
    type: str
    queue: str
    task_id: str
    state: WorkflowState
    created_at: datetime
    updated_at: datetime
    agent_id: Optional[str] = None
    tenant_id: Optional[str] = _wire("tenantId")
    attempt: Optional[int] = None
    run_timeout_ms: Optional[int] = None
    retry: Optional[RetryPolicy] = None
    memo: Optional[Dict[str, JsonValue]] = None
    search_attributes: Optional[Dict[str, JsonValue]] = None
    result: Optional[TaskResult] = None
    error: Optional[str] = None

    @property
    def status(self) -> str:
        """How the run stands or ended, in Temporal's words (one of ``WORKFLOW_STATUSES``): the
        wire keeps the contract's four states; a failed run is CANCELED, TERMINATED or TIMED_OUT
        when its failure says so (a run timeout: an activity's timeout that failed it is FAILED)."""
        if self.state != "failed":
            named = {"running": "RUNNING", "succeeded": "COMPLETED", "continued_as_new": "CONTINUED_AS_NEW"}
            return named.get(self.state, str(self.state).upper())  # a newer service's state, as it is
        failure = self.result.failure if self.result is not None else None
        kind = failure.type if failure is not None else None
        if kind == "TerminatedFailure" or (self.error or "").startswith("terminated"):
            return "TERMINATED"
        details = (failure.details if failure is not None else None) or []
        if kind == "TimeoutFailure" and not any(isinstance(d, dict) and d.get("timeout_type") for d in details):
            return "TIMED_OUT"
        return "CANCELED" if kind == "CancelledFailure" else "FAILED"


@attrs.define
class WorkflowHistoryEvent:
    """The contract's WorkflowHistoryEvent: one event of a run's history (docs/server.md lists them)."""

    id: str
    workflow_id: str
    type: str
    created_at: datetime
    tenant_id: Optional[str] = _wire("tenantId")
    task_id: Optional[str] = None
    attributes: Optional[Dict[str, JsonValue]] = None


@attrs.define
class WorkflowCountResponse:
    """The contract's WorkflowCountResponse."""

    count: int


@attrs.define
class SignalWorkflowRequest:
    name: str
    args: Optional[List[JsonValue]] = None
    #: extension ``headers`` (our service): what interceptors carry to the workflow's signal handler
    headers: Optional[Dict[str, JsonValue]] = None


@attrs.define
class SignalWithStartWorkflowRequest:
    """The contract's SignalWithStartWorkflowRequest."""

    workflow_type: str = attrs.field(metadata={"wire": "workflowType"})
    signal: SignalWorkflowRequest
    namespace: Optional[str] = None
    queue: Optional[str] = None
    workflow_id: Optional[str] = _wire("workflowId")
    workflow_id_reuse_policy: Optional[WorkflowIdReusePolicy] = _wire("workflowIdReusePolicy")
    lease_timeout_seconds: Optional[int] = None
    run_timeout_ms: Optional[int] = _wire("runTimeoutMs")
    retry: Optional[RetryPolicy] = None
    memo: Optional[Dict[str, JsonValue]] = None
    search_attributes: Optional[Dict[str, JsonValue]] = _wire("searchAttributes")
    args: Optional[List[JsonValue]] = None


@attrs.define
class SignalWithStartWorkflowResponse:
    """The contract's SignalWithStartWorkflowResponse: the run signalled (started if needed)."""

    workflow: WorkflowExecution
    task: Task
    signal: WorkflowHistoryEvent


@attrs.define
class CancelWorkflowRequest:
    """The contract's CancelWorkflowRequest (a reason)."""

    reason: Optional[str] = None


@attrs.define
class TerminateWorkflowRequest:
    """The contract's TerminateWorkflowRequest (a reason)."""

    reason: Optional[str] = None


# --------------------------------------------------------------------------- task payloads


@attrs.define
class WorkflowPayload:
    namespace: Optional[str] = None
    workflow_type: Optional[str] = _wire("workflowType")
    workflow_id: Optional[str] = _wire("workflowId")
    run_id: Optional[str] = _wire("runId")
    workflow_id_reuse_policy: Optional[WorkflowIdReusePolicy] = _wire("workflowIdReusePolicy")
    parent_workflow_id: Optional[str] = _wire("parentWorkflowId")
    parent_workflow_run_id: Optional[str] = _wire("parentWorkflowRunId")
    parent_workflow_task_id: Optional[str] = _wire("parentWorkflowTaskId")
    parent_cancellation_type: Optional[CancellationType] = _wire("parentCancellationType")
    continued_from_workflow_id: Optional[str] = _wire("continuedFromWorkflowId")
    run_timeout_ms: Optional[int] = _wire("runTimeoutMs")
    retry: Optional[RetryPolicy] = None
    memo: Optional[Dict[str, JsonValue]] = None
    search_attributes: Optional[Dict[str, JsonValue]] = _wire("searchAttributes")
    args: Optional[List[JsonValue]] = None


@attrs.define
class ActivityInvocationPayload:
    activity_type: Optional[str] = _wire("activityType")
    workflow_id: Optional[str] = _wire("workflowId")
    workflow_run_id: Optional[str] = _wire("workflowRunId")
    workflow_task_id: Optional[str] = _wire("workflowTaskId")
    attempt: Optional[int] = None
    cancellation_type: Optional[CancellationType] = _wire("cancellationType")
    #: ``non_cancellable`` shields the activity from workflow cancellation.
    cancellation_scope: Optional[str] = _wire("cancellationScope")
    retry: Optional[RetryPolicy] = None
    args: Optional[List[JsonValue]] = None
    #: the activity's timeouts in milliseconds (unset: none of that kind); the service enforces them
    start_to_close_timeout_ms: Optional[int] = _wire("startToCloseTimeoutMs")
    schedule_to_close_timeout_ms: Optional[int] = _wire("scheduleToCloseTimeoutMs")
    heartbeat_timeout_ms: Optional[int] = _wire("heartbeatTimeoutMs")
    schedule_to_start_timeout_ms: Optional[int] = _wire("scheduleToStartTimeoutMs")


#: an activity's timeout kinds (Temporal's names) -> the ActivityInvocationPayload field that sets each
ACTIVITY_TIMEOUT_FIELDS = {
    "START_TO_CLOSE": "start_to_close_timeout_ms",
    "SCHEDULE_TO_CLOSE": "schedule_to_close_timeout_ms",
    "HEARTBEAT": "heartbeat_timeout_ms",
    "SCHEDULE_TO_START": "schedule_to_start_timeout_ms",
}


def wire_name(cls: type, field: str) -> str:
    """The name a field of a wire class has on the wire."""
    return str(attrs.fields_dict(cls)[field].metadata.get("wire", field))


@attrs.define
class TimerPayload:
    timer_id: Optional[str] = _wire("timerId")
    duration_ms: Optional[int] = _wire("durationMs")
    fire_at: Optional[datetime] = _wire("fireAt")
    workflow_id: Optional[str] = _wire("workflowId")
    workflow_run_id: Optional[str] = _wire("workflowRunId")
    workflow_task_id: Optional[str] = _wire("workflowTaskId")
    cancellation_scope: Optional[str] = _wire("cancellationScope")


@attrs.define
class WorkflowQueryPayload:
    workflow_id: str = attrs.field(metadata={"wire": "workflowId"})
    query_name: str = attrs.field(metadata={"wire": "queryName"})
    workflow_type: Optional[str] = _wire("workflowType")
    args: Optional[List[JsonValue]] = None
    workflow_run_id: Optional[str] = _wire("workflowRunId")


@attrs.define
class WorkflowUpdatePayload:
    workflow_id: str = attrs.field(metadata={"wire": "workflowId"})
    update_name: str = attrs.field(metadata={"wire": "updateName"})
    workflow_type: Optional[str] = _wire("workflowType")
    args: Optional[List[JsonValue]] = None
    workflow_run_id: Optional[str] = _wire("workflowRunId")
    update_id: Optional[str] = _wire("updateId")


# --------------------------------------------------------------------------- namespaces, admin, sessions


@attrs.define
class Namespace:
    """The contract's Namespace."""

    name: str
    created_at: datetime
    updated_at: datetime
    tenant_id: Optional[str] = _wire("tenantId")


@attrs.define
class CreateNamespaceRequest:
    name: str
    tenant_id: Optional[str] = _wire("tenantId")


@attrs.define
class CompactRequest:
    retention_seconds: Optional[int] = None


@attrs.define
class CompactResponse:
    """The contract's CompactResponse: what a compaction removed."""

    removed_tasks: int
    removed_workflows: int


@attrs.define
class HealthResponse:
    status: str


@attrs.define
class ReadyResponse:
    status: str
    stats: Dict[str, int]


@attrs.define
class RefreshAgentSessionRequest:
    refresh_token: str = attrs.field(metadata={"wire": "refreshToken"})


@attrs.define
class AgentSessionResponse:
    agent_id: str = attrs.field(metadata={"wire": "agentId"})
    tenant_id: str = attrs.field(metadata={"wire": "tenantId"})
    token_family_id: str = attrs.field(metadata={"wire": "tokenFamilyId"})
    access_token: str = attrs.field(metadata={"wire": "accessToken"})
    refresh_token: str = attrs.field(metadata={"wire": "refreshToken"})
    access_expires_at: datetime = attrs.field(metadata={"wire": "accessExpiresAt"})
    refresh_expires_at: datetime = attrs.field(metadata={"wire": "refreshExpiresAt"})
    status: str
    trust_state: str = attrs.field(metadata={"wire": "trustState"})
    trust_reason: Optional[str] = _wire("trustReason")


@attrs.define
class ErrorResponse:
    error: str
    code: Optional[str] = None


__all__ = [
    "ACTIVITY_TIMEOUT_FIELDS",
    "wire_name",
    "INT64_MIN",
    "INT64_MAX",
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "TaskState",
    "TaskEventKind",
    "WorkflowState",
    "WorkflowIdReusePolicy",
    "ScheduleState",
    "ScheduleOverlapPolicy",
    "ScheduleMissedRunPolicy",
    "CancellationType",
    "CancellationScopeType",
    "JsonValue",
    "TASK_STATES",
    "TERMINAL_TASK_STATES",
    "WORKFLOW_STATES",
    "UPSERT_MARKER",
    "WORKFLOW_STATUSES",
    "REUSE_POLICIES",
    "CANCELLATION_TYPES",
    "TASK_EVENT_KINDS",
    "format_timestamp",
    "parse_timestamp",
    "FailureInfo",
    "ContinueAsNewResult",
    "TaskResult",
    "RetryPolicy",
    "Task",
    "TaskEventInput",
    "TaskEvent",
    "EnqueueTaskRequest",
    "AgentPollDirective",
    "PollTaskResponse",
    "HeartbeatTaskRequest",
    "AppendTaskEventRequest",
    "CompleteTaskRequest",
    "BlockTaskRequest",
    "FailTaskRequest",
    "WorkflowExecution",
    "WorkflowHistoryEvent",
    "WorkflowCountResponse",
    "SignalWorkflowRequest",
    "SignalWithStartWorkflowRequest",
    "SignalWithStartWorkflowResponse",
    "CancelWorkflowRequest",
    "TerminateWorkflowRequest",
    "WorkflowPayload",
    "ActivityInvocationPayload",
    "TimerPayload",
    "WorkflowQueryPayload",
    "WorkflowUpdatePayload",
    "Namespace",
    "CreateNamespaceRequest",
    "CompactRequest",
    "CompactResponse",
    "HealthResponse",
    "ReadyResponse",
    "RefreshAgentSessionRequest",
    "AgentSessionResponse",
    "ErrorResponse",
]
