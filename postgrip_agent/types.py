"""Wire types of the PostGrip Agent HTTP contract, as attrs classes.

Field names follow Python style; a field whose wire name differs (the contract mixes
snake_case and camelCase) carries its wire name in metadata, and the one private
converter (`_converter.py`) renames it both ways. Unset optionals are ``None`` and are omitted
on the wire. Unknown fields sent by a newer server are ignored when reading;
[`structure_strict()`][postgrip_agent.types.structure_strict] (used by the local service for request bodies) rejects them.
"""

from __future__ import annotations

from . import _wire, _wire_schedules
from ._converter import describe_structure_error as describe_structure_error
from ._converter import from_json as from_json
from ._converter import structure_as as structure_as
from ._converter import structure_strict as structure_strict
from ._converter import to_json as to_json
from ._wire import (  # the public names, re-exported
    ACTIVITY_TIMEOUT_FIELDS as ACTIVITY_TIMEOUT_FIELDS,
    wire_name as wire_name,
    INT64_MIN as INT64_MIN,
    INT64_MAX as INT64_MAX,
    EARLIEST_TIMESTAMP as EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP as LATEST_TIMESTAMP,
    TaskState as TaskState,
    TaskEventKind as TaskEventKind,
    WorkflowState as WorkflowState,
    WorkflowIdReusePolicy as WorkflowIdReusePolicy,
    ScheduleState as ScheduleState,
    ScheduleOverlapPolicy as ScheduleOverlapPolicy,
    ScheduleMissedRunPolicy as ScheduleMissedRunPolicy,
    CancellationType as CancellationType,
    CancellationScopeType as CancellationScopeType,
    JsonValue as JsonValue,
    TASK_STATES as TASK_STATES,
    TERMINAL_TASK_STATES as TERMINAL_TASK_STATES,
    WORKFLOW_STATES as WORKFLOW_STATES,
    UPSERT_MARKER as UPSERT_MARKER,
    WORKFLOW_STATUSES as WORKFLOW_STATUSES,
    REUSE_POLICIES as REUSE_POLICIES,
    CANCELLATION_TYPES as CANCELLATION_TYPES,
    TASK_EVENT_KINDS as TASK_EVENT_KINDS,
    format_timestamp as format_timestamp,
    parse_timestamp as parse_timestamp,
    FailureInfo as FailureInfo,
    ContinueAsNewResult as ContinueAsNewResult,
    TaskResult as TaskResult,
    RetryPolicy as RetryPolicy,
    Task as Task,
    TaskEventInput as TaskEventInput,
    TaskEvent as TaskEvent,
    EnqueueTaskRequest as EnqueueTaskRequest,
    AgentPollDirective as AgentPollDirective,
    PollTaskResponse as PollTaskResponse,
    HeartbeatTaskRequest as HeartbeatTaskRequest,
    AppendTaskEventRequest as AppendTaskEventRequest,
    CompleteTaskRequest as CompleteTaskRequest,
    BlockTaskRequest as BlockTaskRequest,
    FailTaskRequest as FailTaskRequest,
    WorkflowExecution as WorkflowExecution,
    WorkflowHistoryEvent as WorkflowHistoryEvent,
    WorkflowCountResponse as WorkflowCountResponse,
    SignalWorkflowRequest as SignalWorkflowRequest,
    SignalWithStartWorkflowRequest as SignalWithStartWorkflowRequest,
    SignalWithStartWorkflowResponse as SignalWithStartWorkflowResponse,
    CancelWorkflowRequest as CancelWorkflowRequest,
    TerminateWorkflowRequest as TerminateWorkflowRequest,
    WorkflowPayload as WorkflowPayload,
    ActivityInvocationPayload as ActivityInvocationPayload,
    TimerPayload as TimerPayload,
    WorkflowQueryPayload as WorkflowQueryPayload,
    WorkflowUpdatePayload as WorkflowUpdatePayload,
    Namespace as Namespace,
    CreateNamespaceRequest as CreateNamespaceRequest,
    CompactRequest as CompactRequest,
    CompactResponse as CompactResponse,
    HealthResponse as HealthResponse,
    ReadyResponse as ReadyResponse,
    RefreshAgentSessionRequest as RefreshAgentSessionRequest,
    AgentSessionResponse as AgentSessionResponse,
    ErrorResponse as ErrorResponse,
)
from ._wire_schedules import (  # the public names, re-exported
    ScheduleCalendarSpec as ScheduleCalendarSpec,
    ScheduleSpec as ScheduleSpec,
    ScheduleAction as ScheduleAction,
    Schedule as Schedule,
    CreateScheduleRequest as CreateScheduleRequest,
    UpdateScheduleRequest as UpdateScheduleRequest,
    PauseScheduleRequest as PauseScheduleRequest,
    UnpauseScheduleRequest as UnpauseScheduleRequest,
    TriggerScheduleRequest as TriggerScheduleRequest,
    TriggerScheduleResponse as TriggerScheduleResponse,
    BackfillScheduleRequest as BackfillScheduleRequest,
    BackfillScheduleResponse as BackfillScheduleResponse,
)

__all__ = [
    *_wire.__all__,
    *_wire_schedules.__all__,
    "describe_structure_error",
    "from_json",
    "structure_as",
    "structure_strict",
    "to_json",
]
